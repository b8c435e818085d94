/**
 * `deno task bench [--quick] [--only=P1,P3] [--compare] [--cpu-prof]`: our
 * pipeline's speed and memory on the local 3-broker stack, each figure next
 * to a reference measured in the same run on the same cluster. Prints a
 * table; writes bench/results.json (full run) or bench/results.partial.json
 * (--quick or --only), figures as numbers with units plus the machine, the
 * versions and the date (shape: {@linkcode BenchResults}).
 *
 * - P1 producer: scripts/producer.ts (synthetic → Avro wire format → kafkajs,
 *   acks=all, idempotent) in records/s, vs Java ProducerPerformance with the
 *   same record size, acks=all, idempotence on. Target ≥ 0.5 × Java.
 * - P2 sink backfill: a pre-filled topic consumed by scripts/consumer.ts into
 *   the InfluxDB double (WAL flush every second), points/s, vs Java
 *   ConsumerPerformance on the same topic. Target ≥ 100k points/s.
 * - P2d (with P2): the same topic, consumed by another group into a sink that
 *   only reads the bodies and answers 204 (bench/drain_sink.ts): the
 *   consumer's own ceiling, with P2's rate beside it.
 * - P3 latency at live rate (4 coins × 5 ticks/s): event time → point
 *   acknowledged by the InfluxDB double, which acknowledges a write only
 *   after its WAL flush as InfluxDB 3 Core does; p50/p99 (the consumer
 *   measures it), once at Core's default flush interval (1 s, row P3) and
 *   once at the local stack's (`WAL_FLUSH_INTERVAL`, row P3s). Target p99 ≤
 *   the flush interval + 50 ms.
 * - P6 / P6w launch → first candle on the chart page, cold (nothing running,
 *   jars present) and warm (stack up), on a private stack of its own with the
 *   Bitfinex, InfluxDB and Grafana doubles (bench/first_candle.ts). Targets
 *   ≤ 30 s cold, ≤ 10 s warm.
 * - P4 resident memory of producer, consumer and chart, sampled every
 *   minute (and at the end) through P3's live run, which lasts 30 minutes
 *   (a soak): the peak of each against producer ≤ 80 MB, consumer ≤ 100
 *   MB, chart ≤ 100 MB, and each one's slope in MB per 10 minutes (least
 *   squares over the samples) so a leak shows; the curve is the row's
 *   `series`.
 * - P5 (with P3) latency tick → candle on the chart page: the page open in
 *   headless Chromium through P3's run (bench/page_latency.ts), p50/p99 of
 *   the page's own measure after a warm-up. Target p99 ≤ 250 ms.
 *
 * `--compare` runs, then prints each figure's change against the committed
 * bench/results.json (read before the run, which a full run overwrites);
 * `--compare=FILE` runs nothing and compares FILE with it. `--cpu-prof`
 * runs P2's consumer under V8's CPU profiler (bench/profiles/) and prints
 * its top functions by self time.
 *
 * @module
 */
import { createLogger, exists, runCommand } from "@cryptocandles/runtime";
import { loadConfig } from "@cryptocandles/config";
import { permissionsFor, type ScriptName } from "@cryptocandles/launch";
import {
  ensureJdk,
  stackDown,
  stackUp,
  WAL_FLUSH_INTERVAL,
} from "@cryptocandles/launch";
import { type LogEvent, runOnce, supervise } from "@cryptocandles/launch";
import { delay } from "@cryptocandles/runtime";
import { startInfluxDouble } from "../tests/doubles/influx_double.ts";
import { waitFor } from "../tests/support.ts";
import { ensureVenv } from "../tests/venv.ts";
import {
  type BenchResults,
  type BenchRow,
  compareResults,
  formatComparison,
  formatValue,
  parseResults,
  seriesSlope,
} from "./compare.ts";
import { drainRate, startDrainSink } from "./drain_sink.ts";
import { firstCandleRows } from "./first_candle.ts";
import {
  CHROMIUM,
  type PageLatencyResult,
  summarise,
  watchPageLatency,
} from "./page_latency.ts";
import { type CpuProfile, formatSelfTime, topSelfTime } from "./profile.ts";

