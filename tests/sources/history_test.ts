import assert from "node:assert/strict";
import type { Candle } from "@cryptocandles/bitfinex";
import {
  addStored,
  backfill,
  planBackfill,
  type StoredSpan,
  syntheticCandles,
} from "@cryptocandles/sources";
import { createLogger } from "@cryptocandles/runtime";
import { testConfig } from "../support.ts";
import { startBitfinexDouble } from "../doubles/bitfinex_double.ts";

const M = 60_000;
const H = 60 * M;
const T = Date.UTC(2026, 0, 5, 12, 0); // a minute boundary
const quiet = createLogger("test", { write: () => {} });

Deno.test("planBackfill() asks for all of BACKFILL up to the current minute when nothing is stored", () => {
  assert.deepEqual(
    planBackfill(undefined, { now: T + 30_000, backfillMs: 24 * H }),
    [
      { from: T - 24 * H, to: T },
    ],
  );
  assert.deepEqual(planBackfill(undefined, { now: T, backfillMs: 0 }), []);
});

Deno.test("planBackfill() fills forward from the newest stored minute with its close, and backward to BACKFILL", () => {
  const stored = { oldest: T - 2 * H, newest: T - 10 * M, newestClose: 42 };
  assert.deepEqual(
    planBackfill(stored, { now: T + 5_000, backfillMs: 3 * H }),
    [
      { from: T - 9 * M, to: T, previousClose: 42 },
      { from: T - 3 * H, to: T - 2 * H },
    ],
  );
  // everything stored: nothing to do
  const full = { oldest: T - 3 * H, newest: T - M, newestClose: 1 };
  assert.deepEqual(
    planBackfill(full, { now: T + 59_000, backfillMs: 3 * H }),
    [],
  );
  // stored history older than BACKFILL: forward from the start of BACKFILL, without the stale close
  const old = { oldest: T - 50 * H, newest: T - 48 * H, newestClose: 1 };
  assert.deepEqual(planBackfill(old, { now: T, backfillMs: H }), [
    { from: T - H, to: T },
  ]);
});

Deno.test("syntheticCandles() gives one candle a minute, consistent OHLC, ending at the live walk's start price", () => {
  const candles = syntheticCandles("tBTCUSD", {
    from: T - 24 * H,
    to: T,
    seed: 42,
  });
  assert.equal(candles.length, 24 * 60);
  candles.forEach((c, i) => {
    assert.equal(c.start, T - 24 * H + i * M);
    assert.ok(
      c.low <= Math.min(c.open, c.close) && c.high >= Math.max(c.open, c.close),
    );
    assert.ok(c.volume > 0 && !c.empty);
    // the walk is continuous: a minute opens where the one before closed
    if (i > 0) assert.equal(c.open, candles[i - 1].close);
  });
  assert.equal(candles.at(-1)!.close, 66_000); // START_PRICES.tBTCUSD
  const again = syntheticCandles("tBTCUSD", {
    from: T - 24 * H,
    to: T,
    seed: 42,
  });
  assert.deepEqual(again, candles);
  const other = syntheticCandles("tBTCUSD", {
    from: T - 24 * H,
    to: T,
    seed: 7,
  });
  assert.notDeepEqual(other, candles);
});

Deno.test("addStored() keeps the oldest and newest minute and the newest close", () => {
  const stored = new Map<string, StoredSpan>();
  addStored(stored, { pair: "tX", start: T, close: 1 });
  addStored(stored, { pair: "tX", start: T - M, close: 2 });
  addStored(stored, { pair: "tX", start: T + M, close: 3 });
  assert.deepEqual(stored.get("tX"), {
    oldest: T - M,
    newest: T + M,
    newestClose: 3,
  });
});

Deno.test("backfill() after 10 minutes of downtime sends exactly those minutes, a minute without trades as empty", async () => {
  await using double = await startBitfinexDouble({
    candleRateLimitEvery: 2,
    candleRetryAfterSeconds: 0,
  });
  const pair = "tBTCUSD";
  // A 10-minute stop whose span holds a minute the double has no trade for.
  let stop = Math.floor(Date.now() / M) * M - 30 * M;
  const hasRow = (m: number) => double.candleRows(pair, m, m).length > 0;
  while (![...Array(10).keys()].some((i) => !hasRow(stop + i * M))) stop -= M;
  const config = testConfig({
    SOURCE: "bitfinex-ws",
    BITFINEX_REST_URL: double.restUrl,
    COINS: pair,
    BACKFILL: "1h",
  });
  const run = async (now: number, stored: Map<string, StoredSpan>) => {
    const sent: Candle[] = [];
    await backfill(config, {
      stored,
      send: (page) => Promise.resolve(void sent.push(...page)),
      signal: AbortSignal.timeout(20_000),
      log: quiet,
      now: () => now,
      rateLimitWaitMs: 0,
    });
    return sent;
  };
  const stored = new Map<string, StoredSpan>();
  const first = await run(stop + 15_000, stored); // the producer ran until `stop`
  assert.equal(first.at(-1)!.start, stop - M);
  const second = await run(stop + 10 * M + 15_000, stored); // restarted 10 minutes later
  assert.deepEqual(
    second.map((c) => c.start),
    [...Array(10).keys()].map((i) => stop + i * M),
  );
  for (const c of second) {
    const row = double.candleRows(pair, c.start, c.start)[0];
    if (row) {
      assert.deepEqual([
        c.start,
        c.open,
        c.close,
        c.high,
        c.low,
        c.volume,
        c.empty,
      ], [...row, false]);
    } else {assert.equal(
        c.empty,
        true,
        `minute ${c.start} has no trades: empty`,
      );}
  }
  const empty = second.find((c) => c.empty)!;
  const before = [...first, ...second].filter((c) => c.start < empty.start).at(
    -1,
  )!;
  assert.equal(empty.close, before.close);
  assert.equal(empty.volume, 0);
});
