/**
 * History before the first live tick, as 1-minute candles: from Bitfinex's
 * candles endpoint, from the synthetic walk, or from a recording; which
 * minutes to fetch given what is stored; and the backfill loop that hands
 * pages to a sender. Knows nothing of Kafka: the producer passes `send`.
 *
 * @module
 */
import {
  bitfinexCandles,
  type Candle,
  type CandleProgress,
  floorMinute,
  MINUTE_MS,
} from "@cryptocandles/bitfinex";
import type { Config } from "@cryptocandles/config";
import type { Logger } from "@cryptocandles/runtime";
import { mulberry32, START_PRICES } from "./sources.ts";

/** What is stored for one pair: its oldest and newest minute and the newest close. */
export interface StoredSpan {
  oldest: number;
  newest: number;
  newestClose: number;
}

/** A range of minutes to fetch, `[from, to)`, and the close just before it when known. */
export interface BackfillRange {
  from: number;
  to: number;
  previousClose?: number;
}

/**
 * The minutes missing for one pair in `[now − backfillMs, now)` (whole
 * minutes; the current minute belongs to live ticks): all of it when
 * nothing is stored, else the hole after the newest stored minute (forward)
 * and the one before the oldest (backward).
 *
 * @param stored What is stored for the pair, if anything.
 * @param options The clock and the history wanted.
 * @returns The ranges to fetch, newest hole first (empty when nothing is missing).
 *
 * @example
 * ```ts
 * import { planBackfill } from "@cryptocandles/sources";
 * const now = 10 * 60_000 + 5_000;
 * console.log(planBackfill(undefined, { now, backfillMs: 5 * 60_000 })); // [{ from: 300000, to: 600000 }]
 * ```
 */
export function planBackfill(
  stored: StoredSpan | undefined,
  options: { now: number; backfillMs: number },
): BackfillRange[] {
  const to = floorMinute(options.now);
  const start = floorMinute(options.now - options.backfillMs);
  if (options.backfillMs <= 0 || start >= to) return [];
  if (!stored) return [{ from: start, to }];
  const ranges: BackfillRange[] = [];
  const forward = Math.max(stored.newest + MINUTE_MS, start);
  if (forward < to) {
    ranges.push({
      from: forward,
      to,
      ...(forward === stored.newest + MINUTE_MS
        ? { previousClose: stored.newestClose }
        : {}),
    });
  }
  if (stored.oldest > start) {
    ranges.push({ from: start, to: Math.min(stored.oldest, to) });
  }
  return ranges;
}