const log = createLogger("bench");
const BASE = "bench/results.json";
const ROW_IDS = ["P1", "P2", "P2d", "P3", "P3s", "P4", "P5", "P6", "P6w"];
const flags = parseFlags(Deno.args);
if (flags.compareFile) {
  printComparison(
    await readResults(BASE),
    await readResults(flags.compareFile),
    flags.compareFile,
  );
  Deno.exit(0);
}
const { quick, only, cpuProf } = flags;
const wants = (id: string) => !only || only.includes(id);
const SIZES = quick
  ? {
    p1Seconds: 12,
    p1JavaRecords: 100_000,
    p2Records: 20_000,
    liveSeconds: { P3: 45, P3s: 45 } as Record<string, number>,
    memoryEverySeconds: 15,
  }
  : {
    p1Seconds: 30,
    p1JavaRecords: 500_000,
    p2Records: 200_000,
    // P3's run is P4's soak and P5's page
    liveSeconds: { P3: 1_800, P3s: 300 } as Record<string, number>,
    memoryEverySeconds: 60,
  };
const LIVE = ["P3", "P3s", "P4", "P5"];
const CHART_PORT = 8099;
/** P5's target: p99 of tick → candle on the page, ms. */
const PAGE_P99_MS = 250;
/** P5's samples of the page's first seconds after its first update are left out (the chart catching up). */
const PAGE_WARMUP_MS = 5_000;
/** P4's targets: the peak resident memory of each, MB. */
const MEMORY_MB = { producer: 80, consumer: 100, chart: 100 };
const BROKERS = "127.0.0.1:19090,127.0.0.1:19091,127.0.0.1:19092";
const RECORD_SIZE = 98; // bytes of one v2 value in the wire format (measured)
const P2_FLUSH_MS = 1000; // the double's default, InfluxDB 3 Core's

const base = flags.compare ? await readResults(BASE) : undefined;
/** The stack's JDK (.stack/jdk, the one path the bench set may run), for Kafka's own tools. */
const JAVA = await preflight().catch((error: Error) => {
  log.error(error.message);
  return Deno.exit(2);
});
const machineAndVersions = await environment(JAVA);
const started = await stackUp({ log });
const run = Date.now();
const results: BenchResults = {
  schema: 2,
  date: new Date(run).toISOString(),
  quick,
  only: only ?? null,
  ...machineAndVersions,
  rows: [],
};
const rows = results.rows;
let profileLines: string[] = [];
try {
  if (wants("P1")) await p1Producer();
  if (wants("P2") || wants("P2d")) await p2Backfill();
  if (LIVE.some(wants)) {
    await p3p4Live("P3", 1_000);
    await p3p4Live("P3s", flushMs(WAL_FLUSH_INTERVAL));
  }
} finally {
  if (started.length > 0) await stackDown({ log });
}
if (wants("P6") || wants("P6w")) {
  // launch → first candle on the chart page, on a private stack of its own
  const runs = [
    ...(wants("P6") ? ["cold" as const] : []),
    ...(wants("P6w") ? ["warm" as const] : []),
  ];
  rows.push(...await firstCandleRows({ runs, log: (line) => log.info(line) }));
}
console.log(table(rows));
const saved = quick || only ? "bench/results.partial.json" : BASE;
await Deno.writeTextFile(saved, JSON.stringify(results, null, 2) + "\n");
log.info(`wrote ${saved}`);
if (base) {
  console.log("");
  printComparison(base, results, "this run");
}
if (profileLines.length > 0) console.log(["", ...profileLines].join("\n"));

