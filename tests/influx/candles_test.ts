import assert from "node:assert/strict";
import { Point } from "@influxdata/influxdb3-client";
import { candleLine, candleTable } from "@cryptocandles/influx";

const CANDLE = {
  pair: "tBTCUSD",
  interval: "1m",
  start: Date.UTC(2026, 0, 5, 12, 0),
  open: 66_000.5,
  high: 66_010,
  low: 65_990,
  close: 66_001,
  volume: 3.25,
  empty: false,
};

Deno.test("candleLine() writes the contract's table, tags and fields, time = the candle's start", () => {
  assert.equal(candleTable("criptomonedas"), "criptomonedas_candles");
  const line = candleLine("criptomonedas", CANDLE);
  // the same bytes as the InfluxDB client's own Point
  const point = Point.measurement("criptomonedas_candles")
    .setTag("Coin", "tBTCUSD")
    .setTag("interval", "1m")
    .setFloatField("open", CANDLE.open)
    .setFloatField("high", CANDLE.high)
    .setFloatField("low", CANDLE.low)
    .setFloatField("close", CANDLE.close)
    .setFloatField("volume", CANDLE.volume)
    .setBooleanField("empty", false)
    .setTimestamp(CANDLE.start);
  assert.equal(line, point.toLineProtocol());
});

Deno.test("candleLine() refuses a price InfluxDB cannot store, naming it", () => {
  assert.throws(
    () => candleLine("m", { ...CANDLE, high: NaN }),
    /tBTCUSD candle at \d+: high is NaN/,
  );
});
