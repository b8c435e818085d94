/**
 * A local double of Bitfinex's public v2 API for the tests: the WebSocket
 * ticker channel (`/ws/2`) and the REST tickers (`/v2/tickers`,
 * `/v2/ticker/:symbol`, `/v2/platform/status`), on 127.0.0.1.
 *
 * What it answers, and where Bitfinex documents it:
 * - On connect: `{"event":"info","version":2,"serverId":…,"platform":{"status":1}}`
 *   (docs.bitfinex.com/docs/ws-general, "Info Messages"; status 0 = maintenance).
 * - `{"event":"subscribe","channel":"ticker","symbol":"tBTCUSD"}` →
 *   `{"event":"subscribed","channel":"ticker","chanId":N,"symbol":"tBTCUSD","pair":"BTCUSD"}`,
 *   then a snapshot `[N,[BID,BID_SIZE,ASK,ASK_SIZE,DAILY_CHANGE,DAILY_CHANGE_RELATIVE,LAST_PRICE,VOLUME,HIGH,LOW]]`
 *   and updates of the same shape (docs.bitfinex.com/reference/ws-public-ticker).
 * - `[N,"hb"]` when a channel has been quiet for `heartbeatMs` (ws-general,
 *   "Heartbeating": 15 seconds).
 * - Errors `{"event":"error","msg":…,"code":…}` with the request's
 *   `channel`/`symbol`/`pair` echoed, as Bitfinex does: 10300 `symbol: invalid`
 *   for an unknown symbol (what the live server sends, e.g.
 *   bitfinexcom/bitfinex-api-node#481; ws-general lists 10001 "Unknown pair"
 *   among the generic codes but the subscribe path answers 10300), 10301
 *   `subscribe: dup`, 10302 unknown channel, 10305 limit of open channels
 *   (ws-public: 25 channels per connection), 10400 unsubscribe of an unknown
 *   channel, 10000 unknown event (ws-general and the Abbreviation Glossary).
 * - `{"event":"unsubscribe","chanId":N}` → `{"event":"unsubscribed","status":"OK","chanId":N}`,
 *   `{"event":"ping","cid":C}` → `{"event":"pong","ts":…,"cid":C}` (ws-general).
 * - Info codes 20051, 20060, 20061 with the texts of ws-general.
 * - REST `GET /v2/tickers?symbols=…` → `[[SYMBOL,BID,…,LOW],…]`
 *   (docs.bitfinex.com/reference/rest-public-tickers); unknown symbols are
 *   left out of the answer.
 * - REST `GET /v2/candles/trade:1m:{SYMBOL}/hist?start=&end=&limit=&sort=` →
 *   `[[MTS,OPEN,CLOSE,HIGH,LOW,VOLUME],…]` (close before high), `limit`
 *   default 100 and at most 10,000, `sort` -1 (newest first, the default) or
 *   1 (docs.bitfinex.com/reference/rest-public-candles). Every minute's
 *   candle is a pure function of (seed, symbol, minute), so a test can ask
 *   {@linkcode BitfinexDouble.candleRows} for the same rows; about one minute
 *   in twelve has no trades and no row, as on Bitfinex. `candleRateLimitEvery`
 *   answers every Nth candles request with a 429.
 * - Rate limit: HTTP 429 with `["error",11010,"ratelimit: error"]`, the body
 *   the v2 endpoints send (seen by ccxt/ccxt#6384 and bitfinex-api-node-rest);
 *   the docs only name `{"error":"ERR_RATE_LIMIT"}`, which is available as
 *   {@linkcode RATE_LIMIT_BODY_DOCUMENTED}.
 *
 * Connections go through a small TCP relay in front of `Deno.serve`, so that
 * {@linkcode BitfinexDouble.dropConnections} can cut them without a close
 * frame, the way a network failure does (Deno's WebSocket client then fires
 * `error` "Unexpected EOF" and a `close` with `wasClean: false`).
 *
 * @module
 */