async function p1Producer(): Promise<void> {
  const topic = `bench-p1-${run}`;
  await script("setup-schema", { KAFKA_TOPIC: topic });
  const events = await runFor("producer", {
    KAFKA_TOPIC: topic,
    SOURCE: "synthetic",
    SYNTHETIC_RATE: "0",
  }, SIZES.p1Seconds);
  const stats = events.filter((e) => typeof e.acked === "object");
  const total = (e: LogEvent) =>
    Object.values(e.acked as Record<string, number>).reduce((a, b) => a + b, 0);
  const [first, last] = [stats[0], stats.at(-1)!];
  const ours = (total(last) - total(first)) /
    ((Date.parse(String(last.time)) - Date.parse(String(first.time))) / 1000);
  const javaTopic = `bench-p1-java-${run}`;
  await script("setup-schema", { KAFKA_TOPIC: javaTopic });
  const out = await java("org.apache.kafka.tools.ProducerPerformance", [
    "--topic",
    javaTopic,
    "--num-records",
    String(SIZES.p1JavaRecords),
    "--record-size",
    String(RECORD_SIZE),
    "--throughput",
    "-1",
    "--producer-props",
    `bootstrap.servers=${BROKERS}`,
    "acks=all",
    "enable.idempotence=true",
  ]);
  const reference = Number(
    /records sent, ([\d.]+) records\/sec/.exec(
      out.split("\n").findLast((l) => l.includes("records sent")) ?? "",
    )?.[1],
  );
  rows.push({
    id: "P1",
    what:
      `producer (${RECORD_SIZE} B values, acks=all, idempotent, RF 3 / min ISR 2)`,
    setup: {
      seconds: SIZES.p1Seconds,
      recordBytes: RECORD_SIZE,
      javaRecords: SIZES.p1JavaRecords,
    },
    figures: [
      { name: "producer", value: n(ours), unit: "records/s", better: "higher" },
      {
        name: "Java ProducerPerformance",
        value: n(reference),
        unit: "records/s",
        better: "higher",
        reference: true,
      },
    ],
    target: "≥ 0.5 × Java",
    met: ours >= 0.5 * reference,
  });
}

/** P2 into the InfluxDB double, then P2d on the same topic into the drain sink. */
async function p2Backfill(): Promise<void> {
  const topic = `bench-p2-${run}`;
  await script("setup-schema", { KAFKA_TOPIC: topic });
  await fill(topic, SIZES.p2Records);
  const count = await topicCount(topic);
  const out = await java("org.apache.kafka.tools.ConsumerPerformance", [
    "--bootstrap-server",
    BROKERS,
    "--topic",
    topic,
    "--messages",
    String(count),
    "--group",
    `bench-java-${run}`,
    "--timeout",
    "60000",
  ]);
  const dataLine = out.trim().split("\n").findLast((l) => /^\d{4}-/.test(l)) ??
    "";
  const reference = Number(dataLine.split(",")[5]);
  await using influx = await startInfluxDouble({
    walFlushIntervalMs: P2_FLUSH_MS,
  });
  const env = {
    KAFKA_TOPIC: topic,
    CONSUMER_GROUP: `bench-p2-${run}`,
    INFLUX_HOST: influx.url,
    INFLUX_TOKEN: influx.token ?? "",
  };
  const profile = `consumer-P2-${run}.cpuprofile`;
  if (cpuProf) await Deno.mkdir("bench/profiles", { recursive: true });
  const consumer = supervise(
    withArgs(
      spec("consumer", env),
      cpuProf
        ? [
          "--cpu-prof",
          "--cpu-prof-dir=bench/profiles",
          `--cpu-prof-name=${profile}`,
        ]
        : [],
    ),
    { log, print: () => {} },
  );
  const watch = watchProcess(consumer.pid);
  let firstAt = 0;
  let points = 0;
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    points = (await influx.control("stats")).points;
    if (points > 0 && firstAt === 0) firstAt = Date.now();
    if (points >= count) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const ours = points / ((Date.now() - firstAt) / 1000);
  const use = await watch.stop(firstAt);
  await consumer.stop();
  if (cpuProf) {
    profileLines = await summariseProfile(`bench/profiles/${profile}`);
  }
  const setup = {
    minRecords: SIZES.p2Records,
    walFlushIntervalMs: P2_FLUSH_MS,
    ...(cpuProf ? { cpuProfile: 1 } : {}),
  };
  rows.push({
    id: "P2",
    what: `sink backfill of ${
      formatValue(count)
    } records into the InfluxDB double (WAL flush every ${P2_FLUSH_MS} ms)`,
    setup,
    figures: [
      { name: "consumer", value: n(ours), unit: "points/s", better: "higher" },
      { name: "backlog", value: count, unit: "records" },
      ...usageFigures(use),
      {
        name: "Java ConsumerPerformance, read only",
        value: n(reference),
        unit: "records/s",
        better: "higher",
        reference: true,
      },
    ],
    target: "≥ 100k points/s, consumer peak RSS ≤ 100 MB",
    met: ours >= 100_000 && use.peakMb <= 100,
  });
  await p2dDrain(topic, count, ours);
}

