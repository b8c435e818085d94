/**
 * The chart page's HTTP side: the page and lightweight-charts (served from
 * node_modules, no CDN), Server-Sent Events (a snapshot on connect, then
 * candle updates, Kafka's reachability), and JSON endpoints for candles and
 * status.
 *
 * @module
 */
import {
  type Candle,
  type CandleStore,
  type Interval,
  isInterval,
} from "./candles.ts";
import type { PipelineWatch } from "./pipeline.ts";
import type { KafkaReachability } from "./reachability.ts";
import { delay } from "@cryptocandles/runtime";

/** The latest tick of a coin, for the page's header. */
export interface LastTick {
  price: number;
  /** Daily change as a fraction. */
  change: number;
  time: number;
}

/** What the chart knows besides candles. */
export interface ChartState {
  /** The producer's source (from the records' `source` header), or "unknown". */
  source: string;
  last: Record<string, LastTick>;
  /** Ticks read from Kafka. */
  ticks: number;
  /** The coins to offer before any tick arrives. */
  coins: string[];
}

/** Options for {@linkcode createChartServer}. */
export interface ChartServerOptions {
  store: CandleStore;
  state: ChartState;
  /** Files of the page: index.html, app.js. */
  pageDir: URL;
  /** The lightweight-charts standalone build. */
  libraryFile: URL;
  /** Closes the event streams. */
  signal: AbortSignal;
  /** The cluster behind `/pipeline`; without it, `/api/pipeline` answers 404. */
  pipeline?: PipelineWatch;
  /**
   * Whether Kafka is reachable: in snapshots, pings and `/api/status`, and
   * pushed to every page (`kafka` events) when it changes; it also gets
   * the pipeline snapshots.
   */
  kafka?: KafkaReachability;
}

/** One open SSE connection. */
export interface ChartClient {
  coin: string;
  interval: Interval;
  /** Also gets `pipeline` snapshots (`/events?pipeline=1`). */
  pipeline: boolean;
  send(event: string, data: unknown): void;
}

const encoder = new TextEncoder();
/** Candles in a snapshot (the newest); older ones come from `/api/candles?to=…&limit=…`. */
const SNAPSHOT_CANDLES = 600;

/** What {@linkcode createChartServer} returns. */
export interface ChartServer {
  /** The `Deno.serve` handler. */
  handler: (request: Request) => Response | Promise<Response>;
  /**
   * Sends a candle update to the clients watching that coin, at the next
   * macrotask: updates of one candle made meanwhile go as one (the newest).
   */
  publish: (
    coin: string,
    changes: { interval: Interval; candle: Candle }[],
  ) => void;
  /** The open SSE connections. */
  clients: Set<ChartClient>;
}

/**
 * Creates the request handler and the function that pushes a tick's candle
 * updates to the pages watching that coin and interval.
 *
 * @param options Store, state, page files and signal.
 * @returns `handler` for `Deno.serve`, and `publish(coin, changes)`.
 *
 * @example
 * ```ts ignore
 * const chart = createChartServer({ store, state, pageDir, libraryFile, signal });
 * Deno.serve({ port: 8000, signal }, chart.handler);
 * chart.publish("tBTCUSD", store.add("tBTCUSD", t, price, volume));
 * ```
 */
