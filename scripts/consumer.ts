/**
 * `deno task consumer`: one member of the consumer group (`Coins`) that
 * writes every ticker to InfluxDB 3 as a point, at least once: offsets are
 * committed only after the points are written (or the record is in the
 * dead-letter topic). Run two for the original's Python_1 and Python_2.
 * A second kafkajs consumer (group `<CONSUMER_GROUP>.candles`) writes the
 * candles of `<KAFKA_TOPIC>.candles` to `<INFLUX_MEASUREMENT>_candles`, a
 * table made at start (the dashboard queries it before any history comes).
 *
 * @module
 */
import { createRegistry, parseSchema, readSchema } from "@cryptocandles/avro";
import { type Flags, runScript } from "@cryptocandles/config";
import { candleTableSchema, influxOptions } from "@cryptocandles/influx";
import { waitForDatabase } from "@cryptocandles/influx";
import { assignorFor, connectPatiently } from "@cryptocandles/kafka";
import { createKafka, defaultPartitioner } from "@cryptocandles/kafka";
import { type Consumer, trackAssignments } from "@cryptocandles/kafka";
import type { Logger } from "@cryptocandles/runtime";
import { createSink, type Sink } from "@cryptocandles/sink";
import { runCandleSink, serveSinkMetrics } from "@cryptocandles/sink";

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
    const { group } = config.consumer;
    const consumer = kafka.consumer({
      groupId: group,
      partitionAssigners: [assigner],
      maxWaitTimeInMs: 100,
      // A member that dies loses its partitions after 10 s, not kafkajs's 30 s;
      // the sink heartbeats every second while it writes a batch.
      sessionTimeout: 10_000,
    });
    const dlq = kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: defaultPartitioner,
    });
    let fatal: Error | undefined;
    const schema = await readSchema("v2");
    const subject = `${config.kafka.topic}-value`;
    const sink = createSink({
      reader: parseSchema(schema),
      typeById: (id) => registry.typeById(id),
      // Unknown ids are poison unless the registry lost the topic's schema.
      registryEmptied: async () => !(await registry.lookup(subject, schema)),
      influx,
      measurement: config.influx.measurement,
      dlq,
      dlqTopic: config.consumer.dlqTopic,
      log,
      signal,
      onFatal: (error) => (fatal ??= error, abort()),
      pause: () => consumer.pause([{ topic: config.kafka.topic }]),
    });
    const { topic } = config.kafka;
    const untrack = trackAssignments(consumer, assigner);
    const crashed = watchGroup(consumer, log);
    const history = kafka.consumer({ groupId: `${group}.candles` });
    const { measurement } = config.influx;
    const tables = [candleTableSchema(measurement)];
    try {
      await waitForDatabase(influx, { log, signal, tables });
      await connectPatiently([consumer, dlq, history], { signal, log });
      await consumer.subscribe({ topic, fromBeginning: true });
      await runCandleSink(history, {
        topic: `${topic}.candles`,
        ...{ registry, influx, measurement, log, signal },
        onFatal: (error) => (fatal ??= error, abort()),
      });
      // for the chart's pipeline page
      serveSinkMetrics(sink.stats, { clientId, group, topic, signal });
      await consumer.run({
        autoCommit: false, // the sink commits what InfluxDB acknowledged
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
      await sink.close(); // writes in flight finish and are committed
      await history.disconnect().catch(() => {});
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