/** P2d: the consumer alone, into a sink that drains the bodies and answers 204. */
async function p2dDrain(
  topic: string,
  count: number,
  intoDouble: number,
): Promise<void> {
  await using sink = startDrainSink();
  const consumer = supervise(
    spec("consumer", {
      KAFKA_TOPIC: topic,
      CONSUMER_GROUP: `bench-p2d-${run}`,
      INFLUX_HOST: sink.url,
      INFLUX_TOKEN: "",
    }),
    { log, print: () => {} },
  );
  const watch = watchProcess(consumer.pid);
  let use: Usage = { peakMb: NaN, cpuShare: NaN };
  try {
    await waitFor(
      `the drain sink to take ${count} points`,
      () => sink.stats().points >= count,
      { timeoutMs: 300_000, everyMs: 100 },
    );
  } catch (error) {
    log.warn(`P2d: ${(error as Error).message}`);
  } finally {
    use = await watch.stop(sink.stats().firstAt ?? 0);
    await consumer.stop();
  }
  const ours = drainRate(sink.stats());
  rows.push({
    id: "P2d",
    what: `the consumer's own ceiling: the same ${
      formatValue(count)
    } records into a sink that only drains the bodies and answers 204`,
    setup: { minRecords: SIZES.p2Records },
    figures: [
      { name: "consumer", value: n(ours), unit: "points/s", better: "higher" },
      ...usageFigures(use),
      {
        name: "P2 into the InfluxDB double",
        value: n(intoDouble),
        unit: "points/s",
        better: "higher",
        reference: true,
      },
    ],
    target: "–",
    met: null,
  });
}

/**
 * P3 (and P4, P5 with the first run): the live pipeline for `liveSeconds`,
 * the double acknowledging writes every `walFlushIntervalMs`. In P3's run
 * the chart page is open in Chromium (P5) and the three processes'
 * resident memory is sampled every `memoryEverySeconds` and at the end
 * (P4).
 */
async function p3p4Live(id: string, walFlushIntervalMs: number): Promise<void> {
  const topic = `bench-live-${id}-${run}`;
  const seconds = SIZES.liveSeconds[id];
  const first = id === "P3";
  await script("setup-schema", { KAFKA_TOPIC: topic });
  await using influx = await startInfluxDouble({ walFlushIntervalMs });
  const env = {
    KAFKA_TOPIC: topic,
    CONSUMER_GROUP: `bench-live-${id}-${run}`,
    INFLUX_HOST: influx.url,
    INFLUX_TOKEN: influx.token ?? "",
    SOURCE: "synthetic",
    SYNTHETIC_RATE: "5",
    CHART_PORT: String(CHART_PORT),
  };
  const consumerEvents: LogEvent[] = [];
  const consumer = supervise(spec("consumer", env), {
    log,
    print: () => {},
    onEvent: (_n, e) => consumerEvents.push(e),
  });
  const chart = supervise(spec("chart", env), { log, print: () => {} });
  const producer = supervise(spec("producer", env), { log, print: () => {} });
  const startedAt = Date.now();
  const page = first
    ? watchPageLatency(`http://127.0.0.1:${CHART_PORT}/?interval=1m`, {
      warmupMs: PAGE_WARMUP_MS,
    })
    : undefined;
  page?.ready.then(
    () => log.info("P5: the chart page is live in Chromium"),
    () => {}, // stop() says why
  );
  const memory: Record<string, number | null>[] = [];
  let pageResult: PageLatencyResult | undefined;
  try {
    // A measurement's duration, not a wait for a condition: sample memory
    // every memoryEverySeconds until the end of the run, then once more.
    const sample = () => memorySample(startedAt, { producer, consumer, chart });
    const every = SIZES.memoryEverySeconds * 1000;
    const deadline = startedAt + seconds * 1000;
    for (let at = startedAt + every; first && at < deadline; at += every) {
      await delay(Math.max(0, at - Date.now()));
      memory.push(await sample());
    }
    await delay(Math.max(0, deadline - Date.now()));
    if (first) memory.push(await sample());
  } finally {
    pageResult = await page?.stop();
    await producer.stop();
    await delay(6000); // the consumer writes what is left
    await chart.stop();
    await consumer.stop();
  }
  const latency = consumerEvents.findLast((e) => e.latencyMs)?.latencyMs as
    | { p50: number; p99: number }
    | undefined;
  const ticks = Object.values(
    (consumerEvents.findLast((e) => e.written)?.written ?? {}) as Record<
      string,
      number
    >,
  ).reduce((a, b) => a + b, 0);
  const p99 = n(latency?.p99 ?? NaN);
  rows.push({
    id,
    what:
      `latency tick → point durable (flush every ${walFlushIntervalMs} ms), 4 coins × 5/s, ${
        formatValue(ticks)
      } ticks`,
    setup: {
      walFlushIntervalMs,
      seconds,
      coins: 4,
      ticksPerSecondPerCoin: 5,
    },
    figures: [
      {
        name: "p50",
        value: n(latency?.p50 ?? NaN),
        unit: "ms",
        better: "lower",
      },
      { name: "p99", value: p99, unit: "ms", better: "lower" },
      { name: "sample", value: ticks, unit: "ticks" },
    ],
    target: `p99 ≤ ${walFlushIntervalMs + 50} ms`,
    met: p99 !== null && p99 <= walFlushIntervalMs + 50,
  });
  if (!first) return;
  rows.push(p4Row(seconds, memory));
  rows.push(p5Row(seconds, pageResult!));
}

