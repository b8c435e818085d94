/**
 * The consumer script against the local stack (3 Kafka brokers + Apicurio)
 * and the InfluxDB 3 double: every record becomes exactly one point, the
 * original's candle SQL over those points, the partition assignors,
 * a member killed mid-stream, an InfluxDB outage, and poison records.
 *
 * Each test arranges a {@linkcode consumerRig} (./fixtures.ts): its own
 * topic, consumer group and InfluxDB double, with the scripts run as child
 * processes that the rig stops when the test ends.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import { sampleTicker } from "../fixtures/ticker.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import avro from "avsc";
import { Partitioners } from "kafkajs";
import { encodeWire, readSchema } from "@cryptocandles/avro";
import type { AssignorName } from "@cryptocandles/config";
import { binStart, createCandleStore } from "@cryptocandles/chart";
import type { Ticker } from "@cryptocandles/ticker";
import type { InfluxDouble } from "../doubles/influx_double.ts";
import { type ScriptProcess, stopAll } from "../processes.ts";
import { tempFile, uniqueName, waitFor } from "../support.ts";
import {
  type ConsumerRig,
  consumerRig,
  isMsg,
  openReader,
  readTopic,
  registry,
  type TopicRecord,
  V2,
  waitForRecords,
} from "./fixtures.ts";

const FIELDS_SQL =
  `SELECT "Coin", time, close_price, bid, ask, bid_size, ask_size, volume, ` +
  `daily_change, daily_change_percentage, high, low FROM criptomonedas`;

// --- a) every record becomes one point -------------------------------------------

Deno.test("two consumers and the synthetic producer: every produced record becomes exactly one point with the record's fields", async () => {
  await using rig = await consumerRig("cons-points");
  const c1 = rig.startConsumer("c1");
  const c2 = rig.startConsumer("c2");
  const split = await rig.waitForOwners(2);
  assert.deepEqual(
    [...split.byClient.values()].map((p) => p.length),
    [1, 1],
    "each consumer owns one of the 2 partitions",
  );

  const producer = rig.startProducer({ SYNTHETIC_RATE: "20" });
  await producer.waitForLog("the producer to send", isMsg("sending"));
  const started = Date.now();
  await waitForRecords(rig.topic, 100);
  const produced = await producer.stop();

  assert.equal(produced.code, 0, produced.stderr.slice(-2000));
  const records = await readTopic(rig.topic);
  const expected = expectedPoints(records);
  assert.ok(records.length >= 100, `only ${records.length} records`);
  assert.equal(expected.size, records.length, "(Coin, time) is unique");
  await rig.waitForPoints(expected.size);
  const seconds = (Date.now() - started) / 1000;
  const points = await storedPoints(rig.influx);
  assertSamePoints(points, expected);
  console.log(
    `a) ${records.length} records -> ${points.size} points ` +
      `(${(points.size / seconds).toFixed(0)} points/s end to end over ${
        seconds.toFixed(1)
      } s)`,
  );
  const [e1, e2] = await stopAll([c1, c2]);
  for (const [name, exit] of [["c1", e1], ["c2", e2]] as const) {
    assert.equal(exit?.code, 0, `${name}: ${exit?.stderr.slice(-2000)}`);
    assert.equal(exit?.killedAfterTimeout, false);
  }
  const wrote = [c1, c2].map((c) => writtenTotal(c));
  assert.ok(
    wrote.every((n) => n > 0),
    `both consumers wrote points: ${wrote}`,
  );
  assert.ok(wrote[0] + wrote[1] >= records.length);
});

// --- b) the original's candle SQL ------------------------------------------------

Deno.test("the original's 5-minute candle SQL over the stored points equals OHLC computed from the produced ticks", async () => {
  await using rig = await consumerRig("cons-candles");
  // Two hours of ticks every 2 s for two pairs, ending 10 minutes ago, with
  // ticks on bucket edges and late ticks (see replayTicks): open and close
  // must go by time, not by arrival.
  const ticks = replayTicks(Date.now() - 130 * 60_000, 3600);
  await using replay = await tempFile(
    ".jsonl",
    ticks.map((t) => JSON.stringify(t)).join("\n") + "\n",
  );
  const producer = rig.startProducer({
    SOURCE: "replay",
    REPLAY_FILE: replay.path,
    REPLAY_SPEED: "0",
  });
  const produced = await producer.waitForExit(60_000);
  assert.equal(produced.killedAfterTimeout, false, "the replay ends");
  assert.equal(produced.code, 0, produced.stderr.slice(-2000));
  const records = await readTopic(rig.topic);
  assert.equal(records.length, ticks.length);

  const consumer = rig.startConsumer("c1");
  await consumer.waitForLog("c1 to join", isMsg("joined group"));
  const joined = Date.now();
  await rig.waitForPoints(ticks.length, 60_000);
  const seconds = (Date.now() - joined) / 1000;
  console.log(
    `b) caught up ${ticks.length} records in ${seconds.toFixed(1)} s ` +
      `(${(ticks.length / seconds).toFixed(0)} points/s)`,
  );

  const btc = records.flatMap((r) => r.tickers)
    .filter((t) => t.nombre === "tBTCUSD");
  const pairs = btc.map((t): [number, number] => [
    t.event_time,
    t.precio_ultimo,
  ]);
  const fromTicks = ohlc(pairs);
  assert.ok(fromTicks.length >= 24, `${fromTicks.length} candles`);
  assert.notDeepEqual(
    ohlc(pairs, true),
    fromTicks,
    "late ticks make arrival order give other candles",
  );
  const rows = await rig.influx.query(
    `SELECT DATE_BIN(INTERVAL '5 minutes', time, '1970-01-01T00:00:00Z'::TIMESTAMP) AS _time, ` +
      `first_value(close_price ORDER BY time) AS Open, MAX(close_price) AS High, ` +
      `MIN(close_price) AS Low, last_value(close_price ORDER BY time) AS Close ` +
      `FROM "criptomonedas" WHERE "Coin" IN ('tBTCUSD') GROUP BY _time ORDER BY _time`,
  );
  assert.deepEqual(rows.map(sqlCandle), fromTicks);
  const store = createCandleStore();
  for (const t of btc) {
    store.add(t.nombre, t.event_time, t.precio_ultimo);
  }
  assert.deepEqual(
    store.candles("tBTCUSD", "5m").map(({ time, open, high, low, close }) => [
      time,
      open,
      high,
      low,
      close,
    ]),
    fromTicks,
  );
  const exit = await consumer.stop();
  assert.equal(exit.code, 0, exit.stderr.slice(-2000));
});

// --- c) assignors -----------------------------------------------------------------

Deno.test("each assignor gives each of 2 members one partition, and sticky moves the fewest partitions when a third member joins and leaves", async () => {
  await using rig = await consumerRig("asg", { schema: false });
  // Each assignor gets a 2- and a 6-partition topic, created one at a time:
  // kafkajs's createTopics can fail with UNKNOWN_TOPIC_OR_PARTITION while
  // waiting for the leaders of topics created side by side.
  const runs: { name: AssignorName; small: string; large: string }[] = [];
  for (const name of ["range", "roundrobin", "sticky"] as const) {
    runs.push({
      name,
      small: await rig.createTopic(`t-asg-${name}-2p`, 2),
      large: await rig.createTopic(`t-asg-${name}-6p`, 6),
    });
  }

  // The three assignors run side by side, each with its own groups.
  const results = await Promise.all(runs.map((run) => assignorRun(run, rig)));

  for (const r of results) {
    console.log(
      `c) ${r.name.padEnd(10)} protocol=${r.protocol} 2 partitions: ${
        JSON.stringify(r.twoPartitions)
      }; 6 partitions: moved ${r.joinMoves} on join + ${r.leaveMoves} on leave = ${
        r.joinMoves + r.leaveMoves
      }, initial vs final ${r.finalMoves}`,
    );
  }
  const [range, roundrobin, sticky] = results;
  for (const r of results) {
    assert.deepEqual(
      Object.values(r.twoPartitions).map((p) => p.length),
      [1, 1],
      `${r.name}: each of 2 members owns one partition`,
    );
  }
  // 6 partitions over 3 members: the newcomer must take 2, and must hand
  // its 2 back when it leaves; no assignment can move fewer than 4.
  assert.equal(sticky.joinMoves, 2, "sticky: the newcomer takes 2");
  assert.equal(sticky.leaveMoves, 2, "sticky: only the leaver's 2 move");
  // Which of the two stayers gets each of the leaver's partitions is free
  // (both choices are balanced and move 2), so the final owners may differ
  // from the initial ones: only the counts above are invariants.
  for (const other of [range, roundrobin]) {
    assert.ok(
      sticky.joinMoves + sticky.leaveMoves <=
        other.joinMoves + other.leaveMoves,
      `sticky moves no more than ${other.name}`,
    );
  }
});

// --- d) SIGKILL mid-stream ----------------------------------------------------------

Deno.test("a consumer killed with SIGKILL mid-stream: the other takes its partitions and no point is missing at the end", async () => {
  await using rig = await consumerRig("cons-kill");
  const c1 = rig.startConsumer("c1");
  const c2 = rig.startConsumer("c2");
  await rig.waitForOwners(2);
  const producer = rig.startProducer({ SYNTHETIC_RATE: "20" });
  await producer.waitForLog("the producer to send", isMsg("sending"));
  // Mid-stream: both members have been writing for a while (80 records/s).
  await rig.waitForPoints(200);

  const killed = await c1.stop({ signal: "SIGKILL" });
  const killedAt = Date.now();
  // The stream goes on while c1's partition has no live owner.
  await waitForRecords(rig.topic, (await rig.recordCount()) + 400);
  const produced = await producer.stop();

  assert.equal(killed.signal, "SIGKILL");
  assert.equal(produced.code, 0, produced.stderr.slice(-2000));
  // The dead member holds its partition until its session (30 s) expires.
  const after = await rig.waitForOwners(1, { timeoutMs: 60_000 });
  assert.deepEqual(after.byClient.get("c2"), [0, 1]);
  const records = await readTopic(rig.topic);
  const expected = expectedPoints(records);
  await rig.waitForPoints(expected.size, 30_000);
  assertSamePoints(await storedPoints(rig.influx), expected);
  console.log(
    `d) ${records.length} records; c2 owned both partitions ${
      ((Date.now() - killedAt) / 1000).toFixed(1)
    } s after the kill at most; all points present`,
  );
  const exit = await c2.stop();
  assert.equal(exit.code, 0, exit.stderr.slice(-2000));
});

// --- e) InfluxDB outage -------------------------------------------------------------

Deno.test("InfluxDB answering 500 while 480 records arrive: no offset is committed past what was written, and nothing is missing after it recovers", async () => {
  // The double stores and answers each write at once (no WAL flush every
  // second), so a snapshot taken once writes are refused is what it holds
  // during the outage.
  await using rig = await consumerRig("cons-outage", {
    influx: { walFlushIntervalMs: 0 },
  });
  const { influx } = rig;
  await using reader = await openReader(rig.topic);
  const consumer = rig.startConsumer("c1");
  await rig.waitForOwners(1);
  const producer = rig.startProducer({ SYNTHETIC_RATE: "10" });
  await producer.waitForLog("the producer to send", isMsg("sending"));
  await rig.waitForPoints(60);

  // Writes answer 500 from now on (queries still answer). Once the consumer
  // says it paused, its write was refused: none is in flight, and what the
  // double holds now is what it holds during the outage.
  const mark = consumer.mark();
  const switchedAt = Date.now();
  await influx.control({ mode: "error500", only: "writes" });
  await consumer.waitForLog(
    "the consumer to pause",
    (l) => l.msg.startsWith("paused: influx unreachable since "),
    { since: mark },
  );
  // Two partitions write concurrently: two more refused writes after the
  // pause line mean a write admitted before the switch has been answered.
  const refused = (await influx.control("stats")).rejected;
  await waitFor(
    "2 more refused writes",
    async () => (await influx.control("stats")).rejected >= refused + 2,
  );
  const written = new Set((await storedPoints(influx)).keys());
  // Each check waits for 80 more records to arrive (not for a time), and the
  // committed offsets must stay within what was written; 6 checks.
  let checks = 0;
  const committedSeen: Record<number, number> = {};
  while (checks < 6) {
    const target = (await rig.recordCount()) + 80;
    await waitFor(
      `${target} records in Kafka`,
      async () => (await rig.recordCount()) >= target,
    );
    assert.equal(
      await rig.pointCount(),
      written.size,
      "nothing is stored during the outage",
    );
    for (const { partition, offset } of await rig.committed()) {
      committedSeen[partition] = offset;
      if (offset <= 0) continue;
      await waitFor(
        `the reader to reach offset ${offset} of partition ${partition}`,
        () => reader.next(partition) >= offset,
        { timeoutMs: 10_000 },
      );
      const mine = reader.records.filter((r) => r.partition === partition);
      const stored = mine.filter((r) => written.has(keyOf(r))).length;
      assert.ok(
        offset <= stored,
        `partition ${partition}: committed ${offset} > ${stored} records written`,
      );
      const unwritten = mine.find((r) =>
        r.offset < offset && !written.has(keyOf(r))
      );
      assert.equal(
        unwritten,
        undefined,
        `partition ${partition}: committed ${offset} passes unwritten offset ${unwritten?.offset}`,
      );
    }
    checks++;
  }
  const held = (await reader.caughtUp()).length - written.size;
  assert.ok(held > 0, "records arrived during the outage");
  const paused = consumer.logs().slice(mark).find((l) =>
    l.msg.startsWith("paused: influx unreachable since ")
  )!;
  const since = Date.parse(
    paused.msg.slice("paused: influx unreachable since ".length),
  );
  assert.ok(
    since >= switchedAt - 1000,
    `paused since ${since}, switched at ${switchedAt}`,
  );

  const resumeMark = consumer.mark();
  await influx.control({ mode: "ok" });
  const resumedAt = Date.now();
  await consumer.waitForLog(
    "the consumer to resume",
    (l) => l.msg.startsWith("resumed"),
    { since: resumeMark, timeoutMs: 15_000 },
  );
  const resumeS = (Date.now() - resumedAt) / 1000;
  const produced = await producer.stop();
  assert.equal(produced.code, 0, produced.stderr.slice(-2000));
  const records = await reader.caughtUp();
  const expected = expectedPoints(records);
  await rig.waitForPoints(expected.size, 30_000);
  assertSamePoints(await storedPoints(influx), expected);
  const exit = await consumer.stop();
  assert.equal(exit.code, 0, exit.stderr.slice(-2000));
  const highs = await rig.admin.fetchTopicOffsets(rig.topic);
  const final = await rig.committed();
  for (const { partition, high } of highs) {
    assert.equal(
      final.find((c) => c.partition === partition)?.offset,
      Number(high),
      `partition ${partition}: everything committed after the stop`,
    );
  }
  console.log(
    `e) ${checks} checks during the outage, committed ${
      JSON.stringify(committedSeen)
    } with ${written.size} points stored; ${held} records held back; ` +
      `resumed ${
        resumeS.toFixed(1)
      } s after InfluxDB recovered; ${records.length} records -> ${expected.size} points`,
  );
});

// --- f) poison records ---------------------------------------------------------------

Deno.test("poison records land in the DLQ with their headers; good records around them are written", async () => {
  await using rig = await consumerRig("cons-poison");
  const found = await registry.lookup(
    `${rig.topic}-value`,
    await readSchema("v2"),
  );
  assert.ok(found, "setup-schema registered v2");
  const base = Date.now() - 60_000;
  const good1 = ticker("tBTCUSD", base, 66_401.5);
  const poisonTicker = ticker("tBTCUSD", base + 1000, 66_402);
  const good2 = ticker("tETHUSD", base + 2000, 3_500.25);
  const { event_time: _, ...original } = ticker("tSOLUSD", 0, 150.125);
  const containerTime = base + 3000;
  const unknownId = Buffer.concat([
    Buffer.from([0, 0, 0x0f, 0x42, 0x3f]), // id 999999
    V2.toBuffer(poisonTicker),
  ]);
  const sent: { value: Buffer; time: number; reason?: string }[] = [
    { value: encodeWire(found.id, V2, good1), time: good1.event_time },
    {
      value: Buffer.from(JSON.stringify(poisonTicker)),
      time: base + 1000,
      reason: "magic",
    },
    { value: unknownId, time: base + 1000, reason: "unknown-schema" },
    {
      value: encodeWire(found.id, V2, poisonTicker).subarray(0, 25),
      time: base + 1000,
      reason: "truncated",
    },
    { value: encodeWire(found.id, V2, good2), time: good2.event_time },
    {
      value: Buffer.from(await blockEncode(await readSchema("v1"), [original])),
      time: containerTime,
    },
  ];
  assert.equal(sent[1].value[0], 0x7b);
  await sendToPartition0(rig, sent);

  const consumer = rig.startConsumer("c1");
  await waitFor("the consumer to commit all 6 records", async () => {
    const offsets = await rig.committed();
    return offsets.find((o) => o.partition === 0)?.offset === 6;
  }, { timeoutMs: 45_000, everyMs: 500 }).catch((error) => {
    throw new Error(
      `${error.message}; c1's stderr ends:\n${consumer.stderr.slice(-3000)}`,
    );
  });
  await consumer.waitForLog(
    "the dead-letter line",
    isMsg(`sent 3 records to ${rig.topic}.dlq`),
    { timeoutMs: 5000 },
  );

  const dlq = await readTopic(`${rig.topic}.dlq`, { decode: false });
  assert.equal(dlq.length, 3, "exactly the 3 poison records");
  const poisoned = sent.map((s, offset) => ({ ...s, offset }))
    .filter((s) => s.reason);
  for (const [i, record] of dlq.entries()) {
    const want = poisoned[i];
    assert.equal(record.key, "tBTCUSD");
    assert.deepEqual(record.value, new Uint8Array(want.value));
    assert.equal(record.timestamp, want.time);
    assert.equal(record.headers["error.reason"], want.reason);
    assert.ok(record.headers["error.message"], "error.message is set");
    assert.equal(record.headers["original.topic"], rig.topic);
    assert.equal(record.headers["original.partition"], "0");
    assert.equal(record.headers["original.offset"], String(want.offset));
  }
  console.log(
    `f) DLQ: ${
      dlq.map((r) =>
        `${r.headers["error.reason"]}: ${r.headers["error.message"]}`
      )
        .join(" | ")
    }`,
  );
  const points = await storedPoints(rig.influx);
  const expected = new Map<string, Ticker>([
    [`tBTCUSD@${good1.event_time}`, good1],
    [`tETHUSD@${good2.event_time}`, good2],
    [`tSOLUSD@${containerTime}`, { ...original, event_time: containerTime }],
  ]);
  assertSamePoints(points, expected);
  const exit = await consumer.stop();
  assert.equal(exit.code, 0, exit.stderr.slice(-2000));
});

/** Sends `values` keyed tBTCUSD to partition 0 of the rig's topic, in order, with their timestamps. */
async function sendToPartition0(
  rig: ConsumerRig,
  values: { value: Buffer; time: number }[],
): Promise<void> {
  const producer = rig.kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    await producer.send({
      topic: rig.topic,
      acks: -1,
      messages: values.map(({ value, time }) => ({
        key: "tBTCUSD",
        partition: 0,
        value,
        timestamp: String(time),
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

// --- the assignor run of c) ------------------------------------------------------------

interface AssignorResult {
  name: AssignorName;
  protocol: string;
  /** The 2-member assignment of a 2-partition topic, by client id. */
  twoPartitions: Record<string, number[]>;
  /** Partitions whose owner changed when the third member joined (6 partitions). */
  joinMoves: number;
  /** Partitions whose owner changed when it left again. */
  leaveMoves: number;
  /** Partitions whose owner differs between the first and the last 2-member assignment. */
  finalMoves: number;
}

/**
 * Two members on the 2-partition topic, then two on the 6-partition topic while
 * a third joins and leaves. With 2 partitions the join moves nothing under
 * any assignor (range and round robin leave the newcomer empty), so the
 * movement is measured on 6 partitions, where the newcomer must get 2.
 */
async function assignorRun(
  run: { name: AssignorName; small: string; large: string },
  rig: ConsumerRig,
): Promise<AssignorResult> {
  const { name, small, large } = run;
  const members: ScriptProcess[] = [];
  const start = (clientId: string, topic: string, group: string) => {
    const member = rig.startConsumer(clientId, {
      KAFKA_TOPIC: topic,
      CONSUMER_GROUP: group,
      ASSIGNOR: name,
    });
    members.push(member);
    return member;
  };
  try {
    const smallGroup = uniqueName(`g-asg-${name}-2p`);
    const pair = [
      start("c1", small, smallGroup),
      start("c2", small, smallGroup),
    ];
    const two = await rig.waitForOwners(2, {
      group: smallGroup,
      topic: small,
      timeoutMs: 60_000,
    });
    // Each member's own "joined group" line agrees with the coordinator.
    for (const [i, member] of pair.entries()) {
      const partition = two.byClient.get(`c${i + 1}`)![0];
      await member.waitForLog(
        `c${i + 1} (${name}) to log its partition`,
        (l) =>
          l.msg === "joined group" && l.assignor === two.protocol &&
          l.partitions === `${small}:${partition}`,
        { timeoutMs: 10_000 },
      );
    }
    for (const exit of await stopAll(pair)) {
      assert.equal(exit?.code, 0, `${name}: ${exit?.stderr.slice(-2000)}`);
    }

    const group = uniqueName(`g-asg-${name}-6p`);
    const owners = (memberCount: number) =>
      rig.waitForOwners(memberCount, {
        group,
        topic: large,
        partitions: 6,
        timeoutMs: 60_000,
      });
    start("c1", large, group);
    start("c2", large, group);
    const initial = await owners(2);
    const third = start("c3", large, group);
    const three = await owners(3);
    const left = await third.stop();
    assert.equal(left.code, 0, `${name} c3: ${left.stderr.slice(-2000)}`);
    const final = await owners(2);
    return {
      name,
      protocol: two.protocol,
      twoPartitions: Object.fromEntries(two.byClient),
      joinMoves: moved(initial.owners, three.owners),
      leaveMoves: moved(three.owners, final.owners),
      finalMoves: moved(initial.owners, final.owners),
    };
  } finally {
    await stopAll(members);
  }
}

function moved(before: string[], after: string[]): number {
  return before.filter((owner, p) => after[p] !== owner).length;
}

// --- points in the double ---------------------------------------------------------------

/** A stored point: its tag, time and fields. */
type StoredPoint = Record<string, unknown> & { Coin: string; timeMs: number };

/** Every point of the table by `Coin@timeMs` (empty before the table exists). */
async function storedPoints(
  influx: InfluxDouble,
): Promise<Map<string, StoredPoint>> {
  let rows: Record<string, unknown>[];
  try {
    rows = await influx.query(FIELDS_SQL);
  } catch (error) {
    if (/not found|does not exist|no such/i.test((error as Error).message)) {
      return new Map();
    }
    throw error;
  }
  const points = new Map<string, StoredPoint>();
  for (const row of rows) {
    const timeMs = parseInfluxTime(String(row.time));
    const point = { ...row, Coin: String(row.Coin), timeMs };
    const key = `${point.Coin}@${timeMs}`;
    assert.ok(!points.has(key), `two points at ${key}`);
    points.set(key, point);
  }
  return points;
}

/** The double prints times as ISO without a zone (UTC), such as `2024-06-15T17:25:31.123`. */
function parseInfluxTime(text: string): number {
  const ms = Date.parse(/(Z|[+-]\d\d:\d\d)$/.test(text) ? text : `${text}Z`);
  assert.ok(Number.isFinite(ms), `time ${text}`);
  return ms;
}

/** Asserts the points are exactly `expected` (by Coin and time) with the tickers' fields. */
function assertSamePoints(
  points: Map<string, StoredPoint>,
  expected: Map<string, Ticker>,
): void {
  const missing = [...expected.keys()].filter((k) => !points.has(k));
  const extra = [...points.keys()].filter((k) => !expected.has(k));
  assert.deepEqual(
    { missing: missing.slice(0, 10), extra: extra.slice(0, 10) },
    { missing: [], extra: [] },
    `${missing.length} points missing, ${extra.length} unexpected`,
  );
  for (const [key, t] of expected) {
    const p = points.get(key)!;
    assert.deepEqual(
      {
        close_price: p.close_price,
        bid: p.bid,
        ask: p.ask,
        bid_size: p.bid_size,
        ask_size: p.ask_size,
        volume: p.volume,
        daily_change: p.daily_change,
        daily_change_percentage: p.daily_change_percentage,
        high: p.high,
        low: p.low,
      },
      {
        close_price: t.precio_ultimo,
        bid: t.bid,
        ask: t.ask,
        bid_size: t.bid_size,
        ask_size: t.ask_size,
        volume: t.volume,
        daily_change: t.daily_change,
        daily_change_percentage: t.daily_change_percentage,
        high: t.precio_maximo,
        low: t.precio_minimo,
      },
      `fields of ${key}`,
    );
  }
}

// --- expected points ------------------------------------------------------------------

/** The point time of a record's ticker, as the sink computes it. */
function pointTime(record: TopicRecord, t: Ticker): number {
  return t.event_time > 0 ? t.event_time : record.timestamp;
}

function keyOf(record: TopicRecord): string {
  const [t] = record.tickers;
  return `${t.nombre}@${pointTime(record, t)}`;
}

/** The points the records should become, by `Coin@timeMs` (a later record wins). */
function expectedPoints(records: TopicRecord[]): Map<string, Ticker> {
  const expected = new Map<string, Ticker>();
  for (const record of records) {
    assert.equal(record.tickers.length, 1, `record ${record.offset} decodes`);
    for (const t of record.tickers) {
      expected.set(`${t.nombre}@${pointTime(record, t)}`, t);
    }
  }
  return expected;
}

// --- data ---------------------------------------------------------------------------------

/** Points a stopped consumer says it wrote (its "stopped; wrote N points" line). */
function writtenTotal(consumer: ScriptProcess): number {
  const line = consumer.logs().findLast((l) =>
    /^stopped; wrote \d+ points$/.test(l.msg)
  );
  assert.ok(line, `no "stopped; wrote" line:\n${consumer.stderr.slice(-2000)}`);
  return Number(/wrote (\d+)/.exec(line.msg)![1]);
}

const ticker = sampleTicker;

/**
 * `count` ticks of tBTCUSD and tETHUSD every 2 s from 36 s into the bucket
 * of `from`, so that every later bucket starts with a tick on its edge; plus
 * late ticks (an event time before the previous line's): 0.7 s before each
 * edge tick (the previous bucket's close by time, though it arrives after
 * the next bucket began), 1 s before the first tick but arriving fifth (the
 * first bucket's open), and 1.3 s before each 40th tick.
 */
function replayTicks(from: number, count: number): Ticker[] {
  const start = binStart(from, 300_000) + 36_000;
  const ticks: Ticker[] = [];
  const late = (t: Ticker, at: number, price: number) =>
    ticks.push({ ...t, event_time: at, precio_ultimo: price });
  for (let i = 0; i < count; i++) {
    const at = start + i * 2000;
    for (
      const [coin, level] of [["tBTCUSD", 66_000], ["tETHUSD", 3_500]] as const
    ) {
      const price = Math.round(
        (level + level * 0.01 * Math.sin(i / 37) + (i % 13) * 0.25) * 100,
      ) / 100;
      const t = ticker(coin, at, price);
      t.volume = 100 + i * 0.5;
      ticks.push(t);
      if (at % 300_000 === 0) late(t, at - 700, price - 9.25);
      if (i % 40 === 5) late(t, at - 1300, price + 7.5);
      if (i === 3) late(t, start - 1000, price - 3.5);
    }
  }
  return ticks;
}

/**
 * Candles [bucket, open, high, low, close] of 5 minutes from [time, price]
 * ticks: open and close by time, or by arrival when `byArrival`.
 */
function ohlc(ticks: [number, number][], byArrival = false): number[][] {
  const buckets = new Map<number, [number, number][]>();
  const ordered = byArrival ? ticks : [...ticks].sort((a, b) => a[0] - b[0]);
  for (const tick of ordered) {
    const bucket = binStart(tick[0], 300_000);
    buckets.set(bucket, [...(buckets.get(bucket) ?? []), tick]);
  }
  return [...buckets].sort((a, b) => a[0] - b[0]).map(([bucket, ts]) => {
    const prices = ts.map(([, p]) => p);
    return [
      bucket,
      prices[0],
      Math.max(...prices),
      Math.min(...prices),
      prices.at(-1)!,
    ];
  });
}

/** A row of the candle SQL as [bucket ms, open, high, low, close] (DataFusion folds the aliases to lower case). */
function sqlCandle(row: Record<string, unknown>): number[] {
  const pick = (name: string) => Number(row[name] ?? row[name.toLowerCase()]);
  return [
    parseInfluxTime(String(row._time)),
    pick("Open"),
    pick("High"),
    pick("Low"),
    pick("Close"),
  ];
}

/** An Avro object container of `records` (the original's "embedded" value), by avsc. */
function blockEncode(schema: string, records: unknown[]): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const encoder = new avro.streams.BlockEncoder(JSON.parse(schema), {
      codec: "null",
    });
    const chunks: Buffer[] = [];
    encoder.on("data", (chunk: Buffer) => chunks.push(chunk));
    encoder.on("error", reject);
    encoder.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    for (const record of records) encoder.write(record);
    encoder.end();
  });
}
