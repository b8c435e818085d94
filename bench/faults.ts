/**
 * `deno task faults [--rows=R1,R4]`: what the pipeline loses when a part
 * fails. Each row (bench/faults/rows.ts) runs the real scripts against a
 * private 3-broker stack with its registry (a copy of this project on free
 * 127.0.0.1 ports: a running local stack is never touched) and the InfluxDB
 * double (acknowledging on Core's WAL flush), breaks one thing, repairs it,
 * and counts by independent means: records read back with kcat (librdkafka),
 * points queried back with SQL. Prints the table and writes
 * bench/faults.json (rows of an earlier run that were not re-run are kept).
 * Not part of `deno task test`; bounded: every wait has a deadline, the
 * whole run takes about 20 minutes.
 *
 * Targets: 0 missing and 0 extra points, 0 Kafka duplicates in every row.
 *
 * @module
 */
import { runCommand } from "@cryptocandles/runtime";
import { type FaultRow, faultsTable, NO_COUNTS } from "./faults/counts.ts";
import { openRig } from "./faults/rig.ts";
import { ROWS } from "./faults/rows.ts";
import { ensureVenv } from "../tests/venv.ts";

const OUT = new URL("./faults.json", import.meta.url);
const LOGS = ".stack/faults-logs"; // beside the stack's own logs, ignored by git
const only = Deno.args.find((a) => a.startsWith("--rows="))?.slice(7)
  .split(",");
const unknown = only?.filter((id) => !ROWS.some((r) => r.id === id));
if (unknown?.length) {
  console.error(
    `error: --rows names unknown rows: ${unknown.join(", ")} (rows: ${
      ROWS.map((r) => r.id).join(", ")
    })`,
  );
  Deno.exit(2);
}
if (!(await runCommand("kcat", ["-V"]).then(() => true, () => false))) {
  console.error(
    "error: kcat is missing: the rows read Kafka back with it (apt-get install kcat, brew install kcat)",
  );
  Deno.exit(1);
}
await ensureVenv((m) => console.log(`faults: ${m}`));

const rows: FaultRow[] = [];
{
  await using rig = await openRig(200);
  // Ctrl-C: the row's scripts and the private stack go too.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, async () => {
      rig.say(`${signal}: stopping the scripts and the private stack`);
      for (const list of rig.scripts.values()) {
        for (const p of list) p.kill("SIGKILL");
      }
      await rig[Symbol.asyncDispose]();
      Deno.exit(130);
    });
  }
  for (const spec of ROWS.filter((r) => !only || only.includes(r.id))) {
    rig.say(`${spec.id}: ${spec.title}`);
    const started = Date.now();
    try {
      const result = await spec.run(rig);
      const { notInKafka = 0, ...counts } = result.counts as
        & typeof result.counts
        & { notInKafka?: number };
      const lost = notInKafka > 0
        ? [`${notInKafka} acknowledged records are not in Kafka`]
        : [];
      const failed = [...lost, ...result.failed];
      const row: FaultRow = {
        id: spec.id,
        ...counts,
        note: [result.note, ...failed.map((f) => `FAILED: ${f}`)].join("; "),
        seconds: Math.round((Date.now() - started) / 1000),
        ok: failed.length === 0 && counts.missing === 0 &&
          counts.extra === 0 && counts.kafkaDuplicates === 0,
      };
      rows.push(row);
      rig.say(`${spec.id}: ${JSON.stringify(row)}`);
    } catch (error) {
      rows.push({
        id: spec.id,
        ...NO_COUNTS,
        note: `FAILED: ${(error as Error).message.split("\n")[0]}`,
        seconds: Math.round((Date.now() - started) / 1000),
        ok: false,
      });
      rig.say(`${spec.id} failed: ${(error as Error).stack}`);
    }
    const files = await rig.saveLogs(spec.id, LOGS);
    if (files.length > 0) {
      rig.say(`${spec.id}: script logs in ${LOGS}/${spec.id}-*.log`);
    }
  }
}

const earlier: FaultRow[] = await Deno.readTextFile(OUT)
  .then((t) => JSON.parse(t).rows, () => []);
const merged = ROWS.map((r) =>
  rows.find((x) => x.id === r.id) ?? earlier.find((x) => x.id === r.id)
).filter((r): r is FaultRow => r !== undefined);
await Deno.writeTextFile(
  OUT,
  JSON.stringify(
    {
      ran: new Date().toISOString(),
      machine: { cpus: navigator.hardwareConcurrency, deno: Deno.version.deno },
      titles: Object.fromEntries(ROWS.map((r) => [r.id, r.title])),
      rows: merged,
    },
    null,
    2,
  ) + "\n",
);
console.log(`\n${faultsTable(merged)}\n`);
console.log(`wrote ${OUT.pathname}`);
Deno.exit(rows.every((r) => r.ok) ? 0 : 1);