/** Resident memory of the live run's processes now, MB, at `minute` since it began. */
async function memorySample(
  startedAt: number,
  processes: Record<"producer" | "consumer" | "chart", { pid?: number }>,
): Promise<Record<string, number | null>> {
  const sample: Record<string, number | null> = {
    minute: Math.round((Date.now() - startedAt) / 600) / 100,
  };
  for (const [name, child] of Object.entries(processes)) {
    sample[name] = n(await rssMb(child.pid));
  }
  return sample;
}

/** P4: each process's peak and slope over the soak's samples. */
function p4Row(seconds: number, memory: Record<string, number | null>[]) {
  const names = ["producer", "consumer", "chart"] as const;
  const peak = (name: string) =>
    n(Math.max(...memory.map((m) => m[name] ?? NaN)));
  const slope = (name: string) => {
    const mbPer10Min = seriesSlope(memory, name);
    return mbPer10Min === null ? null : Math.round(mbPer10Min * 10) / 10;
  };
  const peaks = Object.fromEntries(names.map((name) => [name, peak(name)]));
  return {
    id: "P4",
    what:
      `resident memory over ${seconds} s at live rate (peak of ${memory.length} samples every ${SIZES.memoryEverySeconds} s and at the end; slope: least squares, MB per 10 min)`,
    setup: { seconds, sampleEverySeconds: SIZES.memoryEverySeconds },
    figures: [
      ...names.map((name) => ({
        name,
        value: peaks[name],
        unit: "MB",
        better: "lower" as const,
      })),
      ...names.map((name) => ({
        name: `${name} slope`,
        value: slope(name),
        unit: "MB/10 min",
        better: "lower" as const,
      })),
    ],
    target: names.map((name) => `${name} ≤ ${MEMORY_MB[name]}`).join(", "),
    met: names.every((name) =>
      peaks[name] !== null && peaks[name] <= MEMORY_MB[name]
    ),
    series: memory,
  } satisfies BenchRow;
}

