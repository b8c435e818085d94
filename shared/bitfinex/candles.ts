/**
 * Bitfinex v2 REST candles (`GET /candles/trade:1m:{pair}/hist`) as
 * 1-minute {@linkcode Candle}s: paging, rate-limit waits, the row order
 * trap, deduplication and empty minutes.
 *
 * Rows are `[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]`: close comes before high
 * (docs.bitfinex.com/reference/rest-public-candles; "OCHL"). `start`/`end`
 * filter on MTS (inclusive), `limit` is at most 10,000, `sort=1` is oldest
 * first. Bitfinex sends no row for a minute without trades.
 *
 * @module
 */
import type { Logger } from "@cryptocandles/runtime";
import { backoff, delay, type RetryOptions } from "@cryptocandles/runtime";
import { UnknownPairError } from "./errors.ts";
import type { Candle } from "@cryptocandles/ticker";

/** One minute in ms. */
export const MINUTE_MS = 60_000;

/** Rows Bitfinex returns at most per candles request. */
export const MAX_CANDLE_ROWS = 10_000;

/** A 1-minute candle (the record of `@cryptocandles/ticker`). */
export type { Candle };

/**
 * Reads one Bitfinex candle row, `[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]`
 * (close before high).
 *
 * @param pair The pair the row belongs to.
 * @param row The row as Bitfinex sends it.
 * @returns The candle (`empty: false`).
 * @throws {TypeError} When the row is not six numbers.
 *
 * @example
 * ```ts
 * import { candleFromRow } from "@cryptocandles/bitfinex";
 * const c = candleFromRow("tBTCUSD", [1_700_000_040_000, 100, 101, 102, 99, 3.5]);
 * console.log(c.close, c.high); // 101 102
 * ```
 */
export function candleFromRow(pair: string, row: unknown): Candle {
  if (
    !Array.isArray(row) || row.length < 6 ||
    !row.slice(0, 6).every((v) => typeof v === "number" && Number.isFinite(v))
  ) {
    throw new TypeError(
      `Bitfinex candle row for ${pair} is not [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]: ${
        JSON.stringify(row).slice(0, 120)
      }`,
    );
  }
  const [start, open, close, high, low, volume] = row as number[];
  return {
    pair,
    interval: "1m",
    start,
    open,
    high,
    low,
    close,
    volume,
    empty: false,
  };
}

/**
 * Orders candles by start, keeps the first of each start (a page that
 * overlaps the previous one, or answers out of order), and fills every
 * minute missing between two candles — and from `previousClose` at `from`,
 * up to `to` — with a flat `empty` candle at the previous close.
 *
 * @param pair The pair.
 * @param candles The real candles of the range answered.
 * @param options The range answered, `[from, to)`, and the close before it.
 * @returns One candle per minute from the first known close up to `to`.
 *
 * @example
 * ```ts
 * import { candleFromRow, fillMinutes } from "@cryptocandles/bitfinex";
 * const rows = [[0, 1, 2, 3, 0.5, 1], [120_000, 2, 2, 2, 2, 1]];
 * const filled = fillMinutes("tX", rows.map((r) => candleFromRow("tX", r)), { from: 0, to: 180_000 });
 * console.log(filled.map((c) => c.empty)); // [false, true, false]
 * ```
 */
export function fillMinutes(
  pair: string,
  candles: readonly Candle[],
  options: { from: number; to: number; previousClose?: number },
): Candle[] {
  const { from, to } = options;
  const byStart = new Map<number, Candle>();
  for (const c of candles) {
    if (c.start >= from && c.start < to && !byStart.has(c.start)) {
      byStart.set(c.start, c);
    }
  }
  const out: Candle[] = [];
  let close = options.previousClose;
  for (let start = from; start < to; start += MINUTE_MS) {
    const real = byStart.get(start);
    if (real) {
      out.push(real);
      close = real.close;
    } else if (close !== undefined) {
      out.push({
        pair,
        interval: "1m",
        start,
        open: close,
        high: close,
        low: close,
        close,
        volume: 0,
        empty: true,
      });
    }
  }
  return out;
}

/** Progress of {@linkcode bitfinexCandles}, after each page. */
export interface CandleProgress {
  pair: string;
  /** Candles yielded so far for this pair (empty minutes included). */
  candles: number;
  /** Pages still to fetch, estimated from the range left. */
  pagesLeft: number;
}