/** Known trading symbols and their starting last prices. */
export type Pairs = Record<string, number>;

/** The pairs a double knows unless told otherwise. */
export const DEFAULT_PAIRS: Readonly<Pairs> = Object.freeze({
  tBTCUSD: 66000,
  tETHUSD: 3500,
  tSOLUSD: 150,
  tXRPUSD: 0.5,
});

/** The 429 body of Bitfinex's v2 REST endpoints. */
export const RATE_LIMIT_BODY: readonly unknown[] = Object.freeze([
  "error",
  11010,
  "ratelimit: error",
]);

/** The rate-limit body Bitfinex's documentation names (`ERR_RATE_LIMIT`). */
export const RATE_LIMIT_BODY_DOCUMENTED: Readonly<Record<string, string>> =
  Object.freeze({ error: "ERR_RATE_LIMIT" });

/** The info messages of docs.bitfinex.com/docs/ws-general, by code. */
export const INFO_MESSAGES: Readonly<Record<number, string>> = Object.freeze({
  20051: "Stop/Restart Websocket Server (please reconnect)",
  20060:
    "Entering in Maintenance mode. Please pause any activity and resume after receiving the info message 20061 (it should take 120 seconds at most).",
  20061:
    "Maintenance ended. You can resume normal activity. It is advised to unsubscribe/subscribe again all channels.",
});

/** Options for {@linkcode startBitfinexDouble}. */
export interface BitfinexDoubleOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @default {0} */
  port?: number;
  /** Known symbols with their starting last price. @default {DEFAULT_PAIRS} */
  pairs?: Pairs;
  /** How often each subscribed channel gets a ticker update, in ms. @default {200} */
  tickMs?: number;
  /** Quiet time after which a channel gets `[CHAN_ID,"hb"]`, in ms. @default {15000} */
  heartbeatMs?: number;
  /** Seed of the price walk: the same seed gives the same prices. @default {1} */
  seed?: number;
  /** Channels one connection may hold (Bitfinex: 25). @default {25} */
  maxSubscriptions?: number;
  /** Closes the double when aborted. @default {undefined} */
  signal?: AbortSignal;
  /** Every Nth candles request gets a 429 (0 = never). @default {0} */
  candleRateLimitEvery?: number;
  /** `Retry-After` seconds of those 429s (none when undefined). @default {undefined} */
  candleRetryAfterSeconds?: number;
}

/** One ticker the double sent, over WebSocket or REST. */
export interface SentTicker {
  /** Trading symbol, such as `tBTCUSD`. */
  symbol: string;
  /** `[BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME, HIGH, LOW]`. */
  values: number[];
  /** When it was sent (ms since the epoch). */
  at: number;
  /** `ws` for channel messages, `rest` for REST answers. */
  via: "ws" | "rest";
  /** The WebSocket connection (1, 2, … in accept order); 0 for REST. */
  connection: number;
  /** The channel id; 0 for REST. */
  chanId: number;
  /** Whether it was the snapshot that follows `subscribed`. */
  snapshot: boolean;
}

/** One REST request the double received. */
export interface RestRequest {
  /** When it arrived (ms since the epoch). */
  at: number;
  /** The path, such as `/v2/tickers`. */
  path: string;
  /** The symbols asked for (`symbols=` or the path's symbol), as sent. */
  symbols: string[];
  /** The HTTP status of the answer. */
  status: number;
}

/** One open ticker subscription. */
export interface Subscription {
  /** The WebSocket connection (1, 2, … in accept order). */
  connection: number;
  /** The channel id given in `subscribed`. */
  chanId: number;
  /** Trading symbol, such as `tBTCUSD`. */
  symbol: string;
}

/** Options for {@linkcode BitfinexDouble.stall}. */
export interface StallOptions {
  /** Also stall connections accepted while stalled (no info message either). @default {false} */
  newConnections?: boolean;
}

