/**
 * `deno task chart`: the built-in live candlestick page. Reads the ticker
 * topic with a consumer group of its own (from the last `--hours`), keeps
 * candles in memory with the dashboard's semantics, and serves them on
 * CHART_HOST:CHART_PORT with Server-Sent Events; the 1-minute history of
 * `<topic>.candles` (read from its start) comes first. `/pipeline` shows the
 * cluster (brokers, partitions, keys, the group, DLQ, registry, the
 * consumers' sink metrics) over the same SSE stream. No InfluxDB or Grafana
 * needed.
 *
 * @module
 */
import { candleCodec, createRegistry } from "@cryptocandles/avro";
import { parseSchema, readSchema } from "@cryptocandles/avro";
import { type ChartState, createCandleStore } from "@cryptocandles/chart";
import { createChartServer, createPipelineWatch } from "@cryptocandles/chart";
import { createRecordHandler, seekToHistory } from "@cryptocandles/chart";
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
    const kafka = createKafka(config.kafka, { clientId: "chart", log });
    // The pipeline page's own admin gives up fast: a broker that is down
    // makes that part of the page stale instead of holding the rest.
    const quick = { initialRetryTime: 100, retries: 1 };
    const watchAdmin = createKafka(config.kafka, {
      clientId: "chart-pipeline",
      log,
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
    });
    const registry = createRegistry(config.registryUrl);
    const consumer = kafka.consumer({
      groupId: `chart-${crypto.randomUUID()}`,
      maxWaitTimeInMs: 50,
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
      await Promise.all([consumer.connect(), admin.connect()]);
      await watchAdmin.connect();
      const since = Date.now() - hours * 3_600_000;
      const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, since);
      const existing = await admin.listTopics();
      const dlq = existing.includes(dlqTopic) ? dlqTopic : undefined;
      const candles = `${topic}.candles`;
      const history = existing.includes(candles)
        ? await candleCodec(registry, `${candles}-value`)
          .then(({ decode }) => ({ topic: candles, decode }))
          .catch((e) => void log.warn(`no history: ${e.message}`))
        : undefined;
      const topics = [
        topic,
        ...(dlq ? [dlq] : []),
        ...(history ? [candles] : []),
      ];
      await consumer.subscribe({ topics, fromBeginning: true });
      const eachMessage = createRecordHandler({
        topic,
        reader: parseSchema(await readSchema("v2")),
        typeById: (id) => registry.typeById(id),
        state,
        store,
        chart,
        watch: pipeline,
        log,
        history: history ?? undefined,
      });
      await consumer.run({ eachMessage });
      await seekToHistory(admin, consumer, { topic, offsets, dlqTopic: dlq });
      await server.finished;
    } catch (error) {
      const taken = error instanceof Deno.errors.AddrInUse;
      log.error(
        taken
          ? `CHART_PORT ${config.chart.port} is taken by another process`
          : describeError(error, "chart"),
      );
      exitCode = taken ? 2 : 1;
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
