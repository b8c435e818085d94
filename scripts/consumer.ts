/**
 * `deno task consumer`: one member of the consumer group (`Coins`) that
 * writes every ticker to InfluxDB 3 as a point, at least once: offsets are
 * committed only after the points are written (or the record is in the
 * dead-letter topic). Run two for the original's Python_1 and Python_2.
 *
 * @module
 */
import { Partitioners } from "kafkajs";
import { parseSchema, readSchema } from "@cryptocandles/avro";
import { assignorFor, trackAssignments } from "@cryptocandles/kafka";
import {
  type Config,
  helpText,
  loadConfig,
  parseFlags,
} from "@cryptocandles/config";
import { ensureDatabase, influxOptions } from "@cryptocandles/influx";
import { createKafka } from "@cryptocandles/kafka";
import { createLogger } from "@cryptocandles/runtime";
import { createRegistry } from "@cryptocandles/avro";
import { retry } from "@cryptocandles/runtime";
import { onShutdownSignals } from "@cryptocandles/runtime";
import { createSink } from "@cryptocandles/sink";

let config: Config;
let clientId: string;
try {
  const flags = parseFlags(Deno.args, { "client-id": { type: "string" } });
  if (flags.help) {
    console.log(
      helpText("deno task consumer [flags]", [
        "--client-id NAME        this member's client id (default consumer-<pid>)",
      ]),
    );
    Deno.exit(0);
  }
  config = loadConfig(Deno.env, flags.overrides);
  clientId = String(flags.extra["client-id"] ?? `consumer-${Deno.pid}`);
} catch (error) {
  console.error(`consumer: ${(error as Error).message}`);
  Deno.exit(2);
}

const log = createLogger(`consumer ${clientId}`, { format: config.logFormat });
const controller = new AbortController();
const release = onShutdownSignals(controller, log);
const influx = influxOptions(config.influx);
const registry = createRegistry(config.registryUrl);
const kafka = createKafka(config.kafka, { clientId, log });
const assigner = assignorFor(config.consumer.assignor);
const consumer = kafka.consumer({
  groupId: config.consumer.group,
  partitionAssigners: [assigner],
  maxWaitTimeInMs: 100,
  // A member that dies loses its partitions after 10 s, not kafkajs's 30 s;
  // the sink heartbeats between chunks and while InfluxDB is down.
  sessionTimeout: 10_000,
});
const dlq = kafka.producer({
  allowAutoTopicCreation: false,
  createPartitioner: Partitioners.DefaultPartitioner,
});
let fatal: Error | undefined;
const sink = createSink({
  reader: parseSchema(await readSchema("v2")),
  typeById: (id) => registry.typeById(id),
  influx,
  measurement: config.influx.measurement,
  dlq,
  dlqTopic: config.consumer.dlqTopic,
  log,
  signal: controller.signal,
  onFatal: (error) => {
    fatal ??= error;
    controller.abort();
  },
});

const untrack = trackAssignments(consumer, assigner);
consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
  const partitions = Object.entries(payload.memberAssignment).map(([t, p]) =>
    `${t}:${p.join(",")}`
  ).join(" ");
  log.info("joined group", {
    group: payload.groupId,
    assignor: payload.groupProtocol,
    partitions: partitions || "none",
  });
});
const crashed = new Promise<Error>((resolve) =>
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) {
      log.warn(`kafkajs restarts the consumer: ${payload.error.message}`);
    } else resolve(payload.error);
  })
);

try {
  const made = await retry(() => ensureDatabase(influx), {
    maxAttempts: Infinity,
    maxTimeout: 5000,
    signal: controller.signal,
    isRetriable: (e) => (e as { retriable?: boolean }).retriable === true,
    onRetry: (e, n) =>
      n === 1 && log.warn(`waiting for InfluxDB: ${(e as Error).message}`),
  });
  log.info(
    `database ${config.influx.database} ${
      made === "created" ? "created" : "found"
    }`,
    { host: influx.host },
  );
  await Promise.all([consumer.connect(), dlq.connect()]);
  await consumer.subscribe({ topic: config.kafka.topic, fromBeginning: true });
  await consumer.run({
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 2,
    eachBatch: sink.eachBatch,
  });
  const stats = setInterval(logStats, 5000);
  const stopped = new Promise((resolve) =>
    controller.signal.addEventListener("abort", resolve, { once: true })
  );
  const outcome = await Promise.race([stopped, crashed]);
  clearInterval(stats);
  if (outcome instanceof Error) fatal ??= outcome;
} catch (error) {
  if (!controller.signal.aborted) fatal ??= error as Error;
} finally {
  untrack();
  await consumer.disconnect().catch(() => {});
  await dlq.disconnect().catch(() => {});
  logStats("stopped;");
  if (fatal) log.error(fatal.message);
  release();
}
Deno.exitCode = fatal ? 1 : 0;

function logStats(prefix = ""): void {
  const total = Object.values(sink.stats.written).reduce((a, b) => a + b, 0);
  const lag = Object.values(sink.stats.lag).reduce((a, b) => a + b, 0);
  log.info(`${prefix ? prefix + " " : ""}wrote ${total} points`, {
    written: sink.stats.written,
    deadLettered: sink.stats.deadLettered,
    lag,
    latencyMs: {
      p50: sink.stats.latency.percentile(50),
      p99: sink.stats.latency.percentile(99),
    },
    paused: sink.stats.influxDownSince
      ? new Date(sink.stats.influxDownSince).toISOString()
      : undefined,
  });
}