/** P5: tick → candle on the page, from what the page measured. */
function p5Row(seconds: number, page: PageLatencyResult): BenchRow {
  if (page.error) log.warn(`P5: ${page.error}`);
  if (page.fullReads > 0) {
    log.warn(
      `P5: ${page.fullReads} reads of the page found its 500 samples full: some may be lost`,
    );
  }
  log.info(
    `P5: ${page.warmupSamples} samples of the warm-up left out (max ${
      formatValue(page.warmupMaxMs)
    } ms)`,
  );
  const { count, p50, p99 } = summarise(page.samples);
  return {
    id: "P5",
    what:
      `latency tick → candle on the chart page in headless Chromium, 1 coin × 5/s, ${
        formatValue(count)
      } ticks`,
    setup: {
      seconds,
      ticksPerSecond: 5,
      warmupSeconds: PAGE_WARMUP_MS / 1000,
    },
    figures: [
      { name: "p50", value: n(p50 ?? NaN), unit: "ms", better: "lower" },
      { name: "p99", value: n(p99 ?? NaN), unit: "ms", better: "lower" },
      { name: "sample", value: count, unit: "ticks" },
    ],
    target: `p99 ≤ ${PAGE_P99_MS} ms`,
    met: p99 !== null && p99 <= PAGE_P99_MS,
  };
}

/**
 * What the bench needs besides the stack, each missing one as one line
 * saying what to install: deno on PATH (the scripts run as `deno run`), ps
 * (P4), Chromium for the live run (P5), Maven on the first run (Kafka's
 * jars), Java 21+, and the InfluxDB double's Python venv (made here when
 * missing).
 *
 * @returns The JDK's java.
 */
async function preflight(): Promise<string> {
  if (!(await installed("deno"))) {
    throw new Error(
      "deno is not on PATH: the bench runs each script with `deno run`",
    );
  }
  if (!(await installed("ps"))) {
    throw new Error(
      "ps is missing: P4 reads resident memory with it (Debian/Ubuntu: apt-get install procps)",
    );
  }
  if (!(await exists(".stack/libs/.complete")) && !(await installed("mvn"))) {
    throw new Error(
      "mvn is missing: the first run fetches the Kafka 4.3.1 and Apicurio jars with Maven (apt-get install maven, brew install maven)",
    );
  }
  if (LIVE.some(wants) && !(await exists(CHROMIUM))) {
    throw new Error(
      `chromium is missing: P5 opens the chart page in headless Chromium at ${CHROMIUM} (Debian/Ubuntu: apt-get install chromium)`,
    );
  }
  const java = await ensureJdk({ log });
  try {
    await ensureVenv((m) => log.info(m));
  } catch (error) {
    throw new Error(
      `Cannot make .venv for the InfluxDB double (python3 with venv and pip is needed; Debian/Ubuntu: apt-get install python3-venv): ${
        (error as Error).message.split("\n").slice(-1)[0]
      }`,
    );
  }
  return java;
}

/** The machine and the versions of what runs, for results.json. */
async function environment(
  java: string,
): Promise<Pick<BenchResults, "machine" | "versions">> {
  const imports = (JSON.parse(await Deno.readTextFile("deno.json")) as {
    imports: Record<string, string>;
  }).imports;
  const npmVersion = (name: string) => imports[name]?.replace(/^.*@/, "");
  let kafka = "";
  for await (const entry of Deno.readDir(".stack/libs")) {
    kafka ||= /^kafka-clients-(.+)\.jar$/.exec(entry.name)?.[1] ?? "";
  }
  const javaOut = await runCommand(java, ["-version"]);
  const python = await runCommand(".venv/bin/python", ["--version"]);
  return {
    machine: {
      cpus: navigator.hardwareConcurrency,
      memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
      os: Deno.build.os,
      arch: Deno.build.arch,
      osRelease: Deno.osRelease(),
    },
    versions: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      kafka,
      java: /version "([^"]+)"/.exec(javaOut.stderr)?.[1] ?? "unknown",
      python: (python.stdout + python.stderr).trim().replace(/^Python /, ""),
      kafkajs: npmVersion("kafkajs"),
      avsc: npmVersion("avsc"),
    },
  };
}

function spec(name: ScriptName, env: Record<string, string>) {
  const config = loadConfig(new Map(Object.entries(env)));
  return {
    name,
    script: `scripts/${name}.ts`,
    permissions: permissionsFor(name, config),
    env,
    restart: false,
  };
}

/** A spec whose `deno run` gets extra flags (such as `--cpu-prof`). */
function withArgs(child: ReturnType<typeof spec>, denoFlags: string[]) {
  return { ...child, permissions: [...child.permissions, ...denoFlags] };
}

