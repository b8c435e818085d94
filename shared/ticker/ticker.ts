/**
 * The ticker record that flows through the pipeline: the Avro record
 * `CryptoCurrency` (schemas/CryptoCurrency.v2.avsc), field for field.
 *
 * @module
 */

/** One ticker of one trading pair, as the Avro record `CryptoCurrency` v2. */
export interface Ticker {
  /** The Bitfinex symbol, such as `tBTCUSD`. */
  nombre: string;
  bid: number;
  bid_size: number;
  ask: number;
  ask_size: number;
  daily_change: number;
  /** Daily change as a fraction (Bitfinex's DAILY_CHANGE_RELATIVE). */
  daily_change_percentage: number;
  /** Last traded price: the candles' close. */
  precio_ultimo: number;
  volume: number;
  /** Daily high. */
  precio_maximo: number;
  /** Daily low. */
  precio_minimo: number;
  /** When the tick was observed, ms since the epoch (0 in v1 records). */
  event_time: number;
}

/** The numeric fields of {@linkcode Ticker}, in Bitfinex's ticker-array order. */
export const TICKER_FIELDS = [
  "bid",
  "bid_size",
  "ask",
  "ask_size",
  "daily_change",
  "daily_change_percentage",
  "precio_ultimo",
  "volume",
  "precio_maximo",
  "precio_minimo",
] as const;

/**
 * Builds a {@linkcode Ticker} from a Bitfinex v2 ticker array
 * `[BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE,
 * LAST_PRICE, VOLUME, HIGH, LOW]`.
 *
 * @param symbol The trading pair, such as `tBTCUSD`.
 * @param values The ten numbers of the ticker array.
 * @param eventTime When it was observed, ms since the epoch.
 * @returns The ticker.
 * @throws {TypeError} When `values` is not ten finite numbers, naming the
 *   first bad one, or when `symbol` is a funding symbol (`fUSD`: 16 fields
 *   of another layout).
 *
 * @example
 * ```ts
 * import { tickerFromArray } from "@cryptocandles/ticker";
 * const t = tickerFromArray("tBTCUSD", [66371, 2.5, 66372, 6.4, -644, -0.0096, 66401, 639.7, 67045, 65088], 0);
 * console.log(t.precio_ultimo); // 66401
 * ```
 */
export function tickerFromArray(
  symbol: string,
  values: unknown,
  eventTime: number,
): Ticker {
  if (symbol.startsWith("f")) {
    // A funding ticker (fUSD…) has 16 fields in another order (FRR, bid,
    // bid period, …): read as a trading ticker it would give wrong prices.
    throw new TypeError(
      `${symbol}: funding tickers (16 fields) are not supported, only trading pairs such as tBTCUSD`,
    );
  }
  if (!Array.isArray(values) || values.length < TICKER_FIELDS.length) {
    throw new TypeError(
      `${symbol}: a ticker is 10 numbers, got ${JSON.stringify(values)}`,
    );
  }
  const ticker = { nombre: symbol, event_time: eventTime } as Ticker;
  TICKER_FIELDS.forEach((field, i) => {
    const value = values[i];
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new TypeError(
        `${symbol}: ticker field ${field} (index ${i}) is ${
          typeof value === "number" ? value : JSON.stringify(value)
        }, not a number`,
      );
    }
    ticker[field] = value;
  });
  return ticker;
}

/**
 * The ticker as the Bitfinex array, the inverse of
 * {@linkcode tickerFromArray}.
 *
 * @param ticker The ticker.
 * @returns The ten numbers in Bitfinex's order.
 *
 * @example
 * ```ts
 * import { tickerFromArray, tickerToArray } from "@cryptocandles/ticker";
 * const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
 * console.log(tickerToArray(tickerFromArray("tBTCUSD", values, 0))); // [1, …, 10]
 * ```
 */
export function tickerToArray(ticker: Ticker): number[] {
  return TICKER_FIELDS.map((field) => ticker[field]);
}
