/**
 * The records every stage passes: a Bitfinex ticker under the field names
 * of the original's Avro record `CryptoCurrency` (Spanish names, in its
 * order) plus the event time, and the 1-minute history {@linkcode Candle}
 * (the `Candle` Avro record).
 *
 * @example From a Bitfinex ticker array
 * ```ts
 * import { tickerFromArray } from "@cryptocandles/ticker";
 * const t = tickerFromArray("tBTCUSD", [65_000, 1, 65_001, 2, 10, 0.01, 65_000.5, 123, 66_000, 64_000], 0);
 * console.log(t.precio_ultimo); // 65000.5
 * ```
 *
 * @module
 */
export {
  type Ticker,
  TICKER_FIELDS,
  tickerFromArray,
  tickerToArray,
} from "./ticker.ts";
export type { Candle } from "./candle.ts";
