import assert from "node:assert/strict";
import {
  binStart,
  type Candle,
  createCandleStore,
  type Interval,
  INTERVALS,
} from "@cryptocandles/chart";

const T0 = Date.UTC(2024, 5, 15, 17, 0, 0);
const MIN = 60_000;

/** OHLC computed the plain way: sort by time (stable), group by bucket. */
function reference(
  ticks: [number, number, number][],
  intervalMs: number,
): Candle[] {
  const sorted = ticks.map((t, i) => ({ t, i })).sort((a, b) =>
    a.t[0] - b.t[0] || a.i - b.i
  ).map((x) => x.t);
  const groups = new Map<number, [number, number, number][]>();
  for (const tick of sorted) {
    const start = Math.floor(tick[0] / intervalMs) * intervalMs;
    groups.set(start, [...(groups.get(start) ?? []), tick]);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([time, g]) => ({
    time,
    open: g[0][1],
    high: Math.max(...g.map((x) => x[1])),
    low: Math.min(...g.map((x) => x[1])),
    close: g[g.length - 1][1],
    volume: g.length,
  }));
}

Deno.test("binStart() matches DATE_BIN from the epoch at bucket edges", () => {
  assert.equal(binStart(T0, 5 * MIN), T0);
  assert.equal(binStart(T0 + 5 * MIN - 1, 5 * MIN), T0);
  assert.equal(binStart(T0 + 5 * MIN, 5 * MIN), T0 + 5 * MIN);
  assert.equal(
    binStart(Date.UTC(2024, 0, 1, 0, 59, 59, 999), INTERVALS["1h"]),
    Date.UTC(2024, 0, 1),
  );
});

Deno.test("candles put ticks on the bucket edge into the next bucket", () => {
  const store = createCandleStore();
  store.add("tBTCUSD", T0 + MIN - 1, 100);
  store.add("tBTCUSD", T0 + MIN, 101);
  assert.deepEqual(
    store.candles("tBTCUSD", "1m").map((c) => [c.time, c.open, c.close]),
    [
      [T0, 100, 100],
      [T0 + MIN, 101, 101],
    ],
  );
});

Deno.test("a late tick updates its own bucket: open is first by event time, not by arrival", () => {
  const store = createCandleStore();
  store.add("tBTCUSD", T0 + 30_000, 105, 1);
  store.add("tBTCUSD", T0 + 70_000, 110, 1);
  store.add("tBTCUSD", T0 + 10_000, 99, 1);
  const [first, second] = store.candles("tBTCUSD", "1m");
  assert.deepEqual(first, {
    time: T0,
    open: 99,
    high: 105,
    low: 99,
    close: 105,
    volume: 2,
  });
  assert.deepEqual(second, {
    time: T0 + MIN,
    open: 110,
    high: 110,
    low: 110,
    close: 110,
    volume: 1,
  });
});

Deno.test("equal timestamps: open keeps the first arrival, close takes the last", () => {
  const store = createCandleStore();
  store.add("tBTCUSD", T0, 100, 1);
  store.add("tBTCUSD", T0, 102, 1);
  store.add("tBTCUSD", T0, 98, 1);
  assert.deepEqual(store.candles("tBTCUSD", "1m")[0], {
    time: T0,
    open: 100,
    high: 102,
    low: 98,
    close: 98,
    volume: 3,
  });
});

Deno.test("every interval agrees with OHLC computed independently over shuffled ticks", () => {
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const ticks: [number, number, number][] = [];
  let price = 100;
  for (let i = 0; i < 2000; i++) {
    price *= 1 + (random() - 0.5) / 100;
    ticks.push([T0 + i * 1700 + Math.floor(random() * 5), price, i * 0.5]);
  }
  const shuffled = [...ticks].sort(() => random() - 0.5);
  const store = createCandleStore();
  for (const [t, p] of shuffled) store.add("tETHUSD", t, p, 1);
  for (const interval of Object.keys(INTERVALS) as Interval[]) {
    assert.deepEqual(
      store.candles("tETHUSD", interval),
      reference(ticks, INTERVALS[interval]),
      interval,
    );
  }
});

