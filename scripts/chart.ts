/**
 * `deno task chart`: the built-in live candlestick page. Reads the ticker
 * topic with a consumer group of its own (from the last `--hours`), keeps
 * candles in memory with the dashboard's semantics, and serves them on
 * CHART_HOST:CHART_PORT with Server-Sent Events; the 1-minute history of
 * `<topic>.candles` (read from its start) comes first. `/pipeline` shows the
 * cluster (brokers, partitions, keys, the group, DLQ, registry, the
 * consumers' sink metrics) over the same SSE stream. No InfluxDB or Grafana
 * needed. With every broker down it keeps serving, says so on the page and
 * reads once Kafka answers.
 *
 * @module
 */
import { createRegistry } from "@cryptocandles/avro";
import { type ChartState, createCandleStore } from "@cryptocandles/chart";
import { createChartServer, createPipelineWatch } from "@cryptocandles/chart";
import { connectWhenReachable } from "@cryptocandles/chart";
import { createKafkaReachability } from "@cryptocandles/chart";
import { startReading } from "@cryptocandles/chart";
import { describeError, type Flags, runScript } from "@cryptocandles/config";
import { UsageError } from "@cryptocandles/config";
import { createKafka, describeQuorumLeader } from "@cryptocandles/kafka";
import { sinkMetricsUrls } from "@cryptocandles/sink";

await runScript({
  name: "chart",
  flags: { hours: "string" },
  help: ["--hours N               history to load at start (default 24)"],
  async main({ config, log, signal, abort, flags }) {
    const hours = hoursOf(flags);
    const { topic } = config.kafka;
    const { group, dlqTopic } = config.consumer;
    const store = createCandleStore();
    const { coins } = config;
    const state: ChartState = { source: "unknown", last: {}, ticks: 0, coins };
    // Probes brokers; kafkajs's warnings wait for its verdict (left out while
    // no broker answers: one line then says so).
    const reachability = createKafkaReachability({
      brokers: config.kafka.brokers,
      log,
      latest: () => pipeline.latest(),
    });
    const kafkajsLog = reachability.kafkajsLog;
    // Retries capped at 5 s: reading resumes soon after an outage ends.
    const retry = { initialRetryTime: 300, retries: 8, maxRetryTime: 5000 };
    const kafka = createKafka(config.kafka, {
      clientId: "chart",
      log: kafkajsLog,
      retry,
    });
    // The pipeline page's own admin gives up fast: a broker that is down
    // makes that part of the page stale instead of holding the rest.
    const quick = { initialRetryTime: 100, retries: 1 };
    const watchAdmin = createKafka(config.kafka, {
      clientId: "chart-pipeline",
      log: kafkajsLog,
      retry: quick,
      connectionTimeout: 1000,
    }).admin();
    const pipeline = createPipelineWatch({
      admin: watchAdmin,
      topics: { ticks: topic, dlq: dlqTopic, history: `${topic}.candles` },
      group,
      registryUrl: config.registryUrl,
      sinkUrls: sinkMetricsUrls(),
      controller: config.kafka.ssl || config.kafka.sasl
        ? undefined // DescribeQuorum is sent in plain text
        : () => describeQuorumLeader(config.kafka.brokers),
    });
    const chart = createChartServer({
      store,
      state,
      pageDir: new URL("./chart_page/", import.meta.url),
      libraryFile: new URL(
        "../node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js",
        import.meta.url,
      ),
      signal,
      pipeline,
      kafka: reachability,
    });
    const registry = createRegistry(config.registryUrl);
    const consumer = kafka.consumer({
      groupId: `chart-${crypto.randomUUID()}`,
      maxWaitTimeInMs: 50,
      sessionTimeout: 10_000, // a member left by a crash goes sooner
    });
    const admin = kafka.admin();
    let exitCode = 0;
    try {
      const { host: hostname, port } = config.chart;
      const server = Deno.serve({
        hostname,
        port,
        signal,
        onListen: ({ hostname, port }) =>
          log.info(`serving http://${hostname}:${port}/`, { topic }),
      }, chart.handler);
      reachability.watch(signal);
      const connect = () => Promise.all([consumer.connect(), admin.connect()]);
      await connectWhenReachable(connect, reachability, {
        signal,
        log,
        cluster: () => admin.describeCluster(), // its brokers are probed too
      });
      await watchAdmin.connect().catch(() => {}); // it connects when asked
      const since = Date.now() - hours * 3_600_000;
      await startReading(consumer, admin, {
        topic,
        dlqTopic,
        since,
        registry,
        state,
        store,
        chart,
        ...{ watch: pipeline, log, signal },
      });
      await server.finished;
    } catch (error) {
      const taken = error instanceof Deno.errors.AddrInUse;
      if (!signal.aborted) { // else stopped while waiting for Kafka
        log.error(
          taken
            ? `CHART_PORT ${config.chart.port} is taken by another process`
            : describeError(error, "chart"),
        );
        exitCode = taken ? 2 : 1;
      }
      abort();
    } finally {
      await consumer.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
      await watchAdmin.disconnect().catch(() => {});
      log.info("stopped", { ticks: state.ticks });
    }
    return exitCode;
  },
});

function hoursOf(flags: Flags): number {
  const hours = Number(flags.extra.hours ?? 24);
  if (!(hours > 0 && hours <= 24 * 30)) {
    throw new UsageError(
      `--hours must be a number from 0 to 720: got ${flags.extra.hours}`,
    );
  }
  return hours;
}
