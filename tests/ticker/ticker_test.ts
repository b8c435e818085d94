import assert from "node:assert/strict";
import {
  TICKER_FIELDS,
  tickerFromArray,
  tickerToArray,
} from "@cryptocandles/ticker";

/** A Bitfinex ticker array: the original README's tBTCUSD example. */
const ARRAY = [
  66371.0,
  2.57989939,
  66372.0,
  6.48303529,
  -644.0,
  -0.00960549,
  66401.0,
  639.72121182,
  67045.0,
  65088.0,
];

Deno.test("tickerFromArray() maps Bitfinex's array order onto the record's fields", () => {
  assert.deepEqual(tickerFromArray("tBTCUSD", ARRAY, 1_718_465_131_000), {
    nombre: "tBTCUSD",
    bid: 66371.0,
    bid_size: 2.57989939,
    ask: 66372.0,
    ask_size: 6.48303529,
    daily_change: -644.0,
    daily_change_percentage: -0.00960549,
    precio_ultimo: 66401.0,
    volume: 639.72121182,
    precio_maximo: 67045.0,
    precio_minimo: 65088.0,
    event_time: 1_718_465_131_000,
  });
});

Deno.test("tickerToArray() round-trips tickerFromArray()", () => {
  assert.deepEqual(tickerToArray(tickerFromArray("tETHUSD", ARRAY, 0)), ARRAY);
});

Deno.test("tickerFromArray() ignores values after the tenth", () => {
  const ticker = tickerFromArray("tBTCUSD", [...ARRAY, 99, "extra"], 0);
  assert.deepEqual(tickerToArray(ticker), ARRAY);
});

Deno.test("tickerFromArray() names the field and index of a value that is not a number", () => {
  const values = [...ARRAY];
  values[2] = "66372" as unknown as number;
  assert.throws(
    () => tickerFromArray("tBTCUSD", values, 0),
    (error) =>
      error instanceof TypeError &&
      error.message ===
        'tBTCUSD: ticker field ask (index 2) is "66372", not a number',
  );
});

Deno.test("tickerFromArray() refuses values that are not finite, naming the index", () => {
  TICKER_FIELDS.forEach((field, index) => {
    for (const bad of [NaN, Infinity, null]) {
      const values: unknown[] = [...ARRAY];
      values[index] = bad;
      assert.throws(
        () => tickerFromArray("tSOLUSD", values, 0),
        (error) =>
          error instanceof TypeError &&
          error.message.startsWith(
            `tSOLUSD: ticker field ${field} (index ${index}) is `,
          ),
      );
    }
  });
});

Deno.test("tickerFromArray() refuses an array shorter than ten or not an array", () => {
  for (const values of [ARRAY.slice(0, 9), [], { 0: 1 }, "1,2,3", null]) {
    assert.throws(
      () => tickerFromArray("tXRPUSD", values, 0),
      (error) =>
        error instanceof TypeError &&
        error.message.startsWith("tXRPUSD: a ticker is 10 numbers, got "),
    );
  }
});

Deno.test("tickerFromArray() refuses a funding ticker (fUSD, 16 fields) instead of storing wrong prices", () => {
  // Bitfinex's funding ticker: FRR, BID, BID_PERIOD, BID_SIZE, ASK,
  // ASK_PERIOD, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_PERC, LAST_PRICE,
  // VOLUME, HIGH, LOW, _, _, FRR_AMOUNT_AVAILABLE.
  const funding = [
    0.0003,
    0.0002,
    30,
    1e6,
    0.0001,
    2,
    5e5,
    0.00001,
    0.05,
    0.00025,
    1e8,
    0.0004,
    0.0001,
    null,
    null,
    2e6,
  ];
  assert.throws(
    () => tickerFromArray("fUSD", funding, 0),
    /fUSD: funding tickers \(16 fields\) are not supported/,
  );
});