/** Options for {@linkcode historyCandles}. */
export interface HistoryOptions {
  signal: AbortSignal;
  log: Logger;
  /** Told after every page. @default {undefined} */
  onProgress?: (progress: CandleProgress) => void;
  /** Wait after a Bitfinex rate limit without Retry-After, in ms. @default {60000} */
  rateLimitWaitMs?: number;
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

/**
 * The 1-minute candles of one pair over a range, from the configured
 * source: Bitfinex's candles endpoint for `bitfinex-ws`/`bitfinex-rest`,
 * the seeded synthetic walk (run backwards from the price the live walk
 * starts at, so history ends where live begins), or the recording's ticks
 * for `replay`.
 *
 * @param config The configuration (source, Bitfinex URL, seed, replay file).
 * @param pair The pair.
 * @param range The minutes wanted and the close before them.
 * @param options Signal, logger, progress, rate-limit wait.
 * @returns Pages of candles in start order.
 * @throws {UnknownPairError} When Bitfinex does not know the pair.
 *
 * @example
 * ```ts ignore
 * for await (const page of historyCandles(config, "tBTCUSD", { from, to }, { signal, log })) send(page);
 * ```
 */
export async function* historyCandles(
  config: Config,
  pair: string,
  range: BackfillRange,
  options: HistoryOptions,
): AsyncGenerator<Candle[]> {
  const { signal, log, onProgress } = options;
  const from = floorMinute(range.from);
  const to = floorMinute(range.to);
  if (config.source === "synthetic") {
    const page = syntheticCandles(pair, {
      from,
      to,
      seed: config.synthetic.seed,
    });
    onProgress?.({ pair, candles: page.length, pagesLeft: 0 });
    if (page.length > 0) yield page;
    return;
  }
  if (config.source === "replay") {
    const page = await recordedCandles(config.replay.file!, pair, { from, to });
    onProgress?.({ pair, candles: page.length, pagesLeft: 0 });
    if (page.length > 0) yield page;
    return;
  }
  yield* bitfinexCandles({
    url: config.bitfinex.restUrl,
    pair,
    from,
    to,
    previousClose: range.previousClose,
    signal,
    log,
    onProgress,
    rateLimitWaitMs: options.rateLimitWaitMs,
    fetch: options.fetch,
  });
}

/**
 * The synthetic walk's 1-minute candles for `[from, to)`: one step a
 * second with the live walk's volatility (20 % a day), run backwards from
 * the pair's starting price at `to`; volume = the sizes traded, as the
 * synthetic ticks add to their daily volume. The same seed, pair and range
 * give the same candles.
 *
 * @param pair The pair.
 * @param options The range and the seed.
 * @returns One candle per minute, oldest first.
 *
 * @example
 * ```ts
 * import { syntheticCandles } from "@cryptocandles/sources";
 * const candles = syntheticCandles("tBTCUSD", { from: 0, to: 3_600_000, seed: 42 });
 * console.log(candles.length); // 60
 * ```
 */
export function syntheticCandles(
  pair: string,
  options: { from: number; to: number; seed: number },
): Candle[] {
  const from = floorMinute(options.from);
  const to = floorMinute(options.to);
  const random = mulberry32(options.seed ^ 0x5eed ^ hashText(pair));
  const gaussian = () =>
    Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const sigma = 0.2 / Math.sqrt(86_400);
  let price = START_PRICES[pair] ?? 100;
  const out: Candle[] = [];
  for (let start = to - MINUTE_MS; start >= from; start -= MINUTE_MS) {
    const close = price;
    let high = price, low = price, volume = 0;
    for (let second = 0; second < 60; second++) {
      price /= Math.exp(-0.5 * sigma ** 2 + sigma * gaussian());
      high = Math.max(high, price);
      low = Math.min(low, price);
      volume += Math.round(random() * 1e6) / 1e6 + 0.01;
    }
    out.push({
      pair,
      interval: "1m",
      start,
      open: price,
      high,
      low,
      close,
      volume,
      empty: false,
    });
  }
  return out.reverse();
}

/** Candles of the recording's ticks of `pair` in `[from, to)`; volume = the sizes traded (bid_size). */
async function recordedCandles(
  file: string,
  pair: string,
  range: { from: number; to: number },
): Promise<Candle[]> {
  const byMinute = new Map<number, Candle>();
  for (const line of (await Deno.readTextFile(file)).split("\n")) {
    if (line.trim() === "") continue;
    const t = JSON.parse(line);
    if (t.nombre !== pair || t.event_time < range.from) continue;
    if (t.event_time >= range.to) continue;
    const start = floorMinute(t.event_time);
    const price = t.precio_ultimo;
    const c = byMinute.get(start);
    if (!c) {
      byMinute.set(start, {
        pair,
        interval: "1m",
        start,
        open: price,
        high: price,
        low: price,
        close: price,
        volume: t.bid_size ?? 0,
        empty: false,
      });
    } else {
      c.high = Math.max(c.high, price);
      c.low = Math.min(c.low, price);
      c.close = price;
      c.volume += t.bid_size ?? 0;
    }
  }
  return [...byMinute.values()].sort((a, b) => a.start - b.start);
}

/** Options for {@linkcode backfill}. */
export interface BackfillOptions {
  /** What is stored per pair (updated as pages are sent). */
  stored: Map<string, StoredSpan>;
  /** Sends one page of candles; resolves once it is acknowledged. */
  send: (candles: Candle[]) => Promise<void>;
  signal: AbortSignal;
  log: Logger;
  /** Clock. @default {Date.now} */
  now?: () => number;
  /** Told after every page (launch's status shows it). @default {undefined} */
  onProgress?: (progress: CandleProgress) => void;
  /** Wait after a Bitfinex rate limit without Retry-After, in ms. @default {60000} */
  rateLimitWaitMs?: number;
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

/**
 * Fills the history of every configured pair up to the current minute:
 * plans the missing ranges ({@linkcode planBackfill}) against what is
 * stored, fetches them ({@linkcode historyCandles}) and sends them page by
 * page; then plans again, since minutes passed while it ran, until nothing
 * is missing (at most 5 rounds).
 *
 * @param config The configuration (`BACKFILL`, source, coins).
 * @param options What is stored, the sender, signal, logger and clock.
 * @returns Candles sent per pair.
 * @throws {UnknownPairError} When Bitfinex does not know a pair.
 *
 * @example
 * ```ts ignore
 * const sent = await backfill(config, { stored, send: (page) => sendCandles(page), signal, log });
 * ```
 */
export async function backfill(
  config: Config,
  options: BackfillOptions,
): Promise<Record<string, number>> {
  const { stored, send, signal, log, now = Date.now } = options;
  const sent = Object.fromEntries(config.coins.map((c) => [c, 0]));
  const began = now();
  const backfillMs = config.producer.backfillMs;
  let lastTo = -Infinity;
  for (let round = 0; round < 5 && !signal.aborted; round++) {
    const at = now();
    // After the first round only the minutes that passed meanwhile are new.
    const plans = config.coins.map((pair) =>
      [
        pair,
        planBackfill(stored.get(pair), { now: at, backfillMs })
          .filter((r) => r.to > lastTo)
          .map((r) => r.from < lastTo ? { from: lastTo, to: r.to } : r),
      ] as const
    );
    lastTo = floorMinute(at);
    if (plans.every(([, ranges]) => ranges.length === 0)) break;
    for (const [pair, ranges] of plans) {
      for (const range of ranges) {
        const pages = historyCandles(config, pair, range, {
          ...options,
          onProgress: (p) => {
            options.onProgress?.({ ...p, candles: sent[pair] + p.candles });
            log.info(
              `backfill: ${pair} ${
                sent[pair] + p.candles
              } candles, ${p.pagesLeft} pages left`,
              { pair, candles: sent[pair] + p.candles, pagesLeft: p.pagesLeft },
            );
          },
        });
        let count = 0;
        for await (const page of pages) {
          await send(page);
          count += page.length;
          addStored(stored, page[0]);
          addStored(stored, page.at(-1)!);
        }
        sent[pair] += count;
      }
    }
  }
  const seconds = (now() - began) / 1000;
  log.info(`backfill: done in ${seconds} s`, { sent, seconds });
  return sent;
}

/**
 * Widens what is stored for a candle's pair to include the candle.
 *
 * @param stored What is stored per pair (changed in place).
 * @param candle A stored candle.
 *
 * @example
 * ```ts
 * import { addStored, type StoredSpan } from "@cryptocandles/sources";
 * const stored = new Map<string, StoredSpan>();
 * addStored(stored, { pair: "tX", start: 60_000, close: 2 });
 * console.log(stored.get("tX")); // { oldest: 60000, newest: 60000, newestClose: 2 }
 * ```
 */
export function addStored(
  stored: Map<string, StoredSpan>,
  candle: Pick<Candle, "pair" | "start" | "close">,
): void {
  const span = stored.get(candle.pair);
  const newer = candle.start >= (span?.newest ?? -Infinity);
  stored.set(candle.pair, {
    oldest: Math.min(span?.oldest ?? Infinity, candle.start),
    newest: newer ? candle.start : span!.newest,
    newestClose: newer ? candle.close : span!.newestClose,
  });
}

/** FNV-1a, 32 bits. */
function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
