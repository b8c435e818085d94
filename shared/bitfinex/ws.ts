/**
 * Bitfinex public API v2 WebSocket ticker channel as a source of
 * {@linkcode Ticker}s: heartbeats, a watchdog, info codes and reconnects.
 *
 * @module
 */
import type { Logger } from "@cryptocandles/runtime";
import { backoff, delay, type RetryOptions } from "@cryptocandles/runtime";
import { type Ticker, tickerFromArray } from "@cryptocandles/ticker";
import { UnknownPairError } from "./errors.ts";

/** Options for {@linkcode bitfinexWsTicks}. */
export interface WsOptions {
  /** The v2 WebSocket URL. */
  url: string;
  /** Trading pairs to subscribe, such as `tBTCUSD`. */
  coins: string[];
  /** Stops the stream: the iterator ends. */
  signal: AbortSignal;
  /** Where connection events are logged. */
  log: Logger;
  /** Reconnect when nothing (not even a heartbeat) arrives for this long, in ms. @default {30000} */
  watchdogMs?: number;
  /** Reconnect back-off. @default {{ minTimeout: 1000, maxTimeout: 30000, jitter: 0.5 }} */
  backoff?: RetryOptions;
  /**
   * Reconnect (with back-off) when a maintenance (info 20060, or
   * `platform.status: 0` on connect) has not ended with 20061 after this
   * long, in ms. Bitfinex says it "should take 120 seconds at most".
   * @default {300000}
   */
  maintenanceMs?: number;
  /** Subscribe anyway when no info event came this long after connecting, in ms. @default {5000} */
  infoWaitMs?: number;
  /** Clock for event times, the watchdog and the maintenance limit. @default {Date.now} */
  now?: () => number;
  /**
   * Told when a connection is subscribed again after it was lost (a drop,
   * the watchdog, info 20051), once per outage: the ticks of the time in
   * between were never received, so the caller can fetch that history.
   * Not told on the first connection, nor on a resubscription after 20061.
   * @default {undefined}
   */
  onReconnect?: (event: ReconnectEvent) => void;
}

/** What {@linkcode WsOptions.onReconnect} is told. */
export interface ReconnectEvent {
  /** The connection (0, 1, … per group of 25 pairs). */
  connection: number;
  /** Milliseconds from the loss of the link to the new subscription, on the clock. */
  downMs: number;
}

/** Bitfinex's limit of channels on one connection. */
const MAX_CHANNELS = 25;
/** How long to wait for a closing WebSocket to confirm. */
const CLOSE_GRACE_MS = 2000;

/**
 * Streams tickers from Bitfinex's WebSocket ticker channel. One connection
 * per 25 pairs; each reconnects with jittered exponential back-off and
 * resubscribes when it drops, when nothing arrives for `watchdogMs`
 * (heartbeats count), or on info 20051. Channels are subscribed once the
 * on-connect info event says the platform is up; `platform.status: 0`
 * (maintenance, docs.bitfinex.com/docs/ws-general "Info Messages") and
 * info 20060 pause the watchdog and wait for 20061, which (re)subscribes; a
 * maintenance longer than `maintenanceMs` reconnects with back-off. `conf`,
 * `pong` and `unsubscribed` events are tolerated. Once a lost connection
 * is subscribed again, `onReconnect` is told (and a line logged).
 *
 * @param options URL, pairs, signal, logger, watchdog and back-off.
 * @returns Tickers as they arrive, event time = arrival time.
 * @throws {UnknownPairError} When Bitfinex refuses a pair.
 *
 * @example
 * ```ts ignore
 * const controller = new AbortController();
 * for await (const ticker of bitfinexWsTicks({ url, coins: ["tBTCUSD"], signal: controller.signal, log })) {
 *   console.log(ticker.nombre, ticker.precio_ultimo);
 * }
 * ```
 */