/** Options for {@linkcode bitfinexCandles}. */
export interface CandlesOptions {
  /** The v2 REST base URL (`BITFINEX_REST_URL`). */
  url: string;
  /** The trading pair. */
  pair: string;
  /** First minute wanted (ms, rounded down to the minute). */
  from: number;
  /** End of the range, exclusive (ms, rounded down to the minute). */
  to: number;
  /** The close of the candle just before `from`, when known (fills an empty first minute). */
  previousClose?: number;
  signal: AbortSignal;
  log: Logger;
  /** Rows per request. @default {10000} */
  limit?: number;
  /** Wait after a rate-limit answer when it has no Retry-After, in ms. @default {60000} */
  rateLimitWaitMs?: number;
  /** Back-off for other errors. @default {{ minTimeout: 1000, maxTimeout: 60000 }} */
  backoff?: RetryOptions;
  /**
   * Failed requests in a row (not rate limits) before giving up, so that
   * a producer without Bitfinex goes live soon without history. @default {3}
   */
  maxFailures?: number;
  /** Told after every page. @default {undefined} */
  onProgress?: (progress: CandleProgress) => void;
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

/**
 * Fetches the 1-minute candles of `[from, to)` page by page (oldest first,
 * `sort=1`), waiting on 429 / `ERR_RATE_LIMIT` (logged with its length) and
 * backing off on other errors. Each page is deduplicated by start and its
 * empty minutes filled ({@linkcode fillMinutes}); minutes before the first
 * trade of the range are left out unless `previousClose` is given.
 *
 * @param options URL, pair, range, signal, logger.
 * @returns Pages of candles in start order, each start once.
 * @throws {UnknownPairError} When Bitfinex does not know the pair.
 * @throws {Error} When a request keeps failing (`maxFailures`).
 *
 * @example
 * ```ts ignore
 * const to = Math.floor(Date.now() / 60_000) * 60_000;
 * for await (const page of bitfinexCandles({ url, pair: "tBTCUSD", from: to - 86_400_000, to, signal, log })) {
 *   console.log(page.length);
 * }
 * ```
 */
export async function* bitfinexCandles(
  options: CandlesOptions,
): AsyncGenerator<Candle[]> {
  const {
    url,
    pair,
    signal,
    log,
    limit = MAX_CANDLE_ROWS,
    rateLimitWaitMs = 60_000,
    maxFailures = 3,
    onProgress,
    fetch: doFetch = fetch,
  } = options;
  const policy = { minTimeout: 1000, maxTimeout: 60_000, ...options.backoff };
  const from = floorMinute(options.from);
  const to = floorMinute(options.to);
  let cursor = from;
  let previousClose = options.previousClose;
  let failures = 0;
  let count = 0;
  while (cursor < to && !signal.aborted) {
    const query = `start=${cursor}&end=${to - 1}&limit=${limit}&sort=1`;
    const endpoint = `${url}/candles/trade:1m:${pair}/hist?${query}`;
    let rows: unknown[];
    try {
      const response = await doFetch(endpoint, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]),
      });
      const body = await response.json().catch(() => undefined);
      if (isRateLimit(response.status, body)) {
        const wait = retryAfterMs(response) ?? rateLimitWaitMs;
        log.warn(
          `backfill: rate limited by Bitfinex (${response.status}); waiting ${
            wait / 1000
          } s`,
          { pair, waitMs: wait },
        );
        await delay(wait, signal).catch(() => {});
        continue;
      }
      if (isUnknownPair(body)) {
        throw new UnknownPairError([pair], String((body as unknown[])[2]));
      }
      if (!response.ok || !Array.isArray(body)) {
        throw new Error(
          `GET /candles/trade:1m:${pair}/hist answered ${response.status} ${
            JSON.stringify(body).slice(0, 120)
          }`,
        );
      }
      rows = body;
      failures = 0;
    } catch (error) {
      if (error instanceof UnknownPairError) throw error;
      if (signal.aborted) return;
      if (++failures >= maxFailures) {
        throw new Error(
          `GET ${url}/candles/trade:1m:${pair}/hist failed ${failures} times: ${
            (error as Error).message
          }`,
          { cause: error },
        );
      }
      const wait = backoff(failures, policy);
      log.warn(
        `backfill: GET ${url}/candles/trade:1m:${pair}/hist: ${
          (error as Error).message
        }; retrying in ${wait} ms`,
      );
      await delay(wait, signal).catch(() => {});
      continue;
    }
    const candles = rows.map((row) => candleFromRow(pair, row))
      .filter((c) => c.start >= cursor && c.start < to);
    const full = rows.length >= limit;
    const last = candles.reduce((m, c) => Math.max(m, c.start), -Infinity);
    // A full page ends at its newest row; a short one answered all of the range.
    const answeredTo = full && last >= cursor ? last + MINUTE_MS : to;
    const page = fillMinutes(pair, candles, {
      from: cursor,
      to: answeredTo,
      previousClose,
    });
    cursor = answeredTo;
    if (page.length > 0) previousClose = page.at(-1)!.close;
    count += page.length;
    const pagesLeft = Math.ceil((to - cursor) / MINUTE_MS / limit);
    onProgress?.({ pair, candles: count, pagesLeft });
    if (page.length > 0) yield page;
  }
}

/**
 * Rounds a time down to the start of its minute.
 *
 * @param ms A time in ms since the epoch.
 * @returns The start of its minute.
 *
 * @example
 * ```ts
 * import { floorMinute } from "@cryptocandles/bitfinex";
 * console.log(floorMinute(125_000)); // 120000
 * ```
 */
export function floorMinute(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

function isRateLimit(status: number, body: unknown): boolean {
  if (status === 429) return true;
  if (Array.isArray(body) && body[0] === "error") {
    return /ratelimit/i.test(String(body[2]));
  }
  return typeof body === "object" && body !== null &&
    (body as Record<string, unknown>).error === "ERR_RATE_LIMIT";
}

function isUnknownPair(body: unknown): boolean {
  return Array.isArray(body) && body[0] === "error" &&
    /(symbol|key): invalid/i.test(String(body[2]));
}

function retryAfterMs(response: Response): number | undefined {
  const seconds = Number(response.headers.get("retry-after"));
  return response.headers.has("retry-after") && seconds >= 0
    ? seconds * 1000
    : undefined;
}