export function createChartServer(options: ChartServerOptions): ChartServer {
  const { store, state, pageDir, libraryFile, signal, pipeline, kafka } =
    options;
  const clients = new Set<ChartClient>();
  let pumping = false;
  const unwatch = kafka?.onChange((status) => {
    for (const c of clients) c.send("kafka", status);
  });
  signal.addEventListener("abort", () => unwatch?.(), { once: true });

  /** A pipeline snapshot, also told to the Kafka watch. */
  async function pipelineSnapshot(watch: PipelineWatch) {
    const snapshot = await watch.snapshot();
    kafka?.observe(snapshot);
    return snapshot;
  }

  /** Sends a snapshot every interval while some page shows the pipeline. */
  async function pump(): Promise<void> {
    if (pumping || !pipeline) return;
    pumping = true;
    try {
      while (!signal.aborted && [...clients].some((c) => c.pipeline)) {
        const started = Date.now();
        const snapshot = await pipelineSnapshot(pipeline);
        for (const c of clients) if (c.pipeline) c.send("pipeline", snapshot);
        const wait = pipeline.intervalMs - (Date.now() - started);
        await delay(Math.max(wait, 0), signal).catch(() => {});
      }
    } finally {
      pumping = false;
    }
  }

  function snapshot(coin: string, interval: Interval) {
    return {
      coin,
      interval,
      source: state.source,
      last: state.last[coin],
      kafka: kafka?.status(),
      // the newest candles; the page asks for older ones as it scrolls
      candles: store.candles(coin, interval).slice(-SNAPSHOT_CANDLES),
    };
  }

  function events(url: URL): Response {
    const coin = url.searchParams.get("coin") ?? state.coins[0];
    const interval = url.searchParams.get("interval") ?? "5m";
    if (!isInterval(interval)) {
      return json({
        error: `interval must be 1m, 5m, 15m or 1h: got ${interval}`,
      }, 400);
    }
    const wantsPipeline = url.searchParams.get("pipeline") === "1" &&
      pipeline !== undefined;
    let client: ChartClient;
    let keepAlive: ReturnType<typeof setInterval>;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const close = () => {
          clients.delete(client);
          clearInterval(keepAlive);
          try {
            controller.close();
          } catch { /* already closed */ }
        };
        client = {
          coin,
          interval,
          pipeline: wantsPipeline,
          send(event, data) {
            try {
              controller.enqueue(
                encoder.encode(
                  `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`,
                ),
              );
            } catch {
              close();
            }
          },
        };
        clients.add(client);
        client.send("snapshot", snapshot(coin, interval));
        const known = pipeline?.latest();
        if (wantsPipeline && known) client.send("pipeline", known);
        if (wantsPipeline) pump();
        keepAlive = setInterval(
          () =>
            client.send("ping", { ticks: state.ticks, kafka: kafka?.status() }),
          15_000,
        );
        signal.addEventListener("abort", close, { once: true });
      },
      cancel() {
        clients.delete(client);
        clearInterval(keepAlive);
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        connection: "keep-alive",
      },
    });
  }

  function candles(url: URL): Response {
    const coin = url.searchParams.get("coin");
    const interval = url.searchParams.get("interval") ?? "5m";
    if (!coin) {
      return json({ error: "coin is required, such as ?coin=tBTCUSD" }, 400);
    }
    if (!isInterval(interval)) {
      return json({
        error: `interval must be 1m, 5m, 15m or 1h: got ${interval}`,
      }, 400);
    }
    const from = timeParam(url, "from");
    const to = timeParam(url, "to");
    if (Number.isNaN(from) || Number.isNaN(to)) {
      return json(
        { error: "from/to must be ms since the epoch or ISO times" },
        400,
      );
    }
    const limit = Number(url.searchParams.get("limit") ?? Infinity);
    if (!(limit > 0)) {
      return json({ error: "limit must be a positive number" }, 400);
    }
    // with a limit, the newest `limit` candles of the range (paging leftwards)
    const all = store.candles(coin, interval, { from, to });
    return json({
      coin,
      interval,
      candles: Number.isFinite(limit) ? all.slice(-limit) : all,
    });
  }

  async function handler(request: Request): Promise<Response> {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/":
        return await file(
          new URL("index.html", pageDir),
          "text/html; charset=utf-8",
        );
      case "/pipeline":
        return await file(
          new URL("pipeline.html", pageDir),
          "text/html; charset=utf-8",
        );
      case "/app.js":
      case "/pipeline.js":
      case "/format.js":
        return await file(
          new URL(url.pathname.slice(1), pageDir),
          "text/javascript; charset=utf-8",
        );
      case "/api/pipeline":
        return pipeline
          ? json(await pipelineSnapshot(pipeline))
          : json({ error: "no pipeline view on this server" }, 404);
      case "/lightweight-charts.js":
        return await file(libraryFile, "text/javascript; charset=utf-8");
      case "/events":
        return events(url);
      case "/api/candles":
        return candles(url);
      case "/api/status":
        return json({
          source: state.source,
          ticks: state.ticks,
          coins: allCoins(),
          last: state.last,
          kafka: kafka?.status(),
        });
      default:
        return json({ error: "not found" }, 404);
    }
  }

  function allCoins(): string[] {
    return [...new Set([...state.coins, ...store.coins()])];
  }

  // Updates wait for the next macrotask, keeping the newest per candle: a
  // burst (the chart catching up on a backlog, one kafkajs batch after
  // another) reaches a page as one event per candle instead of one a tick,
  // which kept a page busy for seconds; a live tick waits about 1 ms.
  const pending = new Map<ChartClient, Map<number, unknown>>();
  let flushing: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    flushing = undefined;
    for (const [client, byTime] of pending) {
      const times = [...byTime.keys()].sort((a, b) => a - b);
      for (const time of times) client.send("candle", byTime.get(time));
    }
    pending.clear();
  };
  signal.addEventListener("abort", () => clearTimeout(flushing), {
    once: true,
  });

  function publish(
    coin: string,
    changes: { interval: Interval; candle: Candle }[],
  ): void {
    for (const client of clients) {
      if (client.coin !== coin) continue;
      const change = changes.find((c) => c.interval === client.interval);
      if (!change) continue;
      let byTime = pending.get(client);
      if (!byTime) pending.set(client, byTime = new Map());
      byTime.set(change.candle.time, {
        candle: change.candle,
        last: state.last[coin],
        source: state.source,
      });
      flushing ??= setTimeout(flush, 0);
    }
  }

  return { handler, publish, clients };
}

function timeParam(url: URL, name: string): number | undefined {
  const value = url.searchParams.get(name);
  if (value === null || value === "") return undefined;
  return /^\d+$/.test(value) ? Number(value) : Date.parse(value);
}

async function file(path: URL, type: string): Promise<Response> {
  try {
    return new Response(await Deno.readFile(path), {
      headers: { "content-type": type },
    });
  } catch {
    return json({ error: `missing ${path.pathname}` }, 500);
  }
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}