Deno.test("switching interval reads the same ticks at another width; coins stay apart", () => {
  const store = createCandleStore();
  for (let i = 0; i < 30; i++) store.add("tBTCUSD", T0 + i * MIN, 100 + i);
  store.add("tXRPUSD", T0, 0.5);
  assert.equal(store.candles("tBTCUSD", "1m").length, 30);
  assert.equal(store.candles("tBTCUSD", "5m").length, 6);
  assert.equal(store.candles("tBTCUSD", "15m").length, 2);
  assert.deepEqual(
    store.candles("tBTCUSD", "1h").map((c) => [c.open, c.close]),
    [[100, 129]],
  );
  assert.deepEqual(store.coins(), ["tBTCUSD", "tXRPUSD"]);
  assert.equal(store.candles("tXRPUSD", "1m")[0].close, 0.5);
});

Deno.test("memory is capped: the oldest candles go, older late ticks are dropped", () => {
  const store = createCandleStore({ cap: 10 });
  for (let i = 0; i < 25; i++) store.add("tBTCUSD", T0 + i * MIN, i);
  const kept = store.candles("tBTCUSD", "1m");
  assert.equal(kept.length, 10);
  assert.equal(kept[0].time, T0 + 15 * MIN);
  store.add("tBTCUSD", T0, 999);
  assert.equal(store.candles("tBTCUSD", "1m")[0].time, T0 + 15 * MIN);
});

Deno.test("candles() filters by bucket start", () => {
  const store = createCandleStore();
  for (let i = 0; i < 10; i++) store.add("tBTCUSD", T0 + i * MIN, i);
  assert.deepEqual(
    store.candles("tBTCUSD", "1m", { from: T0 + 3 * MIN, to: T0 + 5 * MIN })
      .map((c) => c.open),
    [3, 4, 5],
  );
});

Deno.test("volume is the amount traded: the sum of what each tick traded", () => {
  const store = createCandleStore();
  store.add("tBTCUSD", T0 + 1_000, 100, 0.5);
  store.add("tBTCUSD", T0 + 2_000, 101, 0.25);
  store.add("tBTCUSD", T0 + MIN, 102); // nothing traded
  assert.deepEqual(
    store.candles("tBTCUSD", "5m").map((c) => c.volume),
    [0.75],
  );
});

Deno.test("history candles and live ticks make one series: a live minute ignores its history candle", () => {
  const store = createCandleStore();
  const minute = (i: number, open: number, close: number, volume = 1) => ({
    time: T0 + i * MIN,
    open,
    high: Math.max(open, close) + 1,
    low: Math.min(open, close) - 1,
    close,
    volume,
  });
  // history 17:00-17:03, live from 17:02 (the minutes 17:02, 17:03 overlap)
  store.add("tBTCUSD", T0 + 2 * MIN + 5_000, 200, 0.5);
  for (let i = 0; i < 4; i++) {
    store.addCandle("tBTCUSD", minute(i, 100 + i, 101 + i));
  }
  store.addCandle("tBTCUSD", minute(1, 100, 101)); // read twice: no second copy
  store.add("tBTCUSD", T0 + 3 * MIN + 5_000, 201, 0.25);
  assert.deepEqual(
    store.candles("tBTCUSD", "1m").map((
      c,
    ) => [c.time - T0, c.open, c.close, c.volume]),
    [
      [0, 100, 101, 1],
      [MIN, 101, 102, 1],
      [2 * MIN, 200, 200, 0.5],
      [3 * MIN, 201, 201, 0.25],
    ],
  );
  assert.deepEqual(store.candles("tBTCUSD", "5m"), [{
    time: T0,
    open: 100,
    high: 201,
    low: 99,
    close: 201,
    volume: 2.75,
  }]);
});
