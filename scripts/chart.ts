/**
 * `deno task chart`: the built-in live candlestick page. Reads the ticker
 * topic with a consumer group of its own (from the last `--hours`), keeps
 * candles in memory with the dashboard's semantics, and serves them on
 * CHART_HOST:CHART_PORT with Server-Sent Events. No InfluxDB or Grafana
 * needed.
 *
 * @module
 */
import { decodeValue, parseSchema, readSchema } from "@cryptocandles/avro";
import { createCandleStore } from "@cryptocandles/chart";
import { type ChartState, createChartServer } from "@cryptocandles/chart";
import {
  type Config,
  helpText,
  loadConfig,
  parseFlags,
} from "@cryptocandles/config";
import { createKafka } from "@cryptocandles/kafka";
import { createLogger } from "@cryptocandles/runtime";
import { createRegistry } from "@cryptocandles/avro";
import { onShutdownSignals } from "@cryptocandles/runtime";

let config: Config;
let hours: number;
try {
  const flags = parseFlags(Deno.args, { hours: { type: "string" } });
  if (flags.help) {
    console.log(
      helpText("deno task chart [flags]", [
        "--hours N               history to load at start (default 24)",
      ]),
    );
    Deno.exit(0);
  }
  config = loadConfig(Deno.env, flags.overrides);
  hours = Number(flags.extra.hours ?? 24);
  if (!(hours > 0 && hours <= 24 * 30)) {
    throw new TypeError(
      `--hours must be a number from 0 to 720: got ${flags.extra.hours}`,
    );
  }
} catch (error) {
  console.error(`chart: ${(error as Error).message}`);
  Deno.exit(2);
}

const log = createLogger("chart", { format: config.logFormat });
const controller = new AbortController();
const release = onShutdownSignals(controller, log);
const store = createCandleStore();
const state: ChartState = {
  source: "unknown",
  last: {},
  ticks: 0,
  coins: config.coins,
};
const chart = createChartServer({
  store,
  state,
  pageDir: new URL("./chart_page/", import.meta.url),
  libraryFile: new URL(
    "../node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js",
    import.meta.url,
  ),
  signal: controller.signal,
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
  const server = Deno.serve({
    hostname: config.chart.host,
    port: config.chart.port,
    signal: controller.signal,
    onListen: ({ hostname, port }) =>
      log.info(`serving http://${hostname}:${port}/`, {
        topic: config.kafka.topic,
      }),
  }, chart.handler);
  await Promise.all([consumer.connect(), admin.connect()]);
  const since = Date.now() - hours * 3_600_000;
  const offsets = await admin.fetchTopicOffsetsByTimestamp(
    config.kafka.topic,
    since,
  );
  await consumer.subscribe({ topic: config.kafka.topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      let tickers;
      try {
        tickers = await decodeValue(
          message.value,
          reader,
          (id) => registry.typeById(id),
        );
      } catch (error) {
        log.warn(`skipped a record: ${(error as Error).message}`, {
          offset: message.offset,
        });
        return;
      }
      const source = message.headers?.source?.toString();
      if (source) state.source = source;
      for (const t of tickers) {
        const time = t.event_time > 0
          ? t.event_time
          : Number(message.timestamp);
        state.ticks++;
        if ((state.last[t.nombre]?.time ?? -Infinity) <= time) {
          state.last[t.nombre] = {
            price: t.precio_ultimo,
            change: t.daily_change_percentage,
            time,
          };
        }
        chart.publish(
          t.nombre,
          store.add(t.nombre, time, t.precio_ultimo),
        );
      }
    },
  });
  const ends = await admin.fetchTopicOffsets(config.kafka.topic);
  for (const { partition, offset } of offsets) {
    const end = ends.find((e) => e.partition === partition)?.high ?? offset;
    consumer.seek({
      topic: config.kafka.topic,
      partition,
      offset: offset === "-1" ? end : offset,
    });
  }
  await server.finished;
} catch (error) {
  const taken = error instanceof Deno.errors.AddrInUse;
  log.error(
    taken
      ? `CHART_PORT ${config.chart.port} is taken by another process`
      : (error as Error).message,
  );
  exitCode = taken ? 2 : 1;
  controller.abort();
} finally {
  await consumer.disconnect().catch(() => {});
  await admin.disconnect().catch(() => {});
  log.info("stopped", { ticks: state.ticks });
  release();
}
Deno.exitCode = exitCode;
