/**
 * The history backfill through the real stack: setup-schema makes the
 * compacted `<topic>.candles`, the producer fills it from the Bitfinex
 * double's candles endpoint (with 429s), and a second run adds nothing.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { parseSchema, readCandleSchema } from "@cryptocandles/avro";
import { startBitfinexDouble } from "../doubles/bitfinex_double.ts";
import { testConfig, testKafka } from "../support.ts";
import { querySql } from "@cryptocandles/influx";
import { waitFor } from "../support.ts";
import {
  consumerRig,
  INFLUX_TOKEN,
  isMsg,
  readTopic,
  type TopicRecord,
} from "../pipeline/fixtures.ts";

const M = 60_000;
const COINS = ["tBTCUSD", "tETHUSD"];
const CANDLE = parseSchema(await readCandleSchema());
const floorMinute = (t: number) => Math.floor(t / M) * M;

interface Decoded {
  key: string;
  timestamp: number;
  pair: string;
  start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  empty: boolean;
}

/** The candles of a topic, decoded here from the wire format (byte 0, id, Avro). */
function decodeAll(records: TopicRecord[]): Decoded[] {
  return records.map((r) => {
    assert.equal(r.value[0], 0, "magic byte");
    const body = Buffer.from(r.value.subarray(5));
    const c = CANDLE.fromBuffer(body) as Omit<
      Decoded,
      "key" | "timestamp"
    >;
    return { ...c, key: r.key, timestamp: r.timestamp };
  });
}

Deno.test("backfill: 24 h for 2 coins puts one candle per minute in the compacted <topic>.candles, as many points in InfluxDB, and a second run adds nothing", async () => {
  await using double = await startBitfinexDouble({
    candleRateLimitEvery: 2,
    candleRetryAfterSeconds: 1,
  });
  await using rig = await consumerRig("backfill");
  const topic = { name: rig.topic };
  const candles = `${topic.name}.candles`;
  const config = testConfig();
  const influx = {
    host: rig.influx.url,
    token: INFLUX_TOKEN,
    database: config.influx.database,
  };
  const points = async () => {
    const rows = await querySql(
      `SELECT COUNT(*) AS n FROM "${config.influx.measurement}_candles"`,
      influx,
    ).catch(() => [{ n: 0 }]);
    return Number(rows[0].n);
  };
  rig.startConsumer("c1");

  // setup-schema made the history topic compacted, its subject BACKWARD
  const admin = testKafka(testConfig(), "backfill-test").admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: candles, configNames: ["cleanup.policy"] }],
    });
    assert.equal(resources[0].configEntries[0].configValue, "compact");
  } finally {
    await admin.disconnect();
  }

  const env = {
    SOURCE: "bitfinex-ws",
    BITFINEX_WS_URL: double.wsUrl,
    BITFINEX_REST_URL: double.restUrl,
    COINS: COINS.join(","),
    BACKFILL: "24h",
  };
  const before = Date.now();
  const first = rig.startProducer(env);
  const done = await first.waitForLog(
    "the backfill to finish",
    (l) => l.msg.startsWith("backfill: done"),
    { timeoutMs: 120_000 },
  );
  await first.waitForLog("the producer to go live", isMsg("sending"));
  const after = Date.now();
  const exit = await first.stop();
  assert.equal(exit.code, 0, exit.stderr);
  assert.ok(
    first.textLines().some((l) =>
      /rate limited by Bitfinex.*waiting 1 s/.test(l)
    ),
    "a rate-limit wait is logged with its length",
  );

  const stored = decodeAll(await readTopic(candles, { decode: false }));
  let total = 0;
  for (const pair of COINS) {
    const mine = stored.filter((c) => c.pair === pair)
      .sort((a, b) => a.start - b.start);
    // keys and timestamps
    for (const c of mine) {
      assert.equal(c.key, `${pair}|1m|${c.start}`);
      assert.equal(c.timestamp, c.start);
    }
    assert.equal(
      new Set(mine.map((c) => c.start)).size,
      mine.length,
      "no copies",
    );
    // from the double's first trade in the last 24 h up to the live minute
    const firstRows = [before, after].map((t) =>
      double.candleRows(pair, floorMinute(t - 24 * 60 * M), t)[0][0]
    );
    assert.ok(
      firstRows.includes(mine[0].start),
      `${pair} starts at the first row`,
    );
    const end = mine.at(-1)!.start + M;
    assert.ok(
      end >= floorMinute(before) && end <= floorMinute(after),
      `${pair} ends at the live minute`,
    );
    assert.equal(
      mine.length,
      (end - mine[0].start) / M,
      `${pair}: every minute once`,
    );
    // real minutes are the double's rows (close before high); the others empty and flat
    const rows = new Map(
      double.candleRows(pair, mine[0].start, end - 1).map((r) => [r[0], r]),
    );
    let previous = NaN;
    for (const c of mine) {
      const row = rows.get(c.start);
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
      } else {
        assert.deepEqual([c.open, c.high, c.low, c.close, c.volume, c.empty], [
          previous,
          previous,
          previous,
          previous,
          0,
          true,
        ]);
      }
      previous = c.close;
    }
    assert.ok(mine.some((c) => c.empty), `${pair} has minutes without trades`);
    total += mine.length;
  }
  assert.equal(stored.length, total, "nothing but these pairs");
  // the consumer writes each candle as one point of <measurement>_candles
  await waitFor(
    "every candle in InfluxDB",
    async () => await points() === stored.length,
    { timeoutMs: 60_000 },
  );
  assert.deepEqual(
    done.sent,
    Object.fromEntries(
      COINS.map((p) => [p, stored.filter((c) => c.pair === p).length]),
    ),
  );

  // A second run stores only the minutes that passed since the first.
  const lastBefore = Math.max(...stored.map((c) => c.start));
  const second = rig.startProducer(env);
  await second.waitForLog(
    "the second backfill",
    (l) => l.msg.startsWith("backfill: done"),
    { timeoutMs: 60_000 },
  );
  const afterSecond = Date.now();
  assert.equal((await second.stop()).code, 0);
  const again = decodeAll(await readTopic(candles, { decode: false }));
  const known = new Set(stored.map((c) => c.key));
  const added = again.filter((c) => !known.has(c.key));
  const passed = (floorMinute(afterSecond) - (lastBefore + M)) / M;
  assert.ok(
    added.length <= passed * COINS.length,
    `added ${added.length} (minutes passed: ${passed})`,
  );
  assert.ok(added.every((c) => c.start > lastBefore), "only newer minutes");
  assert.equal(again.length, stored.length + added.length);
  await waitFor(
    "the added candles in InfluxDB",
    async () => await points() === again.length,
    { timeoutMs: 60_000 },
  );
  assert.equal(
    new Set(again.map((c) => c.key)).size,
    again.length,
    "no key twice",
  );
});