/** Options for {@linkcode BitfinexDouble.sendInfo}. */
export interface SendInfoOptions {
  /** The `msg` field. @default {the text of INFO_MESSAGES, or ""} */
  msg?: string;
  /** Close every connection (code 1000) this long after sending. @default {undefined (stay open)} */
  closeAfterMs?: number;
}

/** Options for {@linkcode BitfinexDouble.rateLimit}. */
export interface RateLimitOptions {
  /** The JSON body of the 429 answers. @default {RATE_LIMIT_BODY} */
  body?: unknown;
  /** A `Retry-After` header, in seconds. @default {undefined (no header)} */
  retryAfterSeconds?: number;
}

/** A running double, from {@linkcode startBitfinexDouble}. */
export interface BitfinexDouble extends AsyncDisposable {
  /** `ws://127.0.0.1:PORT/ws/2`, for `BITFINEX_WS_URL`. */
  readonly wsUrl: string;
  /** `http://127.0.0.1:PORT/v2`, for `BITFINEX_REST_URL`. */
  readonly restUrl: string;
  /** The port it listens on. */
  readonly port: number;
  /** Every ticker sent, in order. */
  readonly sent: readonly SentTicker[];
  /** WebSocket connections accepted so far. */
  readonly connections: number;
  /** WebSocket connections open now. */
  readonly openConnections: number;
  /** Ticker subscriptions open now. */
  readonly subscriptions: Subscription[];
  /** Every REST request received, in order. */
  readonly restRequests: readonly RestRequest[];
  /** Whether a 20060 is in force (no updates, platform status 0). */
  readonly maintenance: boolean;
  /** Heartbeats (`[CHAN_ID,"hb"]`) sent so far, over every connection. */
  readonly heartbeats: number;
  /**
   * `true`: open connections get nothing more (no updates, heartbeats or
   * answers) but stay open. `false`: everything resumes.
   */
  stall(on: boolean, options?: StallOptions): void;
  /** Cuts every WebSocket without a close frame; resolves once they are gone. */
  dropConnections(): Promise<void>;
  /**
   * Sends `{"event":"info","code":code,"msg":…}` to every connection. 20060
   * starts maintenance (updates pause, platform status 0) and 20061 ends it.
   */
  sendInfo(code: number, options?: SendInfoOptions): void;
  /**
   * Sends any JSON event to every open connection, such as
   * `{"event":"conf","status":"OK","flags":65536}` (docs.bitfinex.com/docs/ws-general,
   * "Configuration"), for events a test wants a client to tolerate.
   */
  sendEvent(message: unknown): void;
  /** The next `requests` REST requests get HTTP 429. */
  rateLimit(requests: number, options?: RateLimitOptions): void;
  /**
   * The candle rows the double answers for `symbol` in `[from, to]`
   * (MTS inclusive), oldest first: `[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]`.
   */
  candleRows(symbol: string, from: number, to: number): number[][];
  /** Stops the server and closes every socket. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a double of Bitfinex's public v2 API on 127.0.0.1.
 *
 * Each known symbol walks from its starting price, one seeded step per update
 * (and per REST answer), so a seed always gives the same sequence of tickers.
 * Updates go out every `tickMs` to every channel subscribed to the symbol.
 *
 * @param options Port, pairs, timings and seed.
 * @returns The running {@linkcode BitfinexDouble}; `close()` it when done.
 * @throws {RangeError} If an option is out of range.
 *
 * @example Subscribe to a ticker
 * ```ts
 * import { startBitfinexDouble } from "./bitfinex_double.ts";
 *
 * await using double = await startBitfinexDouble({ tickMs: 50 });
 * const ws = new WebSocket(double.wsUrl);
 * ws.onopen = () =>
 *   ws.send(
 *     JSON.stringify({ event: "subscribe", channel: "ticker", symbol: "tBTCUSD" }),
 *   );
 * ws.onmessage = (event) => {
 *   // {"event":"info",…}, {"event":"subscribed",…,"chanId":1}, [1,[BID,…,LOW]], …
 *   if (Array.isArray(JSON.parse(event.data))) ws.close();
 * };
 * await new Promise((resolve) => ws.onclose = resolve);
 * ```
 */
export async function startBitfinexDouble(
  options: BitfinexDoubleOptions = {},
): Promise<BitfinexDouble> {
  const {
    port = 0,
    pairs = DEFAULT_PAIRS,
    tickMs = 200,
    heartbeatMs = 15_000,
    seed = 1,
    maxSubscriptions = 25,
    signal,
    candleRateLimitEvery = 0,
    candleRetryAfterSeconds,
  } = options;
  checkOptions({ port, pairs, tickMs, heartbeatMs, seed, maxSubscriptions });

  const markets = new Map<string, Market>(
    Object.entries(pairs).map(([symbol, price]) => [
      symbol,
      createMarket(symbol, price, seed),
    ]),
  );
  const serverId = crypto.randomUUID();
  const sent: SentTicker[] = [];
  const restRequests: RestRequest[] = [];
  const open = new Set<Connection>();
  const timers = new Set<Timer>();
  let accepted = 0;
  let nextChanId = 1;
  let stallNew = false;
  let maintenance = false;
  let heartbeats = 0;
  let rateLimited = 0;
  let rateLimitOptions: RateLimitOptions = {};
  let candleRequests = 0;

  const inner = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    handle,
  );
  const relay = startRelay(port, inner.addr.port);
  const ticker = setInterval(tick, tickMs);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => closing ??= shutdown();
  const onAbort = () => void close();
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) await close();

  return {
    wsUrl: `ws://127.0.0.1:${relay.port}/ws/2`,
    restUrl: `http://127.0.0.1:${relay.port}/v2`,
    port: relay.port,
    sent,
    restRequests,
    get connections() {
      return accepted;
    },
    get openConnections() {
      return open.size;
    },
    get subscriptions() {
      return [...open].flatMap((conn) =>
        [...conn.channels.values()].map(({ chanId, symbol }) => ({
          connection: conn.id,
          chanId,
          symbol,
        }))
      );
    },
    get maintenance() {
      return maintenance;
    },
    get heartbeats() {
      return heartbeats;
    },
    stall(on, { newConnections = false } = {}) {
      stallNew = on && newConnections;
      for (const conn of open) conn.stalled = on;
    },
    async dropConnections() {
      const targets = [...open];
      await relay.dropAll();
      await Promise.all(targets.map((conn) => conn.closed));
    },
    sendInfo(code, { msg = INFO_MESSAGES[code] ?? "", closeAfterMs } = {}) {
      if (code === 20060) maintenance = true;
      if (code === 20061) maintenance = false;
      for (const conn of open) send(conn, { event: "info", code, msg });
      if (closeAfterMs === undefined) return;
      const targets = [...open];
      const timer = setTimeout(() => {
        timers.delete(timer);
        for (const conn of targets) closeSocket(conn.socket, 1000, msg);
      }, closeAfterMs);
      timers.add(timer);
    },
    sendEvent(message) {
      for (const conn of open) send(conn, message);
    },
    rateLimit(requests, limitOptions = {}) {
      if (!Number.isInteger(requests) || requests < 0) {
        throw new RangeError(
          `Cannot rate-limit as 'requests' must be a non-negative integer: current value is ${requests}`,
        );
      }
      rateLimited = requests;
      rateLimitOptions = limitOptions;
    },
    candleRows: (symbol, from, to) =>
      pairs[symbol] === undefined
        ? []
        : historyRows(symbol, pairs[symbol], seed, from, to),
    close,
    [Symbol.asyncDispose]: close,
  };

  async function shutdown(): Promise<void> {
    signal?.removeEventListener("abort", onAbort);
    clearInterval(ticker);
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    await relay.close();
    await Promise.all([...open].map((conn) => conn.closed));
    await inner.shutdown();
  }

  function handle(request: Request): Response {
    const url = new URL(request.url);
    if (url.pathname === "/ws/2") {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("expected a WebSocket upgrade", { status: 426 });
      }
      const { socket, response } = Deno.upgradeWebSocket(request);
      accept(socket);
      return response;
    }
    return answerRest(url);
  }

  function accept(socket: WebSocket): void {
    const closed = Promise.withResolvers<void>();
    const conn: Connection = {
      id: ++accepted,
      socket,
      channels: new Map(),
      stalled: stallNew,
      closed: closed.promise,
    };
    open.add(conn);
    socket.onopen = () =>
      send(conn, {
        event: "info",
        version: 2,
        serverId,
        platform: { status: maintenance ? 0 : 1 },
      });
    socket.onmessage = (event) => receive(conn, event.data);
    socket.onerror = () => {};
    socket.onclose = () => {
      for (const channel of conn.channels.values()) {
        clearTimeout(channel.heartbeat);
      }
      conn.channels.clear();
      open.delete(conn);
      closed.resolve();
    };
  }

  function receive(conn: Connection, data: unknown): void {
    if (conn.stalled) return;
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(String(data));
    } catch {
      request = {};
    }
    if (request === null || typeof request !== "object") request = {};
    switch (request.event) {
      case "subscribe":
        return subscribe(conn, request);
      case "unsubscribe":
        return unsubscribe(conn, request);
      case "ping":
        send(conn, { event: "pong", ts: Date.now(), cid: request.cid });
        return;
      case "conf":
        send(conn, { event: "conf", status: "OK", flags: request.flags });
        return;
      default:
        send(conn, { event: "error", msg: "Unknown event", code: 10000 });
    }
  }

  function subscribe(
    conn: Connection,
    request: Record<string, unknown>,
  ): void {
    const channel = request.channel;
    const symbol = typeof request.symbol === "string"
      ? request.symbol
      : typeof request.pair === "string"
      ? `t${request.pair}`
      : "";
    const echo = { channel, symbol, pair: symbol.slice(1) };
    const fail = (code: number, msg: string): void => {
      send(conn, { ...echo, event: "error", msg, code });
    };
    if (channel !== "ticker") return fail(10302, "Unknown channel");
    const market = markets.get(symbol);
    if (!market) return fail(10300, "symbol: invalid");
    const channels = [...conn.channels.values()];
    if (channels.some((c) => c.symbol === symbol)) {
      return fail(10301, "subscribe: dup");
    }
    if (channels.length >= maxSubscriptions) {
      return fail(10305, "Reached limit of open channels");
    }
    const sub: Channel = { chanId: nextChanId++, symbol };
    conn.channels.set(sub.chanId, sub);
    send(conn, {
      event: "subscribed",
      channel: "ticker",
      chanId: sub.chanId,
      symbol,
      pair: symbol.slice(1),
    });
    sendTicker(conn, sub, market.values, true);
  }

  function unsubscribe(
    conn: Connection,
    request: Record<string, unknown>,
  ): void {
    const chanId = request.chanId;
    const sub = typeof chanId === "number"
      ? conn.channels.get(chanId)
      : undefined;
    if (!sub) {
      send(conn, {
        event: "error",
        msg: "unsubscribe: invalid",
        code: 10400,
        chanId,
      });
      return;
    }
    clearTimeout(sub.heartbeat);
    conn.channels.delete(sub.chanId);
    send(conn, { event: "unsubscribed", status: "OK", chanId: sub.chanId });
  }

  function tick(): void {
    if (maintenance) return;
    const listeners = new Map<string, [Connection, Channel][]>();
    for (const conn of open) {
      if (conn.stalled) continue;
      for (const sub of conn.channels.values()) {
        const list = listeners.get(sub.symbol) ?? [];
        list.push([conn, sub]);
        listeners.set(sub.symbol, list);
      }
    }
    for (const [symbol, list] of listeners) {
      const market = markets.get(symbol)!;
      stepMarket(market);
      for (const [conn, sub] of list) {
        sendTicker(conn, sub, market.values, false);
      }
    }
  }

  function sendTicker(
    conn: Connection,
    sub: Channel,
    values: number[],
    snapshot: boolean,
  ): void {
    if (sendOnChannel(conn, sub, [sub.chanId, values])) {
      sent.push({
        symbol: sub.symbol,
        values: [...values],
        at: Date.now(),
        via: "ws",
        connection: conn.id,
        chanId: sub.chanId,
        snapshot,
      });
    }
  }

  function sendOnChannel(
    conn: Connection,
    sub: Channel,
    message: unknown,
  ): boolean {
    clearTimeout(sub.heartbeat);
    sub.heartbeat = setTimeout(() => {
      if (
        conn.channels.get(sub.chanId) === sub &&
        sendOnChannel(conn, sub, [sub.chanId, "hb"])
      ) heartbeats++;
    }, heartbeatMs);
    return send(conn, message);
  }

  function send(conn: Connection, message: unknown): boolean {
    if (conn.stalled || conn.socket.readyState !== WebSocket.OPEN) {
      return false;
    }
    conn.socket.send(JSON.stringify(message));
    return true;
  }

  function answerRest(url: URL): Response {
    const path = url.pathname;
    const tickerPath = path.match(/^\/v2\/ticker\/([^/]+)$/);
    const symbols = tickerPath
      ? [decodeURIComponent(tickerPath[1])]
      : path.startsWith("/v2/candles/")
      ? [decodeURIComponent(path.split(":").at(-1)!.split("/")[0])]
      : path === "/v2/tickers"
      ? (url.searchParams.get("symbols") ?? "").split(",").filter(Boolean)
      : [];
    const reply = (status: number, body: unknown, headers = {}) => {
      restRequests.push({ at: Date.now(), path, symbols, status });
      return Response.json(body, { status, headers });
    };

    if (rateLimited > 0) {
      rateLimited--;
      const { body = RATE_LIMIT_BODY, retryAfterSeconds } = rateLimitOptions;
      const headers = retryAfterSeconds === undefined
        ? {}
        : { "retry-after": String(retryAfterSeconds) };
      return reply(429, body, headers);
    }
    const candlePath = path.match(/^\/v2\/candles\/trade:1m:([^/]+)\/hist$/);
    if (candlePath) {
      candleRequests++;
      if (
        candleRateLimitEvery > 0 && candleRequests % candleRateLimitEvery === 0
      ) {
        const headers = candleRetryAfterSeconds === undefined
          ? {}
          : { "retry-after": String(candleRetryAfterSeconds) };
        return reply(429, RATE_LIMIT_BODY, headers);
      }
      return answerCandles(decodeURIComponent(candlePath[1]), url, reply);
    }
    if (path === "/v2/platform/status") {
      return reply(200, [maintenance ? 0 : 1]);
    }
    if (tickerPath) {
      const market = markets.get(symbols[0]);
      if (!market) return reply(500, ["error", 10020, "symbol: invalid"]);
      return reply(200, restTicker(market));
    }
    if (path === "/v2/tickers") {
      if (symbols.length === 0) {
        return reply(500, ["error", 10020, "symbols: invalid"]);
      }
      const wanted = symbols.length === 1 && symbols[0] === "ALL"
        ? [...markets.keys()]
        : symbols;
      const rows = wanted.flatMap((symbol) => {
        const market = markets.get(symbol);
        return market ? [[symbol, ...restTicker(market)]] : [];
      });
      return reply(200, rows);
    }
    return reply(404, ["error", 10020, "not found"]);
  }

  function answerCandles(
    symbol: string,
    url: URL,
    reply: (status: number, body: unknown) => Response,
  ): Response {
    const price = pairs[symbol];
    if (price === undefined) {
      return reply(500, ["error", 10020, "symbol: invalid"]);
    }
    const q = url.searchParams;
    const limit = Math.min(Number(q.get("limit") ?? 100) || 100, 10_000);
    const sort = Number(q.get("sort") ?? -1);
    const now = Date.now();
    const end = Math.min(Number(q.get("end") ?? now), now);
    const start = Number(q.get("start") ?? end - limit * 60_000);
    if (!Number.isFinite(start) || !Number.isFinite(end)) {
      return reply(500, ["error", 10020, "time_interval: invalid"]);
    }
    // Bitfinex keeps the `limit` rows nearest the sort's start.
    const rows = historyRows(symbol, price, seed, start, end);
    const page = sort === 1
      ? rows.slice(0, limit)
      : rows.reverse().slice(0, limit);
    return reply(200, page);
  }

  function restTicker(market: Market): number[] {
    stepMarket(market);
    sent.push({
      symbol: market.symbol,
      values: [...market.values],
      at: Date.now(),
      via: "rest",
      connection: 0,
      chanId: 0,
      snapshot: false,
    });
    return [...market.values];
  }
}