export function bitfinexWsTicks(options: WsOptions): AsyncIterable<Ticker> {
  // A fatal error on one connection stops the others too: the queue ends
  // with the error first, so the iterator throws rather than just ending.
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  const queue = pushQueue<Ticker>(signal);
  const groups: string[][] = [];
  for (let i = 0; i < options.coins.length; i += MAX_CHANNELS) {
    groups.push(options.coins.slice(i, i + MAX_CHANNELS));
  }
  Promise.all(
    groups.map((coins, i) =>
      connectionLoop({ ...options, coins, signal }, i, queue.push).catch(
        (error) => {
          queue.end(error);
          stop.abort();
        },
      )
    ),
  ).then(() => queue.end());
  return queue.iterable;
}

async function connectionLoop(
  options: WsOptions,
  index: number,
  push: (ticker: Ticker) => void,
): Promise<void> {
  const { signal, log, now = Date.now } = options;
  const policy = {
    minTimeout: 1000,
    maxTimeout: 30_000,
    jitter: 0.5,
    ...options.backoff,
  };
  let failures = 0;
  let lostAt: number | undefined;
  const onSubscribed = () => {
    if (lostAt === undefined) return;
    const downMs = now() - lostAt;
    lostAt = undefined;
    log.info(`bitfinex: reconnected after ${Math.round(downMs / 1000)} s`, {
      connection: index,
      downMs,
    });
    try {
      options.onReconnect?.({ connection: index, downMs });
    } catch (error) {
      log.warn(`bitfinex: onReconnect failed: ${(error as Error).message}`);
    }
  };
  while (!signal.aborted) {
    const outcome = await runConnection(options, index, push, onSubscribed);
    if (signal.aborted) return;
    if (outcome.fatal) throw outcome.fatal;
    lostAt ??= now();
    failures = outcome.subscribed ? 1 : failures + 1;
    const wait = backoff(failures, policy);
    log.warn(`bitfinex: ${outcome.reason}; reconnecting in ${wait} ms`, {
      connection: index,
      at: now(),
    });
    await delay(wait, signal).catch(() => {});
  }
}

interface Outcome {
  reason: string;
  subscribed: boolean;
  fatal?: Error;
}

