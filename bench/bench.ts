/**
 * `deno task bench [--quick]`: our pipeline's speed and memory on the local
 * 3-broker stack, each figure next to a reference measured in the same run
 * on the same cluster. Prints a table; writes bench/results.json (full) or
 * bench/results.quick.json (--quick).
 *
 * - P1 producer: scripts/producer.ts (synthetic → Avro wire format → kafkajs,
 *   acks=all, idempotent) in records/s, vs Java ProducerPerformance with the
 *   same record size, acks=all, idempotence on. Target ≥ 0.5 × Java.
 * - P2 sink backfill: a pre-filled topic consumed by scripts/consumer.ts into
 *   the InfluxDB double, points/s, vs Java ConsumerPerformance on the same
 *   topic. Target ≥ 100k points/s.
 * - P3 latency at live rate (4 coins × 5 ticks/s): event time → point
 *   acknowledged by the InfluxDB double, which acknowledges a write only
 *   after its WAL flush as InfluxDB 3 Core does; p50/p99 (the consumer
 *   measures it), once at Core's default flush interval (1 s, row P3) and
 *   once at the local stack's (`WAL_FLUSH_INTERVAL`, row P3s). Target p99 ≤
 *   the flush interval + 50 ms.
 * - P4 resident memory of producer, consumer and chart after the live run.
 *   Targets producer ≤ 80 MB, consumer ≤ 100 MB.
 *
 * @module
 */
import { runCommand } from "@cryptocandles/runtime";
import { loadConfig } from "@cryptocandles/config";
import { createLogger } from "@cryptocandles/runtime";
import { permissionsFor, type ScriptName } from "@cryptocandles/launch";
import {
  ensureJdk,
  stackDown,
  stackUp,
  WAL_FLUSH_INTERVAL,
} from "@cryptocandles/launch";
import { type LogEvent, runOnce, supervise } from "@cryptocandles/launch";
import { startInfluxDouble } from "../tests/doubles/influx_double.ts";

const quick = Deno.args.includes("--quick");
/** `--only P3,P4` runs some parts (P3 and P4 always run together). */
const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7).split(
  ",",
);
const wants = (id: string) => !only || only.includes(id);
const SIZES = quick
  ? {
    p1Seconds: 12,
    p1JavaRecords: 100_000,
    p2Records: 20_000,
    liveSeconds: 45,
  }
  : {
    p1Seconds: 30,
    p1JavaRecords: 500_000,
    p2Records: 200_000,
    liveSeconds: 300,
  };
const BROKERS = "127.0.0.1:19090,127.0.0.1:19091,127.0.0.1:19092";
const RECORD_SIZE = 98; // bytes of one v2 value in the wire format (measured: see valueSize below)

const log = createLogger("bench");
const rows: {
  id: string;
  what: string;
  ours: string;
  reference: string;
  target: string;
  met?: boolean;
}[] = [];
const started = await stackUp({ log });
/** The stack's JDK (.stack/jdk, the one path the bench set may run), for Kafka's own tools. */
const JAVA = await ensureJdk({ log });
const run = Date.now();
try {
  if (wants("P1")) await p1Producer();
  if (wants("P2")) await p2Backfill();
  if (wants("P3") || wants("P4")) {
    await p3p4Live("P3", 1_000);
    await p3p4Live("P3s", flushMs(WAL_FLUSH_INTERVAL));
  }
} finally {
  if (started.length > 0) await stackDown({ log });
}
printAndSave();

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
      `producer, records/s (${RECORD_SIZE} B values, acks=all, idempotent, RF 3 / min ISR 2)`,
    ours: fmt(ours),
    reference: `${fmt(reference)} (Java ProducerPerformance)`,
    target: "≥ 0.5 × Java",
    met: ours >= 0.5 * reference,
  });
}

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
  await using influx = await startInfluxDouble();
  const consumer = supervise(
    spec("consumer", {
      KAFKA_TOPIC: topic,
      CONSUMER_GROUP: `bench-p2-${run}`,
      INFLUX_HOST: influx.url,
      INFLUX_TOKEN: influx.token ?? "",
    }),
    { log, print: () => {} },
  );
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
  await consumer.stop();
  rows.push({
    id: "P2",
    what: `sink backfill of ${
      fmt(count)
    } records into the InfluxDB double, points/s`,
    ours: fmt(ours),
    reference: `${fmt(reference)} msg/s (Java ConsumerPerformance, read only)`,
    target: "≥ 100k points/s",
    met: ours >= 100_000,
  });
}

