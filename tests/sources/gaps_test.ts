/**
 * `createGapFiller()` and `startHistory()` without the network: the
 * synthetic source's history (one candle a minute), an in-memory store and
 * a clock the test moves. Against Bitfinex (the double) and Kafka, see
 * tests/backfill/reconnect_backfill_integration_test.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Candle, UnknownPairError } from "@cryptocandles/bitfinex";
import { createLogger } from "@cryptocandles/runtime";
import {
  createGapFiller,
  type HistoryStore,
  startHistory,
  type StoredSpan,
  syntheticCandles,
} from "@cryptocandles/sources";
import { testConfig, waitFor } from "../support.ts";

const M = 60_000;
const T = Date.UTC(2026, 0, 5, 12, 0); // a minute boundary
const COINS = ["tBTCUSD", "tETHUSD"];

function logged() {
  const lines: { level: string; msg: string }[] = [];
  const log = createLogger("test", {
    format: "json",
    write: (line) => lines.push(JSON.parse(line)),
  });
  return { lines, log };
}

/** Asserts each pair's candles are the minutes `[from, to)`, each once. */
function assertMinutes(sent: Candle[], from: number, to: number) {
  for (const pair of COINS) {
    const starts = sent.filter((c) => c.pair === pair).map((c) => c.start);
    const expected = [];
    for (let m = from; m < to; m += M) expected.push(m);
    assert.deepEqual(starts.sort((a, b) => a - b), expected, pair);
  }
}

/** A store in memory that starts with `held`; `send` may be made to wait or fail. */
function memoryStore(held: Candle[] = []) {
  const sent: Candle[] = [];
  let gate: Promise<void> | undefined;
  let failNext = false;
  let waiting = 0;
  const store: HistoryStore = {
    read: (onCandle) => Promise.resolve(held.forEach(onCandle)),
    async send(candles) {
      if (failNext) {
        failNext = false;
        throw new Error("the broker refused the page");
      }
      waiting++;
      await gate;
      waiting--;
      sent.push(...candles);
    },
  };
  return {
    store,
    sent,
    waiting: () => waiting,
    hold() {
      const { promise, resolve } = Promise.withResolvers<void>();
      gate = promise;
      return () => {
        gate = undefined;
        resolve();
      };
    },
    failNext: () => failNext = true,
  };
}

Deno.test("createGapFiller(): reconnects while a fill runs share one more run after it, and every minute is sent once", async () => {
  const config = testConfig({
    SOURCE: "synthetic",
    COINS: COINS.join(","),
    BACKFILL: "1h",
  });
  let now = T + 15_000;
  const memory = memoryStore();
  const { lines, log } = logged();
  const history = createGapFiller(config, {
    stored: new Map<string, StoredSpan>(),
    send: memory.store.send,
    signal: AbortSignal.timeout(20_000),
    log,
    now: () => now,
  });
  await history.fill(); // at start: the hour before T
  assertMinutes(memory.sent, T - 60 * M, T);

  // Back after 10 minutes down; the link flaps, so three reconnects come
  // while the first fill of the hole is still sending.
  now = T + 10 * M + 15_000;
  const release = memory.hold();
  history.reconnected();
  await waitFor("a page on its way", () => memory.waiting() > 0);
  history.reconnected();
  history.reconnected();
  now = T + 12 * M + 15_000; // two more minutes pass while it sends
  release();
  await history.idle();

  assertMinutes(memory.sent, T - 60 * M, T + 12 * M);
  const runs = lines.filter((l) => l.msg.startsWith("backfill: done"));
  assert.equal(runs.length, 3, "the start, the first reconnect, one more");
  assert.equal(
    lines.filter((l) => l.msg.includes("missed while disconnected")).length,
    3,
  );
});

Deno.test("startHistory(): reads the store first and sends only the minutes it lacks; BACKFILL=0 opens nothing", async () => {
  const config = testConfig({
    SOURCE: "synthetic",
    COINS: COINS.join(","),
    BACKFILL: "1h",
  });
  const held = COINS.flatMap((pair) =>
    syntheticCandles(pair, { from: T - 60 * M, to: T - 5 * M, seed: 1 })
  );
  const memory = memoryStore(held);
  const { log } = logged();
  const signal = AbortSignal.timeout(20_000);
  const history = await startHistory(config, {
    open: () => Promise.resolve(memory.store),
    signal,
    log,
    now: () => T + 15_000,
  });
  assert.ok(history);
  assertMinutes(memory.sent, T - 5 * M, T);

  let opened = false;
  const none = await startHistory(testConfig({ BACKFILL: "0" }), {
    open: () => Promise.resolve((opened = true, memory.store)),
    signal,
    log,
  });
  assert.equal(none, undefined);
  assert.equal(opened, false);
});

Deno.test("startHistory(): no store means no history; a first fill that fails goes live and still fills after a reconnect; an unknown pair stops it", async () => {
  const config = testConfig({
    SOURCE: "synthetic",
    COINS: COINS.join(","),
    BACKFILL: "1h",
  });
  const signal = AbortSignal.timeout(20_000);
  const now = () => T + 15_000;

  const noStore = logged();
  const none = await startHistory(config, {
    open: () => Promise.reject(new Error("no topic x.candles")),
    signal,
    log: noStore.log,
  });
  assert.equal(none, undefined);
  assert.deepEqual(noStore.lines.map((l) => [l.level, l.msg]), [
    ["warn", "backfill: stopped (no topic x.candles); going live"],
  ]);

  const memory = memoryStore();
  memory.failNext();
  const failing = logged();
  const history = await startHistory(config, {
    open: () => Promise.resolve(memory.store),
    signal,
    log: failing.log,
    now,
  });
  assert.ok(history, "the filler is kept for reconnects");
  assert.ok(
    failing.lines.some((l) =>
      l.msg === "backfill: stopped (the broker refused the page); going live"
    ),
  );
  history.reconnected();
  await history.idle();
  assertMinutes(memory.sent, T - 60 * M, T);

  const unknown = (() =>
    Promise.resolve(
      Response.json(["error", 10020, "symbol: invalid"], { status: 500 }),
    )) as typeof fetch;
  await assert.rejects(
    () =>
      startHistory(
        testConfig({ SOURCE: "bitfinex-ws", COINS: "tNOPE", BACKFILL: "1h" }),
        {
          open: () => Promise.resolve(memoryStore().store),
          signal,
          log: logged().log,
          now,
          fetch: unknown,
        },
      ),
    UnknownPairError,
  );
});