function runConnection(
  options: WsOptions,
  index: number,
  push: (ticker: Ticker) => void,
  onSubscribed: () => void,
): Promise<Outcome> {
  const {
    url,
    coins,
    signal,
    log,
    watchdogMs = 30_000,
    maintenanceMs = 300_000,
    infoWaitMs = 5000,
    now = Date.now,
  } = options;
  return new Promise((resolve) => {
    const channels = new Map<number, string>();
    let lastMessage = now();
    let paused = false;
    let pausedAt = 0;
    let subscribing = false;
    let infoTimer: ReturnType<typeof setTimeout> | undefined;
    let subscribed = false;
    let outcome: Outcome | undefined;
    const ws = new WebSocket(url);
    let settled = false;
    let closeTimer: ReturnType<typeof setTimeout> | undefined;
    const settle = (value: Outcome) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      clearTimeout(closeTimer);
      clearTimeout(infoTimer);
      signal.removeEventListener("abort", onAbort);
      ws.onmessage = null;
      resolve(value);
    };
    const finish = (value: Outcome) => {
      outcome ??= value;
      if (
        ws.readyState === WebSocket.OPEN ||
        ws.readyState === WebSocket.CONNECTING
      ) ws.close();
      // A dead link never completes the close handshake: stop waiting for it.
      closeTimer ??= setTimeout(() => settle(outcome!), CLOSE_GRACE_MS);
    };
    const subscribeAll = () => {
      subscribing = true;
      clearTimeout(infoTimer);
      channels.clear();
      for (const symbol of coins) {
        ws.send(
          JSON.stringify({ event: "subscribe", channel: "ticker", symbol }),
        );
      }
    };
    const pause = () => {
      if (!paused) pausedAt = now();
      paused = true;
    };
    const watchdog = setInterval(() => {
      if (paused && now() - pausedAt > maintenanceMs) {
        finish({
          reason: `maintenance did not end (no info 20061) within ${
            Math.round(maintenanceMs / 1000)
          } s`,
          subscribed,
        });
      } else if (!paused && now() - lastMessage > watchdogMs) {
        finish({
          reason: `nothing received for ${
            Math.round((now() - lastMessage) / 1000)
          } s`,
          subscribed,
        });
      }
    }, Math.min(1000, watchdogMs / 4));
    const onAbort = () => finish({ reason: "stopped", subscribed });
    signal.addEventListener("abort", onAbort, { once: true });

    ws.onopen = () => {
      log.info("bitfinex: connected", {
        connection: index,
        url,
        pairs: coins.length,
      });
      // Bitfinex sends its info event first; subscribe anyway if it does not.
      infoTimer = setTimeout(() => {
        if (!subscribing && !paused) subscribeAll();
      }, infoWaitMs);
    };
    ws.onmessage = (event) => {
      lastMessage = now();
      let message: unknown;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        log.warn("bitfinex: ignored a message that is not JSON", {
          data: String(event.data).slice(0, 80),
        });
        return;
      }
      if (Array.isArray(message)) {
        const symbol = channels.get(message[0]);
        if (
          symbol === undefined || message[1] === "hb" ||
          !Array.isArray(message[1])
        ) return;
        try {
          push(tickerFromArray(symbol, message[1], now()));
        } catch (error) {
          log.warn(`bitfinex: ${(error as Error).message}`);
        }
        return;
      }
      const msg = message as {
        event?: string;
        code?: number;
        msg?: string;
        chanId?: number;
        symbol?: string;
        status?: string;
        platform?: { status?: number };
      };
      if (msg.event === "info" && msg.code === undefined) {
        if (msg.platform?.status === 0) {
          pause();
          log.warn(
            "bitfinex: the platform is in maintenance (info platform.status 0); staying connected and waiting for info 20061 before subscribing",
            { connection: index },
          );
        } else if (!subscribing && !paused) subscribeAll();
        return;
      }
      if (msg.event === "conf") {
        if (msg.status !== "OK") {
          log.warn(`bitfinex: conf answered ${msg.status}`, {
            connection: index,
          });
        }
        return;
      }
      if (
        msg.event === "subscribed" && msg.chanId !== undefined && msg.symbol
      ) {
        channels.set(msg.chanId, msg.symbol);
        if (!subscribed) onSubscribed();
        subscribed = true;
      } else if (msg.event === "error") {
        const pair = msg.symbol ?? coins.find((c) => msg.msg?.includes(c));
        if (
          pair &&
          (msg.code === 10001 || msg.code === 10300 ||
            /symbol/i.test(msg.msg ?? ""))
        ) {
          finish({
            reason: "unknown pair",
            subscribed,
            fatal: new UnknownPairError([pair], `${msg.code} ${msg.msg}`),
          });
        } else {
          log.warn(`bitfinex: error ${msg.code} ${msg.msg}`);
        }
      } else if (msg.event === "info" && msg.code === 20051) {
        finish({ reason: "Bitfinex asked to reconnect (20051)", subscribed });
      } else if (msg.event === "info" && msg.code === 20060) {
        pause();
        log.warn("bitfinex: maintenance started (20060), pausing");
      } else if (msg.event === "info" && msg.code === 20061) {
        paused = false;
        log.info("bitfinex: maintenance ended (20061), resubscribing");
        for (const chanId of channels.keys()) {
          ws.send(JSON.stringify({ event: "unsubscribe", chanId }));
        }
        subscribeAll();
      }
    };
    ws.onerror = (event) => {
      const detail = (event as ErrorEvent).message ?? "error";
      finish({ reason: `connection error: ${detail}`, subscribed });
    };
    ws.onclose = (event) =>
      settle(
        outcome ?? { reason: `connection closed (${event.code})`, subscribed },
      );
  });
}

/** A single-consumer queue that an async iterator drains. */
function pushQueue<T>(signal: AbortSignal) {
  const items: T[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let failure: unknown;
  const end = (error?: unknown) => {
    done = true;
    failure ??= error;
    wake?.();
  };
  signal.addEventListener("abort", () => end(), { once: true });
  return {
    push(item: T) {
      items.push(item);
      wake?.();
    },
    end,
    iterable: {
      async *[Symbol.asyncIterator]() {
        while (true) {
          while (items.length > 0) yield items.shift()!;
          if (failure) throw failure;
          if (done) return;
          await new Promise<void>((resolve) => wake = resolve);
          wake = undefined;
        }
      },
    },
  };
}