type Timer = ReturnType<typeof setTimeout>;

interface Channel {
  chanId: number;
  symbol: string;
  heartbeat?: Timer;
}

interface Connection {
  id: number;
  socket: WebSocket;
  channels: Map<number, Channel>;
  stalled: boolean;
  closed: Promise<void>;
}

function closeSocket(socket: WebSocket, code: number, reason: string): void {
  try {
    socket.close(code, reason.slice(0, 120));
  } catch {
    // already closing
  }
}

function checkOptions(
  options: Required<
    Omit<
      BitfinexDoubleOptions,
      "signal" | "candleRateLimitEvery" | "candleRetryAfterSeconds"
    >
  >,
): void {
  const { port, pairs, tickMs, heartbeatMs, seed, maxSubscriptions } = options;
  const fail = (name: string, rule: string, value: unknown) => {
    throw new RangeError(
      `Cannot start the Bitfinex double as '${name}' must be ${rule}: current value is ${
        JSON.stringify(value)
      }`,
    );
  };
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail("port", "an integer from 0 to 65535", port);
  }
  if (!(tickMs > 0)) fail("tickMs", "a positive number", tickMs);
  if (!(heartbeatMs > 0)) fail("heartbeatMs", "a positive number", heartbeatMs);
  if (!Number.isFinite(seed)) fail("seed", "a finite number", seed);
  if (!Number.isInteger(maxSubscriptions) || maxSubscriptions < 1) {
    fail("maxSubscriptions", "a positive integer", maxSubscriptions);
  }
  for (const [symbol, price] of Object.entries(pairs)) {
    if (!/^t[A-Z0-9:]+$/.test(symbol)) {
      fail("pairs", "trading symbols such as tBTCUSD", symbol);
    }
    if (!(Number.isFinite(price) && price > 0)) {
      fail(`pairs.${symbol}`, "a positive price", price);
    }
  }
}

