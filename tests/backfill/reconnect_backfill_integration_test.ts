/**
 * No gap after a reconnect: the producer's history (`startHistory` of
 * @cryptocandles/sources, with the compacted `<topic>.candles` as its
 * store, opened as scripts/producer.ts opens it) and its live Bitfinex
 * WebSocket source, against the Bitfinex double and the local stack. The
 * history's clock is the test's: the link drops while 10 minutes pass on
 * it, so no test waits minutes. A second test runs the producer script
 * itself through a drop.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import assert from "node:assert/strict";
import { candleCodec, createRegistry } from "@cryptocandles/avro";
import type { Candle } from "@cryptocandles/bitfinex";
import { readTopicToEnd, sendAll } from "@cryptocandles/kafka";
import { createLogger } from "@cryptocandles/runtime";
import {
  type HistoryStore,
  openSource,
  startHistory,
} from "@cryptocandles/sources";
import { startBitfinexDouble } from "../doubles/bitfinex_double.ts";
import {
  consumerRig,
  isMsg,
  readTopic,
  schemaTopic,
} from "../pipeline/fixtures.ts";
import { testConfig, testKafka, waitFor } from "../support.ts";

const M = 60_000;
const COINS = ["tBTCUSD", "tETHUSD"];
const floorMinute = (t: number) => Math.floor(t / M) * M;

/** The candles a topic holds, decoded with the registered Candle schema. */
async function storedCandles(topic: string): Promise<Candle[]> {
  const codec = await candleCodec(
    createRegistry(testConfig().registryUrl),
    `${topic}-value`,
  );
  const out: Candle[] = [];
  for (const record of await readTopic(topic, { decode: false })) {
    const candle = await codec.decode(record.value);
    assert.equal(record.key, `${candle.pair}|1m|${candle.start}`);
    out.push(candle);
  }
  return out;
}

/** Asserts `candles` of `pair` are the minutes `[from, to)` as the double serves them (a minute without a row: empty, at the previous close). */
function assertServed(
  candles: Candle[],
  rows: number[][],
  from: number,
  to: number,
  previousClose: number,
) {
  const byStart = new Map(rows.map((r) => [r[0], r]));
  const starts = candles.map((c) => c.start);
  assert.deepEqual(
    starts,
    [...Array((to - from) / M).keys()].map((i) => from + i * M),
  );
  let previous = previousClose;
  for (const c of candles) {
    const row = byStart.get(c.start);
    const values = [c.open, c.close, c.high, c.low, c.volume, c.empty];
    if (row) assert.deepEqual(values, [...row.slice(1), false]);
    else {assert.deepEqual(values, [
        previous,
        previous,
        previous,
        previous,
        0,
        true,
      ]);}
    previous = c.close;
  }
}

