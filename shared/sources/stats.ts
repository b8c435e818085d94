/**
 * The producer's counts per pair: ticks acknowledged and dropped, and the
 * last acknowledged price, logged every few seconds.
 *
 * @module
 */
import type { Logger } from "@cryptocandles/runtime";
import type { Ticker } from "@cryptocandles/ticker";

/** What a sender holds and has done (the shape of kafka's `SenderCounts`). */
export interface SentCounts {
  acked: number;
  waiting: number;
  inFlight: number;
}

/** A tick and its encoded value, as the producer buffers it. */
export interface SentTick {
  ticker: Ticker;
  value: Uint8Array;
}

/** Counts of {@linkcode createTickStats}. */
export interface TickStats {
  /** Acknowledged ticks per pair. */
  acked: Record<string, number>;
  /** Dropped ticks per pair (a full buffer). */
  dropped: Record<string, number>;
  /** Last acknowledged [price, event time] per pair. */
  last: Record<string, [number, number]>;
  /** Counts a batch Kafka acknowledged. */
  onAcked(sent: readonly { ticker: Ticker }[]): void;
  /** Counts a dropped tick (the first drop is logged). */
  onDropped(sent: { ticker: Ticker }, capacity: number, log: Logger): void;
  /** Logs `acknowledged N records` with the counts. */
  log(log: Logger, counts: SentCounts): void;
}

/**
 * Acknowledged and dropped ticks per pair, and the last acknowledged price.
 *
 * @param coins The pairs.
 * @returns The counters.
 *
 * @example
 * ```ts
 * import { createTickStats } from "@cryptocandles/sources";
 * const stats = createTickStats(["tBTCUSD"]);
 * console.log(stats.acked.tBTCUSD); // 0
 * ```
 */
export function createTickStats(coins: string[]): TickStats {
  const zero = () => Object.fromEntries(coins.map((c) => [c, 0]));
  const stats = {
    acked: zero(),
    dropped: zero(),
    last: {} as Record<string, [number, number]>,
  };
  return {
    ...stats,
    onAcked(sent) {
      for (const { ticker: t } of sent) {
        stats.acked[t.nombre]++;
        stats.last[t.nombre] = [t.precio_ultimo, t.event_time];
      }
    },
    onDropped({ ticker: t }, capacity, log) {
      if (Object.values(stats.dropped).every((n) => n === 0)) {
        log.warn(
          `buffer full (PRODUCER_BUFFER=${capacity}): dropping the oldest ticks`,
        );
      }
      stats.dropped[t.nombre]++;
    },
    log(log, { acked, waiting, inFlight }) {
      const pending = waiting + inFlight;
      log.info(`acknowledged ${acked} records`, { ...stats, pending });
    },
  };
}