// --- candle history: one pure function of (seed, symbol, minute) ---------

/**
 * The rows of `[from, to]` (MTS inclusive), oldest first. A minute has no
 * row about one time in twelve; prices wander slowly around `price`.
 */
function historyRows(
  symbol: string,
  price: number,
  seed: number,
  from: number,
  to: number,
): number[][] {
  const rows: number[][] = [];
  const first = Math.ceil(from / 60_000) * 60_000;
  for (let mts = first; mts <= to; mts += 60_000) {
    const random = mulberry32(hash(`${seed}:${symbol}:${mts}`));
    if (random() < 1 / 12) continue;
    const minute = mts / 60_000;
    const level = price * (1 + 0.02 * Math.sin(minute / 180));
    const open = significant(level * (1 + (random() - 0.5) * 0.002));
    const close = significant(level * (1 + (random() - 0.5) * 0.002));
    const high = significant(Math.max(open, close) * (1 + random() * 0.001));
    const low = significant(Math.min(open, close) * (1 - random() * 0.001));
    rows.push([mts, open, close, high, low, decimals(random() * 10, 8)]);
  }
  return rows;
}

// --- the market: a seeded random walk per symbol -------------------------

interface Market {
  symbol: string;
  random: () => number;
  open: number;
  last: number;
  high: number;
  low: number;
  volume: number;
  /** `[BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME, HIGH, LOW]`. */
  values: number[];
}

