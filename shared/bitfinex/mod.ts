/**
 * Bitfinex public API v2 as a source of tickers: the WebSocket ticker channel
 * ({@linkcode bitfinexWsTicks}) and REST polling ({@linkcode bitfinexRestTicks}).
 * Knows nothing of Kafka: it yields {@linkcode Ticker} records.
 *
 * @example Live tickers over the WebSocket
 * ```ts ignore
 * import { bitfinexWsTicks } from "@cryptocandles/bitfinex";
 * const signal = AbortSignal.timeout(10_000);
 * for await (const t of bitfinexWsTicks({ url: "wss://api-pub.bitfinex.com/ws/2", coins: ["tBTCUSD"], signal })) {
 *   console.log(t.nombre, t.precio_ultimo);
 * }
 * ```
 *
 * @module
 */
export { UnknownPairError } from "./errors.ts";
export { bitfinexWsTicks, type ReconnectEvent, type WsOptions } from "./ws.ts";
export { bitfinexRestTicks, type RestOptions } from "./rest.ts";
export {
  bitfinexCandles,
  type Candle,
  candleFromRow,
  type CandleProgress,
  type CandlesOptions,
  fillMinutes,
  floorMinute,
  MAX_CANDLE_ROWS,
  MINUTE_MS,
} from "./candles.ts";
