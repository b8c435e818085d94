/**
 * OHLC candles from ticks, with the dashboard SQL's semantics:
 * `DATE_BIN(interval, time, '1970-01-01T00:00:00Z')` buckets, open = first
 * price by event time, close = last by event time, high/low over the bucket,
 * volume = the number of ticks in the bucket (`COUNT(close_price)`).
 * A late tick updates its own bucket. Memory is capped per coin and interval.
 *
 * @module
 */

/** Candle intervals the chart and the dashboard offer. */
export const INTERVALS = {
  "1m": 60_000,
  "5m": 300_000,
  "15m": 900_000,
  "1h": 3_600_000,
} as const;

/** An interval name: `1m`, `5m`, `15m` or `1h`. */
export type Interval = keyof typeof INTERVALS;

/** One candle. `time` is the bucket start, ms since the epoch. */
export interface Candle {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/** A candle plus what it needs to take late ticks. */
interface Bucket extends Candle {
  openAt: number;
  closeAt: number;
}

/** Candles of every coin and interval. */
export interface CandleStore {
  /** Adds a tick; returns the candles it changed, one per interval. */
  add(
    coin: string,
    timeMs: number,
    price: number,
  ): { interval: Interval; candle: Candle }[];
  /** Candles of a coin and interval, oldest first, optionally within [from, to] (bucket start). */
  candles(
    coin: string,
    interval: Interval,
    range?: { from?: number; to?: number },
  ): Candle[];
  /** Coins seen so far, sorted. */
  coins(): string[];
}

/** Options for {@linkcode createCandleStore}. */
export interface CandleStoreOptions {
  /** Candles kept per coin and interval; the oldest go first. @default {2000} */
  cap?: number;
}

/**
 * Creates an empty candle store.
 *
 * @param options The cap of candles per coin and interval.
 * @returns A {@linkcode CandleStore}.
 *
 * @example
 * ```ts
 * import { createCandleStore } from "@cryptocandles/chart";
 * const store = createCandleStore();
 * store.add("tBTCUSD", Date.UTC(2024, 5, 15, 17, 26), 66401);
 * console.log(store.candles("tBTCUSD", "5m")[0].close); // 66401
 * ```
 */
export function createCandleStore(
  options: CandleStoreOptions = {},
): CandleStore {
  const { cap = 2000 } = options;
  const series = new Map<string, Map<number, Bucket>>();
  const key = (coin: string, interval: Interval) => `${coin}\u0000${interval}`;

  return {
    add(coin, timeMs, price) {
      const changed: { interval: Interval; candle: Candle }[] = [];
      for (const interval of Object.keys(INTERVALS) as Interval[]) {
        const k = key(coin, interval);
        let buckets = series.get(k);
        if (!buckets) series.set(k, buckets = new Map());
        const start = binStart(timeMs, INTERVALS[interval]);
        let b = buckets.get(start);
        if (!b) {
          if (buckets.size >= cap && start < Math.min(...buckets.keys())) {
            continue;
          }
          b = {
            time: start,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: 1,
            openAt: timeMs,
            closeAt: timeMs,
          };
          buckets.set(start, b);
          if (buckets.size > cap) buckets.delete(Math.min(...buckets.keys()));
        } else {
          if (timeMs < b.openAt) [b.open, b.openAt] = [price, timeMs];
          if (timeMs >= b.closeAt) [b.close, b.closeAt] = [price, timeMs];
          b.high = Math.max(b.high, price);
          b.low = Math.min(b.low, price);
          b.volume++;
        }
        changed.push({ interval, candle: toCandle(b) });
      }
      return changed;
    },
    candles(coin, interval, range = {}) {
      const { from = -Infinity, to = Infinity } = range;
      const buckets = series.get(key(coin, interval));
      if (!buckets) return [];
      return [...buckets.values()].filter((b) => b.time >= from && b.time <= to)
        .sort((a, b) => a.time - b.time)
        .map(toCandle);
    },
    coins() {
      return [...new Set([...series.keys()].map((k) => k.split("\u0000")[0]))]
        .sort();
    },
  };
}

/**
 * The start of the bucket holding `timeMs`, as SQL's
 * `DATE_BIN(interval, time, '1970-01-01T00:00:00Z')`.
 *
 * @param timeMs A time, ms since the epoch.
 * @param intervalMs The bucket width in ms.
 * @returns The bucket start, ms since the epoch.
 *
 * @example
 * ```ts
 * import { binStart } from "@cryptocandles/chart";
 * console.log(binStart(Date.UTC(2024, 0, 1, 0, 7), 300_000) === Date.UTC(2024, 0, 1, 0, 5)); // true
 * ```
 */
export function binStart(timeMs: number, intervalMs: number): number {
  return Math.floor(timeMs / intervalMs) * intervalMs;
}

/**
 * Whether `name` is an interval of {@linkcode INTERVALS}.
 *
 * @param name A string, such as `5m`.
 * @returns True for `1m`, `5m`, `15m` and `1h`.
 *
 * @example
 * ```ts
 * import { isInterval } from "@cryptocandles/chart";
 * console.log(isInterval("5m"), isInterval("2m")); // true false
 * ```
 */
export function isInterval(name: string): name is Interval {
  return Object.hasOwn(INTERVALS, name);
}

function toCandle(b: Bucket): Candle {
  return {
    time: b.time,
    open: b.open,
    high: b.high,
    low: b.low,
    close: b.close,
    volume: b.volume,
  };
}