/** Largest relative move of the last price in one step. */
const MAX_STEP = 0.002;

function createMarket(symbol: string, price: number, seed: number): Market {
  const random = mulberry32(hash(`${seed}:${symbol}`));
  const open = significant(price);
  const market: Market = {
    symbol,
    random,
    open,
    last: open,
    high: significant(open * 1.01),
    low: significant(open * 0.99),
    volume: decimals(1000 + random() * 9000, 8),
    values: [],
  };
  market.values = quote(market);
  return market;
}

function stepMarket(market: Market): void {
  const move = (market.random() * 2 - 1) * MAX_STEP;
  market.last = significant(market.last * (1 + move));
  market.high = Math.max(market.high, market.last);
  market.low = Math.min(market.low, market.last);
  market.volume = decimals(market.volume + market.random() * 5, 8);
  market.values = quote(market);
}

function quote(market: Market): number[] {
  const { random, open, last, high, low, volume } = market;
  const change = significant(last - open);
  return [
    significant(last * (1 - 0.0001)),
    decimals(0.1 + random() * 40, 8),
    significant(last * (1 + 0.0001)),
    decimals(0.1 + random() * 40, 8),
    change,
    decimals((last - open) / open, 4),
    last,
    volume,
    high,
    low,
  ];
}

/** Rounds to 5 significant digits, as Bitfinex prices are. */
function significant(value: number): number {
  return value === 0 ? 0 : Number(value.toPrecision(5));
}