async function script(
  name: ScriptName,
  env: Record<string, string>,
): Promise<void> {
  const code = await runOnce(spec(name, env), { log, print: () => {} });
  if (code !== 0) throw new Error(`${name} failed (exit ${code})`);
}

async function runFor(
  name: ScriptName,
  env: Record<string, string>,
  seconds: number,
): Promise<LogEvent[]> {
  const events: LogEvent[] = [];
  const child = supervise(spec(name, env), {
    log,
    print: () => {},
    onEvent: (_n, e) => events.push(e),
  });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await child.stop();
  return events;
}

async function fill(topic: string, records: number): Promise<void> {
  const events: LogEvent[] = [];
  const env = { KAFKA_TOPIC: topic, SOURCE: "synthetic", SYNTHETIC_RATE: "0" };
  const child = supervise(spec("producer", env), {
    log,
    print: () => {},
    onEvent: (_n, e) => events.push(e),
  });
  while (true) {
    await new Promise((r) => setTimeout(r, 500));
    const acked = events.findLast((e) => e.acked)?.acked as
      | Record<string, number>
      | undefined;
    if (acked && Object.values(acked).reduce((a, b) => a + b, 0) >= records) {
      break;
    }
  }
  await child.stop();
}

async function topicCount(topic: string): Promise<number> {
  const out = await java("org.apache.kafka.tools.GetOffsetShell", [
    "--bootstrap-server",
    BROKERS,
    "--topic",
    topic,
  ]);
  return out.trim().split("\n").reduce(
    (sum, line) => sum + Number(line.split(":")[2] ?? 0),
    0,
  );
}

async function java(main: string, args: string[]): Promise<string> {
  const { stdout, stderr } = await runCommand(JAVA, [
    "-Xmx512m",
    "-cp",
    ".stack/libs/*",
    main,
    ...args,
  ]);
  return stdout + stderr;
}

/** A process's peak resident memory, and its share of one core while it worked. */
interface Usage {
  peakMb: number;
  /** CPU seconds per second (1 = one core busy), from `from` to the end. */
  cpuShare: number;
}

/**
 * Samples a process's resident memory and CPU time (`ps -o rss=,times=`)
 * every 500 ms until `stop(from)`, which gives the peak memory and the CPU
 * share from the first sample at or after `from` (epoch ms) to the last.
 */
function watchProcess(pid: number | undefined) {
  const samples: { at: number; rssMb: number; cpuS: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running && pid) {
      const { stdout } = await runCommand("ps", [
        "-o",
        "rss=,times=",
        "-p",
        String(pid),
      ], { check: false });
      const [rss, cpu] = stdout.trim().split(/\s+/).map(Number);
      if (Number.isFinite(rss) && Number.isFinite(cpu)) {
        samples.push({ at: Date.now(), rssMb: rss / 1024, cpuS: cpu });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    async stop(from: number): Promise<Usage> {
      running = false;
      await loop;
      const busy = samples.filter((s) => s.at >= from);
      const [first, last] = [busy[0], busy.at(-1)];
      return {
        peakMb: Math.round(Math.max(...samples.map((s) => s.rssMb))),
        cpuShare: first && last && last.at > first.at
          ? (last.cpuS - first.cpuS) / ((last.at - first.at) / 1000)
          : NaN,
      };
    },
  };
}

/** The figures of a {@linkcode Usage}. */
function usageFigures(use: Usage) {
  return [
    {
      name: "consumer peak RSS",
      value: n(use.peakMb),
      unit: "MB",
      better: "lower" as const,
    },
    {
      name: "consumer CPU",
      value: n(Math.round(use.cpuShare * 100)),
      unit: "% of a core",
    },
  ];
}

async function rssMb(pid: number | undefined): Promise<number> {
  if (!pid) return NaN;
  const { stdout } = await runCommand("ps", ["-o", "rss=", "-p", String(pid)], {
    check: false,
  });
  return Math.round(Number(stdout.trim()) / 1024);
}

/** True when `cmd --version` runs at all (whatever its exit code). */
async function installed(cmd: string): Promise<boolean> {
  return await runCommand(cmd, ["--version"], { check: false }).then(
    () => true,
    (error: Error) => {
      if (/ is not installed$/.test(error.message)) return false;
      throw error;
    },
  );
}

/** A measured rate or size as results.json holds it: rounded, null when not measured. */
function n(value: number): number | null {
  return Number.isFinite(value) ? Math.round(value) : null;
}

/** The table for people: ours and the references, with their units. */
function table(rows: BenchRow[]): string {
  const ours = (r: BenchRow) => {
    const figures = r.figures.filter((f) => f.better && !f.reference);
    return figures.length === 1
      ? `${formatValue(figures[0].value)} ${figures[0].unit}`
      : figures.map((f) => `${f.name} ${formatValue(f.value)} ${f.unit}`)
        .join(", ");
  };
  const references = (r: BenchRow) =>
    r.figures.filter((f) => f.reference).map((f) =>
      `${formatValue(f.value)} ${f.unit} (${f.name})`
    ).join(", ") || "–";
  return [
    "| id | what | ours | reference (same run, same cluster) | target | met |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) =>
      `| ${r.id} | ${r.what} | ${ours(r)} | ${references(r)} | ${r.target} | ${
        r.met === null ? "–" : r.met ? "yes" : "no"
      } |`
    ),
  ].join("\n");
}

