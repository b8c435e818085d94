/**
 * InfluxDB 3 for the ticker points: line protocol, chunked and retried
 * writes (with per-line rejections), SQL queries and database creation.
 *
 * @example Write one ticker
 * ```ts ignore
 * import { influxOptions, tickerLine, writeLines } from "@cryptocandles/influx";
 * const influx = influxOptions(config.influx);
 * await writeLines([tickerLine("criptomonedas", ticker, ticker.event_time)], influx);
 * ```
 *
 * @module
 */
export * from "./influx.ts";
export {
  type CandleFields,
  candleLine,
  candleTable,
  candleTableSchema,
} from "./candles.ts";
export { waitForDatabase, type WaitForDatabaseOptions } from "./wait.ts";
