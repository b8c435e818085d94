/**
 * History candles as InfluxDB 3 points: table `<INFLUX_MEASUREMENT>_candles`,
 * tags `Coin` and `interval`, fields open/high/low/close/volume (and `empty`),
 * time = the candle's start. The same (table, Coin, interval, time)
 * overwrites, so a candle written twice is one point.
 *
 * @module
 */
import { escape } from "@influxdata/influxdb3-client";
import type { Candle } from "@cryptocandles/ticker";
import type { TableSchema } from "./influx.ts";

/** The float fields of a candle point, in the order the line writes them. */
const PRICE_FIELDS = ["close", "high", "low", "open", "volume"] as const;

/** What a candle line needs (the record of `@cryptocandles/ticker`). */
export type CandleFields = Candle;

/**
 * The table of history candles for a ticker table.
 *
 * @param measurement `INFLUX_MEASUREMENT`.
 * @returns `<measurement>_candles`.
 *
 * @example
 * ```ts
 * import { candleTable } from "@cryptocandles/influx";
 * console.log(candleTable("criptomonedas")); // "criptomonedas_candles"
 * ```
 */
export function candleTable(measurement: string): string {
  return `${measurement}_candles`;
}

/**
 * The line of one history candle (millisecond precision).
 *
 * @param measurement `INFLUX_MEASUREMENT` (the line goes to its `_candles` table).
 * @param candle The candle.
 * @returns One line of line protocol.
 * @throws {RangeError} When a price or the volume is not finite, naming it.
 *
 * @example
 * ```ts
 * import { candleLine } from "@cryptocandles/influx";
 * console.log(candleLine("criptomonedas", { pair: "tBTCUSD", interval: "1m", start: 60000,
 *   open: 1, high: 2, low: 0.5, close: 1.5, volume: 3, empty: false }));
 * // criptomonedas_candles,Coin=tBTCUSD,interval=1m close=1.5,empty=F,high=2,low=0.5,open=1,volume=3 60000
 * ```
 */
export function candleLine(measurement: string, candle: CandleFields): string {
  const fields = PRICE_FIELDS.map(
    (name) => {
      const value = candle[name];
      if (!Number.isFinite(value)) {
        throw new RangeError(
          `${candle.pair} candle at ${candle.start}: ${name} is ${value}, which InfluxDB cannot store`,
        );
      }
      return `${name}=${value}`;
    },
  );
  fields.splice(1, 0, `empty=${candle.empty ? "T" : "F"}`); // as the client's Point writes booleans
  return `${escape.measurement(candleTable(measurement))},Coin=${
    escape.tag(candle.pair)
  },interval=${escape.tag(candle.interval)} ${fields.join(",")} ${
    Math.trunc(candle.start)
  }`;
}

/**
 * The history table as {@linkcode ensureTable} declares it: the columns
 * {@linkcode candleLine} writes, tags `Coin` and `interval`, float64
 * open/high/low/close/volume and bool `empty`. Made at the consumer's
 * start, it lets the dashboard's candle panel (ticks UNION history) run
 * before any history arrives (`BACKFILL=0`).
 *
 * @param measurement `INFLUX_MEASUREMENT`.
 * @returns The `<measurement>_candles` table's schema.
 *
 * @example
 * ```ts
 * import { candleTableSchema } from "@cryptocandles/influx";
 * console.log(candleTableSchema("criptomonedas").tags); // ["Coin", "interval"]
 * ```
 */
export function candleTableSchema(measurement: string): TableSchema {
  return {
    table: candleTable(measurement),
    tags: ["Coin", "interval"],
    fields: [
      ...PRICE_FIELDS.map((name) => ({ name, type: "float64" as const })),
      { name: "empty", type: "bool" },
    ],
  };
}