Deno.test("after a reconnect of the Bitfinex WebSocket the minutes missed while down go to <topic>.candles once each, as Bitfinex serves them (a rate limit waited out)", async () => {
  await using double = await startBitfinexDouble({ tickMs: 50 });
  await using topic = await schemaTopic("t-reconnect"); // and <topic>.candles
  const candles = `${topic.name}.candles`;
  const config = testConfig({
    KAFKA_TOPIC: topic.name,
    SOURCE: "bitfinex-ws",
    BITFINEX_WS_URL: double.wsUrl,
    BITFINEX_REST_URL: double.restUrl,
    COINS: COINS.join(","),
    BACKFILL: "30m",
  });
  const kafka = testKafka(config, "reconnect-test");
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const controller = new AbortController();
  const { signal } = controller;
  const lines: { level: string; msg: string }[] = [];
  const log = createLogger("producer", {
    format: "json",
    write: (line) => lines.push(JSON.parse(line)),
  });
  // <topic>.candles as the producer opens it (scripts/producer.ts, candleStore)
  const open = async (): Promise<HistoryStore> => {
    const codec = await candleCodec(
      createRegistry(config.registryUrl),
      `${candles}-value`,
    );
    return {
      read: (onCandle) =>
        readTopicToEnd(kafka, candles, {
          signal,
          onMessage: async (m) => onCandle(await codec.decode(m.value)),
        }),
      send: (page) => sendAll(producer, candles, page.map(codec.toRecord)),
    };
  };
  // The history's clock: an hour ago, 15 s into a minute, moved by the test.
  let now = floorMinute(Date.now()) - 60 * M + 15_000;
  const down = floorMinute(now); // the first minute the outage will miss
  try {
    const history = await startHistory(config, {
      open,
      signal,
      log,
      now: () => now,
    });
    assert.ok(history);
    const atStart = await storedCandles(candles);
    assert.ok(atStart.length > 0, "the start's backfill");
    assert.ok(atStart.every((c) => c.start < down));

    let ticks = 0;
    const live = (async () => {
      const options = { signal, log, onReconnect: history.reconnected };
      for await (const _ of openSource(config, options)) ticks++;
    })();
    await waitFor("live ticks", () => ticks >= 4, { timeoutMs: 10_000 });

    // The link drops; 10 minutes pass before it is back; Bitfinex then
    // rate-limits the first candles request.
    now += 10 * M;
    double.rateLimit(1, { retryAfterSeconds: 0 });
    await double.dropConnections();
    await waitFor(
      "the reconnect's backfill",
      () =>
        lines.filter((l) => l.msg.startsWith("backfill: done")).length === 2,
      { timeoutMs: 30_000 },
    );
    // Another drop with no time passed: nothing is missing, nothing is sent.
    await double.dropConnections();
    await waitFor(
      "the second reconnect's backfill",
      () =>
        lines.filter((l) => l.msg.startsWith("backfill: done")).length === 3,
      { timeoutMs: 30_000 },
    );
    await history.idle();
    controller.abort();
    await live;

    assert.ok(
      lines.some((l) =>
        /^backfill: rate limited by Bitfinex \(429\); waiting 0 s$/.test(l.msg)
      ),
      "the rate limit is waited out and logged",
    );
    const stored = await storedCandles(candles);
    assert.equal(
      new Set(stored.map((c) => `${c.pair}|${c.start}`)).size,
      stored.length,
      "each minute once",
    );
    const missed = stored.filter((c) => c.start >= down);
    assert.equal(missed.length, 10 * COINS.length, "10 minutes per pair");
    for (const pair of COINS) {
      const last = atStart.filter((c) => c.pair === pair)
        .sort((a, b) => a.start - b.start).at(-1)!;
      assert.equal(
        last.start,
        down - M,
        `${pair}: the start filled up to the outage`,
      );
      assertServed(
        missed.filter((c) => c.pair === pair).sort((a, b) => a.start - b.start),
        double.candleRows(pair, down, down + 10 * M - 1),
        down,
        down + 10 * M,
        last.close,
      );
    }
  } finally {
    controller.abort();
    await producer.disconnect();
  }
});

Deno.test("producer script: a dropped Bitfinex link is followed by a backfill round, and <topic>.candles holds every minute once", async () => {
  await using double = await startBitfinexDouble({ tickMs: 100 });
  await using rig = await consumerRig("reconnect-script");
  const candles = `${rig.topic}.candles`;
  const producer = rig.startProducer({
    SOURCE: "bitfinex-ws",
    BITFINEX_WS_URL: double.wsUrl,
    BITFINEX_REST_URL: double.restUrl,
    COINS: COINS.join(","),
    BACKFILL: "20m",
  });
  await producer.waitForLog("the producer to go live", isMsg("sending"));
  await waitFor("its channels", () => double.subscriptions.length === 2);
  const since = producer.mark();
  await double.dropConnections();
  await producer.waitForLog(
    "the reconnect",
    (l) => l.msg.startsWith("bitfinex: reconnected after"),
    { since },
  );
  await producer.waitForLog(
    "the backfill after it",
    (l) => l.msg.startsWith("backfill: done"),
    { since, timeoutMs: 30_000 },
  );
  const reconnectedAt = Date.now();
  const exit = await producer.stop();
  assert.equal(exit.code, 0, exit.stderr.slice(-2000));
  assert.ok(
    producer.logs().some((l) =>
      l.msg === "backfill: filling the minutes missed while disconnected"
    ),
  );

  const stored = await storedCandles(candles);
  for (const pair of COINS) {
    const starts = stored.filter((c) => c.pair === pair).map((c) => c.start)
      .sort((a, b) => a - b);
    assert.equal(new Set(starts).size, starts.length, `${pair}: no copies`);
    const end = starts.at(-1)! + M;
    assert.equal(starts.length, (end - starts[0]) / M, `${pair}: no gap`);
    assert.ok(
      end <= floorMinute(reconnectedAt),
      `${pair}: not the live minute`,
    );
    assert.ok(
      end >= floorMinute(reconnectedAt) - M,
      `${pair}: up to the reconnect`,
    );
  }
});