/**
 * P3 (and P4 with the first run): the live pipeline for `liveSeconds`, the
 * double acknowledging writes every `walFlushIntervalMs`.
 */
async function p3p4Live(id: string, walFlushIntervalMs: number): Promise<void> {
  const topic = `bench-live-${id}-${run}`;
  await script("setup-schema", { KAFKA_TOPIC: topic });
  await using influx = await startInfluxDouble({ walFlushIntervalMs });
  const env = {
    KAFKA_TOPIC: topic,
    CONSUMER_GROUP: `bench-live-${id}-${run}`,
    INFLUX_HOST: influx.url,
    INFLUX_TOKEN: influx.token ?? "",
    SOURCE: "synthetic",
    SYNTHETIC_RATE: "5",
    CHART_PORT: "8099",
  };
  const consumerEvents: LogEvent[] = [];
  const consumer = supervise(spec("consumer", env), {
    log,
    print: () => {},
    onEvent: (_n, e) => consumerEvents.push(e),
  });
  const chart = supervise(spec("chart", env), { log, print: () => {} });
  const producer = supervise(spec("producer", env), { log, print: () => {} });
  await new Promise((r) => setTimeout(r, SIZES.liveSeconds * 1000));
  const rss = {
    producer: await rssMb(producer.pid),
    consumer: await rssMb(consumer.pid),
    chart: await rssMb(chart.pid),
  };
  await producer.stop();
  await new Promise((r) => setTimeout(r, 6000));
  await chart.stop();
  await consumer.stop();
  const latency = consumerEvents.findLast((e) => e.latencyMs)?.latencyMs as {
    p50: number;
    p99: number;
  };
  const n = Object.values(
    (consumerEvents.findLast((e) => e.written)?.written ?? {}) as Record<
      string,
      number
    >,
  ).reduce((a, b) => a + b, 0);
  rows.push({
    id,
    what:
      `latency tick → point durable (flush every ${walFlushIntervalMs} ms), 4 coins × 5/s, ${
        fmt(n)
      } ticks`,
    ours: `p50 ${latency.p50} ms, p99 ${latency.p99} ms`,
    reference: "–",
    target: `p99 ≤ ${walFlushIntervalMs + 50} ms`,
    met: latency.p99 <= walFlushIntervalMs + 50,
  });
  if (id !== "P3") return;
  rows.push({
    id: "P4",
    what: `resident memory after ${SIZES.liveSeconds} s at live rate, MB`,
    ours:
      `producer ${rss.producer}, consumer ${rss.consumer}, chart ${rss.chart}`,
    reference: "–",
    target: "producer ≤ 80, consumer ≤ 100",
    met: rss.producer <= 80 && rss.consumer <= 100,
  });
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

async function rssMb(pid: number | undefined): Promise<number> {
  if (!pid) return NaN;
  const { stdout } = await runCommand("ps", ["-o", "rss=", "-p", String(pid)], {
    check: false,
  });
  return Math.round(Number(stdout.trim()) / 1024);
}

function fmt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a";
}

function printAndSave(): void {
  const table = [
    "| id | what | ours | reference (same run, same cluster) | target | met |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) =>
      `| ${r.id} | ${r.what} | ${r.ours} | ${r.reference} | ${r.target} | ${
        r.met ? "yes" : "no"
      } |`
    ),
  ].join("\n");
  console.log(table);
  const results = {
    date: new Date().toISOString(),
    quick,
    machine: {
      cpus: navigator.hardwareConcurrency,
      memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
      os: Deno.build.os,
    },
    versions: {
      deno: Deno.version.deno,
      kafka: "4.3.1",
      kafkajs: "2.2.4",
      avsc: "5.7.7",
    },
    rows,
  };
  Deno.writeTextFileSync(
    quick || only ? "bench/results.partial.json" : "bench/results.json",
    JSON.stringify(results, null, 2) + "\n",
  );
}

/** `200ms` or `1s` as milliseconds. */
function flushMs(text: string): number {
  const match = /^(\d+)(ms|s)$/.exec(text);
  if (!match) throw new Error(`cannot read the flush interval ${text}`);
  return Number(match[1]) * (match[2] === "s" ? 1000 : 1);
}