function decimals(value: number, places: number): number {
  return Number(value.toFixed(places)) + 0;
}

/** FNV-1a, 32 bits. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A small seeded PRNG giving numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// --- the TCP relay in front of Deno.serve --------------------------------

interface Relay {
  port: number;
  dropAll(): Promise<void>;
  close(): Promise<void>;
}

interface Pipe {
  cut(): void;
  done: Promise<void>;
}

/**
 * Listens on `port` and relays every connection to `target`, so that a
 * connection can be cut at the TCP level (no WebSocket close frame).
 */
function startRelay(port: number, target: number): Relay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const pipes = new Set<Pipe>();
  const opening = new Set<Promise<void>>();

  const accepting = (async () => {
    for await (const client of listener) {
      const opened = connect(client).finally(() => opening.delete(opened));
      opening.add(opened);
    }
  })().catch(() => {});

  async function connect(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: target });
    } catch {
      tryClose(client);
      return;
    }
    let cut = false;
    const pipe: Pipe = {
      cut() {
        if (cut) return;
        cut = true;
        tryClose(client);
        tryClose(upstream);
      },
      done: Promise.resolve(),
    };
    pipe.done = Promise.allSettled([
      client.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(client.writable),
    ]).then(() => {
      pipe.cut();
      pipes.delete(pipe);
    });
    pipes.add(pipe);
  }

  async function dropAll(): Promise<void> {
    await Promise.all([...opening]);
    const current = [...pipes];
    for (const pipe of current) pipe.cut();
    await Promise.all(current.map((pipe) => pipe.done));
  }

  return {
    port: (listener.addr as Deno.NetAddr).port,
    dropAll,
    async close() {
      listener.close();
      await accepting;
      await dropAll();
    },
  };
}

function tryClose(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
