/**
 * OHLC candles from ticks, with the dashboard SQL's semantics:
 * `DATE_BIN(interval, time, '1970-01-01T00:00:00Z')` buckets, open = first
 * price by event time, close = last by event time, high/low over the bucket,
 * volume = the amount traded in the bucket, in the base currency (the
 * caller passes each tick's share: the rise of Bitfinex's rolling 24 h
 * volume since the coin's previous tick, as the dashboard's SQL computes it).
 * 1-minute history candles merge into every interval by the same rules; a
 * minute that has live ticks keeps them and ignores its history candle.
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
  /** Adds a tick (with the amount it traded, default 0); returns the candles it changed, one per interval. */
  add(
    coin: string,
    timeMs: number,
    price: number,
    traded?: number,
  ): { interval: Interval; candle: Candle }[];
  /**
   * Adds a 1-minute history candle (`time` = its minute); returns the
   * candles it changed. Ignored when that minute has live ticks or was
   * added before.
   */
  addCandle(
    coin: string,
    candle: Candle,
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
  const MINUTE = INTERVALS["1m"];
  /** Buckets built from live ticks only, per coin and interval. */
  const series = new Map<string, Map<number, Bucket>>();
  /** History minutes per coin. */
  const history = new Map<string, Map<number, Candle>>();
  const key = (coin: string, interval: Interval) => `${coin}\u0000${interval}`;
  const intervals = Object.keys(INTERVALS) as Interval[];
  const liveMinute = (coin: string, minute: number) =>
    series.get(key(coin, "1m"))?.has(minute) ?? false;

  /** A bucket as shown: its live ticks plus the history minutes without ticks. */
  function view(
    coin: string,
    interval: Interval,
    start: number,
  ): Candle | undefined {
    const live = series.get(key(coin, interval))?.get(start);
    const width = INTERVALS[interval];
    let out: Bucket | undefined = live && { ...live };
    const minutes = history.get(coin);
    for (let m = start; minutes && m < start + width; m += MINUTE) {
      const h = minutes.get(m);
      if (!h || liveMinute(coin, m)) continue;
      const closeAt = m + MINUTE - 1;
      if (!out) {
        out = { ...h, time: start, openAt: m, closeAt };
        continue;
      }
      if (m < out.openAt) [out.open, out.openAt] = [h.open, m];
      if (closeAt >= out.closeAt) [out.close, out.closeAt] = [h.close, closeAt];
      out.high = Math.max(out.high, h.high);
      out.low = Math.min(out.low, h.low);
      out.volume += h.volume;
    }
    return out && toCandle(out);
  }

  const changes = (coin: string, time: number) =>
    intervals.flatMap((interval) => {
      const candle = view(coin, interval, binStart(time, INTERVALS[interval]));
      return candle ? [{ interval, candle }] : [];
    });

  return {
    add(coin, timeMs, price, traded = 0) {
      for (const interval of intervals) {
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
            volume: traded,
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
          b.volume += traded;
        }
      }
      return changes(coin, timeMs);
    },
    addCandle(coin, candle) {
      let minutes = history.get(coin);
      if (!minutes) history.set(coin, minutes = new Map());
      const minute = binStart(candle.time, MINUTE);
      if (minutes.has(minute)) return [];
      minutes.set(minute, { ...candle, time: minute });
      if (minutes.size > cap * 60) minutes.delete(Math.min(...minutes.keys()));
      return liveMinute(coin, minute) ? [] : changes(coin, minute);
    },
    candles(coin, interval, range = {}) {
      const { from = -Infinity, to = Infinity } = range;
      const width = INTERVALS[interval];
      const starts = new Set(series.get(key(coin, interval))?.keys());
      for (const m of history.get(coin)?.keys() ?? []) {
        starts.add(binStart(m, width));
      }
      return [...starts].filter((t) => t >= from && t <= to)
        .sort((a, b) => a - b)
        .flatMap((t) => view(coin, interval, t) ?? []);
    },
    coins() {
      const all = [...series.keys()].map((k) => k.split("\u0000")[0]);
      return [...new Set([...all, ...history.keys()])].sort();
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
