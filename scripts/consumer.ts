/**
 * `deno task consumer`: one member of the consumer group (`Coins`) that
 * writes every ticker to InfluxDB 3 as a point, at least once: offsets are
 * committed only after the points are written (or the record is in the
 * dead-letter topic). Run two for the original's Python_1 and Python_2.
 *
 * @module
 */
import { createRegistry, parseSchema, readSchema } from "@cryptocandles/avro";
import { type Flags, runScript } from "@cryptocandles/config";
import { ensureDatabase, influxOptions } from "@cryptocandles/influx";
import type { InfluxOptions } from "@cryptocandles/influx";
import { assignorFor, createKafka } from "@cryptocandles/kafka";
import { defaultPartitioner, trackAssignments } from "@cryptocandles/kafka";
import type { Consumer } from "@cryptocandles/kafka";
import { type Logger, retry } from "@cryptocandles/runtime";
import { createSink, serveSinkMetrics, type Sink } from "@cryptocandles/sink";

await runScript({
  name: "consumer",
  flags: { "client-id": "string" },
  help: [
    "--client-id NAME        this member's client id (default consumer-<pid>)",
  ],
  logger: (_config, flags) => ({ name: `consumer ${clientIdOf(flags)}` }),
  async main({ config, log, signal, abort, stopped, flags }) {
    const influx = influxOptions(config.influx);
    const registry = createRegistry(config.registryUrl);
    const clientId = clientIdOf(flags);
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
      createPartitioner: defaultPartitioner,
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
      signal,
      onFatal: (error) => {
        fatal ??= error;
        abort();
      },
    });
    const { topic } = config.kafka;
    const untrack = trackAssignments(consumer, assigner);
    const crashed = watchGroup(consumer, log);
    try {
      await waitForInflux(influx, log, signal);
      await Promise.all([consumer.connect(), dlq.connect()]);
      await consumer.subscribe({ topic, fromBeginning: true });
      const { group } = config.consumer; // for the chart's pipeline page
      serveSinkMetrics(sink.stats, { clientId, group, topic, signal });
      await consumer.run({
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 2,
        eachBatch: sink.eachBatch,
      });
      const stats = setInterval(() => logStats(log, sink), 5000);
      const outcome = await Promise.race([stopped, crashed]);
      clearInterval(stats);
      if (outcome instanceof Error) fatal ??= outcome;
    } catch (error) {
      if (!signal.aborted) fatal ??= error as Error;
    } finally {
      untrack();
      await consumer.disconnect().catch(() => {});
      await dlq.disconnect().catch(() => {});
      logStats(log, sink, "stopped;");
    }
    if (fatal) throw fatal;
  },
});

function clientIdOf(flags: Flags): string {
  return String(flags.extra["client-id"] ?? `consumer-${Deno.pid}`);
}

/** Logs each join; resolves with the error of a crash kafkajs does not restart from. */
function watchGroup(consumer: Consumer, log: Logger): Promise<Error> {
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
  return new Promise<Error>((resolve) =>
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        log.warn(`kafkajs restarts the consumer: ${payload.error.message}`);
      } else resolve(payload.error);
    })
  );
}

/** Creates the database if needed, waiting (and saying so once) while InfluxDB is down. */
async function waitForInflux(
  influx: InfluxOptions,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const made = await retry(() => ensureDatabase(influx), {
    maxAttempts: Infinity,
    maxTimeout: 5000,
    signal,
    isRetriable: (e) => (e as { retriable?: boolean }).retriable === true,
    onRetry: (e, n) =>
      n === 1 && log.warn(`waiting for InfluxDB: ${(e as Error).message}`),
  });
  const { database, host } = influx;
  log.info(`database ${database} ${made === "created" ? made : "found"}`, {
    host,
  });
}

function logStats(log: Logger, sink: Sink, prefix = ""): void {
  const { written, deadLettered, lag, latency, influxDownSince } = sink.stats;
  const paused = influxDownSince && new Date(influxDownSince).toISOString();
  log.info(`${prefix ? prefix + " " : ""}wrote ${sum(written)} points`, {
    written,
    deadLettered,
    lag: sum(lag),
    latencyMs: { p50: latency.percentile(50), p99: latency.percentile(99) },
    paused,
  });
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
