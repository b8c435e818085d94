/**
 * The history record: one 1-minute candle of a pair, as Bitfinex's candles
 * endpoint gives it, the `Candle` Avro record carries it through Kafka, and
 * the candle table stores it.
 *
 * @module
 */

/** A 1-minute candle, the shape of the `Candle` Avro record. */
export interface Candle {
  /** Trading pair, such as `tBTCUSD`. */
  pair: string;
  /** Always `1m` for history. */
  interval: string;
  /** Start of the minute, ms since the epoch. */
  start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  /** Traded amount in the base currency (0 for an empty minute). */
  volume: number;
  /** No trades that minute: a flat candle at the previous close. */
  empty: boolean;
}
