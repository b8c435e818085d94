/**
 * `deno task chart`: the built-in live candlestick page. Reads the ticker
 * topic with a consumer group of its own (from the last `--hours`), keeps
 * candles in memory with the dashboard's semantics, and serves them on
 * CHART_HOST:CHART_PORT with Server-Sent Events. No InfluxDB or Grafana
 * needed.
 *
 * @module
 */
import { createRegistry, decodeValue } from "@cryptocandles/avro";
import { type AvroType, parseSchema, readSchema } from "@cryptocandles/avro";
import { type CandleStore, createCandleStore } from "@cryptocandles/chart";
import { type ChartServer, type ChartState } from "@cryptocandles/chart";
import { createChartServer } from "@cryptocandles/chart";
import { describeError, type Flags, runScript } from "@cryptocandles/config";
import { UsageError } from "@cryptocandles/config";
import { type Admin, type Consumer, createKafka } from "@cryptocandles/kafka";
import type { KafkaMessage } from "@cryptocandles/kafka";
import type { Logger } from "@cryptocandles/runtime";

await runScript({
  name: "chart",
  flags: { hours: "string" },
  help: ["--hours N               history to load at start (default 24)"],
  async main({ config, log, signal, abort, flags }) {
    const hours = hoursOf(flags);
    const { topic } = config.kafka;
    const store = createCandleStore();
    const { coins } = config;
    const state: ChartState = { source: "unknown", last: {}, ticks: 0, coins };
    const chart = createChartServer({
      store,
      state,
      pageDir: new URL("./chart_page/", import.meta.url),
      libraryFile: new URL(
        "../node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js",
        import.meta.url,
      ),
      signal,
    });
    const reader = parseSchema(await readSchema("v2"));
    const registry = createRegistry(config.registryUrl);
    const kafka = createKafka(config.kafka, { clientId: "chart", log });
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
      const since = Date.now() - hours * 3_600_000;
      const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, since);
      await consumer.subscribe({ topic, fromBeginning: true });
      const typeById = (id: number) => registry.typeById(id);
      const show = { reader, typeById, state, store, chart, log };
      await consumer.run({
        eachMessage: ({ message }) => showTicks(message, show),
      });
      await seekToHistory(admin, consumer, topic, offsets);
      await server.finished;
    } catch (error) {
      const taken = error instanceof Deno.errors.AddrInUse;
      log.error(
        taken
          ? `CHART_PORT ${config.chart.port} is taken by another process`
          : describeError(error),
      );
      exitCode = taken ? 2 : 1;
      abort();
    } finally {
      await consumer.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
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

/** Decodes a record and adds its ticks to the candles, the state and the page. */
async function showTicks(message: KafkaMessage, show: {
  reader: AvroType;
  typeById: (id: number) => Promise<AvroType>;
  state: ChartState;
  store: CandleStore;
  chart: ChartServer;
  log: Logger;
}): Promise<void> {
  const { reader, typeById, state, store, chart, log } = show;
  let tickers;
  try {
    tickers = await decodeValue(message.value, reader, typeById);
  } catch (error) {
    const { offset } = message;
    log.warn(`skipped a record: ${(error as Error).message}`, { offset });
    return;
  }
  const source = message.headers?.source?.toString();
  if (source) state.source = source;
  for (const t of tickers) {
    const time = t.event_time > 0 ? t.event_time : Number(message.timestamp);
    state.ticks++;
    if ((state.last[t.nombre]?.time ?? -Infinity) <= time) {
      const { precio_ultimo: price, daily_change_percentage: change } = t;
      state.last[t.nombre] = { price, change, time };
    }
    chart.publish(t.nombre, store.add(t.nombre, time, t.precio_ultimo));
  }
}

/** Starts each partition at the first offset since `--hours` ago (its end when none is). */
async function seekToHistory(
  admin: Admin,
  consumer: Consumer,
  topic: string,
  offsets: { partition: number; offset: string }[],
): Promise<void> {
  const ends = await admin.fetchTopicOffsets(topic);
  for (const { partition, offset } of offsets) {
    const end = ends.find((e) => e.partition === partition)?.high ?? offset;
    consumer.seek({ topic, partition, offset: offset === "-1" ? end : offset });
  }
}