function printComparison(
  baseResults: BenchResults,
  current: BenchResults,
  label: string,
): void {
  const kind = (r: BenchResults) =>
    r.quick ? "quick" : r.only ? `--only=${r.only.join(",")}` : "full";
  console.log(
    `${label} (${kind(current)}, ${current.date}) against ${BASE} (${
      kind(baseResults)
    }, ${baseResults.date}):`,
  );
  const lines = formatComparison(compareResults(baseResults, current));
  console.log(lines.join("\n"));
}

async function readResults(path: string): Promise<BenchResults> {
  try {
    return parseResults(await Deno.readTextFile(path), path);
  } catch (error) {
    log.error(
      error instanceof Deno.errors.NotFound
        ? `Cannot compare as ${path} is missing`
        : (error as Error).message,
    );
    Deno.exit(2);
  }
}

/** The top ten functions of a CPU profile by self time, as lines. */
async function summariseProfile(path: string): Promise<string[]> {
  const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  return [
    `P2 consumer CPU profile ${path}:`,
    ...formatSelfTime(topSelfTime(profile, { limit: 10, root })),
  ];
}

interface Flags {
  quick: boolean;
  only?: string[];
  /** `--compare`: run, then compare with bench/results.json. */
  compare: boolean;
  /** `--compare=FILE`: compare FILE with bench/results.json, run nothing. */
  compareFile?: string;
  cpuProf: boolean;
}

function parseFlags(args: string[]): Flags {
  const flags: Flags = { quick: false, compare: false, cpuProf: false };
  for (const arg of args) {
    if (arg === "--quick") flags.quick = true;
    else if (arg.startsWith("--only=")) {
      flags.only = arg.slice(7).split(",");
      const unknown = flags.only.filter((id) => !ROW_IDS.includes(id));
      if (unknown.length > 0) {
        log.error(
          `Cannot run the bench as --only names ${
            unknown.join(",")
          }: the rows are ${ROW_IDS.join(",")}`,
        );
        Deno.exit(2);
      }
    } else if (arg === "--compare") flags.compare = true;
    else if (arg.startsWith("--compare=")) flags.compareFile = arg.slice(10);
    else if (arg === "--cpu-prof") flags.cpuProf = true;
    else {
      log.error(
        `Cannot run the bench as ${arg} is not a flag: use --quick, --only=P1,P2 (P2 runs P2d too; P3 runs P3s, P4 and P5; P6 cold and P6w warm launch), --compare[=FILE], --cpu-prof`,
      );
      Deno.exit(2);
    }
  }
  return flags;
}

/** `200ms` or `1s` as milliseconds. */
function flushMs(text: string): number {
  const match = /^(\d+)(ms|s)$/.exec(text);
  if (!match) throw new Error(`cannot read the flush interval ${text}`);
  return Number(match[1]) * (match[2] === "s" ? 1000 : 1);
}
