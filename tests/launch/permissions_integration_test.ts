/**
 * The task scripts under their own permission sets (`deno run -q -P=<set>`,
 * exactly as the tasks run them) do their job and are refused what their
 * set does not name. Uses the local stack.
 */
import assert from "node:assert/strict";
import { exists } from "@cryptocandles/runtime";
import { cleanupLater, freePort, uniqueName, waitFor } from "../support.ts";

/** A host no set names (TEST-NET-1: never routed). */
const FOREIGN = "192.0.2.1";

interface Run {
  child: Deno.ChildProcess;
  lines: string[];
  /** The exit code, once its output is read to the end. */
  exited: Promise<number>;
}

/** `deno run -q -P=<name> scripts/<name>.ts …args` with `env` (and PATH) only. */
function run(
  name: string,
  args: string[],
  env: Record<string, string>,
): Run {
  const child = new Deno.Command("deno", {
    args: ["run", "-q", `-P=${name}`, `scripts/${name}.ts`, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const read = async (stream: ReadableStream<Uint8Array>) => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (buffer + chunk).split("\n");
      buffer = parts.pop()!;
      lines.push(...parts);
    }
    if (buffer) lines.push(buffer);
  };
  const exited = Promise.all([read(child.stdout), read(child.stderr)]).then(
    async () => (await child.status).code,
  );
  return { child, lines, exited };
}

/** Waits up to `timeoutMs` for the run to end by itself; the exit code. */
async function ended(r: Run, timeoutMs = 60_000): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still running:\n${r.lines.join("\n")}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([r.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stops a run with SIGINT; its exit code. */
async function interrupt(r: Run): Promise<number> {
  try {
    r.child.kill("SIGINT");
  } catch { /* ended already */ }
  return await ended(r, 30_000);
}

/** Deno's refusal (`Requires <kind> access to "<what>"`) or the skeleton's one line for it. */
function refusal(kind: "net" | "write", what: string): RegExp {
  const quoted = what.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const verb = kind === "net" ? "reach" : "write";
  return new RegExp(
    `Requires ${kind} access to "${quoted}"|not allowed to ${verb} ${quoted}`,
  );
}

/** Prints the first line of a run that matches, as evidence in the test output. */
function show(r: Run, pattern: RegExp): void {
  console.log(r.lines.find((l) => pattern.test(l)));
}

const topic = uniqueName("t-perm");

Deno.test("the producer under its set records under recordings/, and is refused a RECORD_FILE outside it", async () => {
  const schema = run("setup-schema", [], { KAFKA_TOPIC: topic });
  assert.equal(await ended(schema), 0, schema.lines.join("\n"));

  const outside = await Deno.makeTempDir({ prefix: "record-outside-" });
  const refused = `${outside}/ticks.jsonl`;
  const env = {
    KAFKA_TOPIC: topic,
    SOURCE: "synthetic",
    SYNTHETIC_RATE: "20",
  };
  try {
    const denied = run("producer", [], { ...env, RECORD_FILE: refused });
    const code = await ended(denied);
    const text = denied.lines.join("\n");
    assert.notEqual(code, 0, text);
    assert.match(text, refusal("write", refused));
    show(denied, refusal("write", refused));
    assert.equal(await exists(refused), false, "nothing was written");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }

  const allowed = `recordings/${uniqueName("perm")}.jsonl`;
  const producer = run("producer", [], { ...env, RECORD_FILE: allowed });
  try {
    const lines = await waitFor(
      "the producer to record 8 ticks",
      async () => {
        const text = await Deno.readTextFile(allowed).catch(() => "");
        const lines = text.split("\n").filter((l) => l.trim() !== "");
        return lines.length >= 8 && lines;
      },
      { timeoutMs: 30_000 },
    ).catch((error) => {
      throw new Error(`${error.message}:\n${producer.lines.join("\n")}`);
    });
    assert.ok(lines.every((l) => typeof JSON.parse(l).nombre === "string"));
    assert.equal(await interrupt(producer), 0, producer.lines.join("\n"));
  } finally {
    await interrupt(producer).catch(() => {});
    await Deno.remove(allowed).catch(() => {});
  }
});

Deno.test("the chart under its set is refused a registry host and a listening address that are not configured", async () => {
  await using _cleanup = cleanupLater([topic]);
  const registry = `${FOREIGN}:8081`;
  const chart = run("chart", [], {
    KAFKA_TOPIC: topic,
    SCHEMA_REGISTRY_URL: `http://${registry}/apis/ccompat/v7`,
    CHART_PORT: String(freePort()),
  });
  try {
    // The topic holds the producer's records: decoding one needs the registry.
    await waitFor(
      "the chart to be refused the registry",
      () => chart.lines.some((l) => refusal("net", registry).test(l)),
      { timeoutMs: 60_000 },
    ).catch((error) => {
      throw new Error(`${error.message}:\n${chart.lines.join("\n")}`);
    });
    show(chart, refusal("net", registry));
  } finally {
    await interrupt(chart);
  }

  const port = freePort();
  const listen = run("chart", [], {
    KAFKA_TOPIC: topic,
    CHART_HOST: FOREIGN,
    CHART_PORT: String(port),
  });
  const code = await ended(listen);
  const text = listen.lines.join("\n");
  assert.notEqual(code, 0, text);
  assert.match(text, refusal("net", `${FOREIGN}:${port}`));
  show(listen, refusal("net", `${FOREIGN}:${port}`));
});

Deno.test("the consumer under its set does not see another script's variable, and is refused an InfluxDB host that is not configured", async () => {
  // GRAFANA_USER without GRAFANA_PASSWORD is a configuration error for
  // seed-grafana, whose variable it is (exit 2)…
  const env = {
    GRAFANA_USER: "admin",
    INFLUX_HOST: `http://${FOREIGN}:8181`,
    KAFKA_TOPIC: topic,
    CONSUMER_GROUP: uniqueName("g-perm"),
  };
  const seed = run("seed-grafana", [], env);
  assert.equal(await ended(seed), 2, seed.lines.join("\n"));
  assert.match(seed.lines.join("\n"), /GRAFANA_USER and GRAFANA_PASSWORD/);

  // …while the consumer's set does not name it: it reads as unset, the
  // configuration is fine, and the consumer goes on to InfluxDB, which its
  // set does not let it reach.
  const consumer = run("consumer", [], env);
  try {
    await waitFor(
      "the consumer to be refused InfluxDB",
      () =>
        consumer.lines.some((l) => refusal("net", `${FOREIGN}:8181`).test(l)),
      { timeoutMs: 30_000 },
    ).catch((error) => {
      throw new Error(`${error.message}:\n${consumer.lines.join("\n")}`);
    });
    assert.doesNotMatch(consumer.lines.join("\n"), /GRAFANA/);
    show(consumer, refusal("net", `${FOREIGN}:8181`));
  } finally {
    await interrupt(consumer);
  }
});
