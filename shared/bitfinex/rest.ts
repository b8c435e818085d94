/**
 * Bitfinex public API v2 REST `GET /tickers` polling as a source of
 * {@linkcode Ticker}s, with rate-limit back-off.
 *
 * @module
 */
import type { Logger } from "@cryptocandles/runtime";
import { backoff, delay, type RetryOptions } from "@cryptocandles/runtime";
import { type Ticker, tickerFromArray } from "@cryptocandles/ticker";
import { UnknownPairError } from "./errors.ts";
import type { ReconnectEvent } from "./ws.ts";

/** Options for {@linkcode bitfinexRestTicks}. */
export interface RestOptions {
  /** The v2 REST base URL. */
  url: string;
  /** Trading pairs to poll. */
  coins: string[];
  /** Polling interval in ms. */
  pollMs: number;
  /** Stops polling. */
  signal: AbortSignal;
  /** Where errors are logged. */
  log: Logger;
  /** Wait after a rate-limit answer, in ms. @default {60000} */
  rateLimitWaitMs?: number;
  /** Back-off for other errors. @default {{ minTimeout: 1000, maxTimeout: 60000 }} */
  backoff?: RetryOptions;
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Clock for event times. @default {Date.now} */
  now?: () => number;
  /**
   * Told when a poll answers again after failed ones (`connection` 0), once
   * per outage, so the caller can fetch the history of the time in between.
   * Rate-limit waits are no outage. @default {undefined}
   */
  onReconnect?: (event: ReconnectEvent) => void;
}

/**
 * Polls `GET /tickers?symbols=…` every `pollMs`. A 429 or `ERR_RATE_LIMIT`
 * answer waits `rateLimitWaitMs` before the next request; other failures
 * retry with back-off, and the first answer after them tells `onReconnect`.
 *
 * @param options URL, pairs, interval, signal, logger.
 * @returns Tickers, one per pair per poll, event time = answer time.
 * @throws {UnknownPairError} When an answer lacks a requested pair.
 *
 * @example
 * ```ts ignore
 * for await (const t of bitfinexRestTicks({ url, coins, pollMs: 5000, signal, log })) console.log(t);
 * ```
 */
export async function* bitfinexRestTicks(
  options: RestOptions,
): AsyncGenerator<Ticker> {
  const {
    url,
    coins,
    pollMs,
    signal,
    log,
    rateLimitWaitMs = 60_000,
    fetch: doFetch = fetch,
    now = Date.now,
  } = options;
  const policy = { minTimeout: 1000, maxTimeout: 60_000, ...options.backoff };
  const endpoint = `${url}/tickers?symbols=${coins.join(",")}`;
  let failures = 0;
  let lostAt: number | undefined;
  while (!signal.aborted) {
    let wait = pollMs;
    try {
      const response = await doFetch(endpoint, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
      });
      const body = await response.json().catch(() => undefined);
      const rateLimited = response.status === 429 ||
        (Array.isArray(body) && body[0] === "error" &&
          /ratelimit/i.test(String(body[2])));
      if (rateLimited) {
        wait = rateLimitWaitMs;
        log.warn(
          `bitfinex: rate limited (${response.status}); next request in ${
            wait / 1000
          } s`,
        );
      } else if (!response.ok || !Array.isArray(body)) {
        throw new Error(
          `GET /tickers answered ${response.status} ${
            JSON.stringify(body).slice(0, 120)
          }`,
        );
      } else {
        const at = now();
        const rows = new Map(
          body.map((row: unknown[]) => [String(row[0]), row.slice(1)]),
        );
        const missing = coins.filter((c) => !rows.has(c));
        if (missing.length > 0) {
          throw new UnknownPairError(missing, "absent from GET /tickers");
        }
        failures = 0;
        if (lostAt !== undefined) {
          const downMs = at - lostAt;
          lostAt = undefined;
          log.info(
            `bitfinex: answering again after ${Math.round(downMs / 1000)} s`,
            { downMs },
          );
          options.onReconnect?.({ connection: 0, downMs });
        }
        for (const coin of coins) {
          yield tickerFromArray(coin, rows.get(coin), at);
        }
      }
    } catch (error) {
      if (error instanceof UnknownPairError) throw error;
      if (signal.aborted) return;
      wait = backoff(++failures, policy);
      lostAt ??= now();
      log.warn(`bitfinex: ${(error as Error).message}; retrying in ${wait} ms`);
    }
    await delay(wait, signal).catch(() => {});
  }
}
