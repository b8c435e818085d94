/**
 * The consumer script's sink against the real shared stack (3 Kafka brokers
 * + Apicurio) and the InfluxDB 3 double, under infrastructure faults and
 * records InfluxDB refuses:
 *
 * - R6c: the registry answering 404 for every schema id (emptied) under a
 *   backlog pauses the consumer with one line, commits nothing and
 *   dead-letters nothing; once it knows the id again every record becomes
 *   a point. The registry is the stack's Apicurio behind a small proxy the
 *   test switches (404 for `/schemas/ids/…`, or forwarding).
 * - a backlog of large poison records dead-letters them in requests below
 *   the broker's largest message, instead of crashing on one request.
 * - R4: InfluxDB refusing connections (its process gone) pauses like a 500:
 *   no offset is committed past what was written.
 * - R5: a field-type conflict with an existing table (more than 100 bad lines
 *   in one chunk) and a 422 (a database limit) dead-letter the records with
 *   their reason, and the stream goes on.
 *
 * Counts are taken independently: Kafka's high watermarks and committed
 * offsets (admin client), the DLQ read back by a kafkajs consumer, and points
 * queried back from the double.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import { sampleTicker } from "../fixtures/ticker.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Partitioners } from "kafkajs";
import { encodeWire, readSchema } from "@cryptocandles/avro";
import type { Ticker } from "@cryptocandles/ticker";
import { startInfluxDouble } from "../doubles/influx_double.ts";
import { waitFor } from "../support.ts";
import {
  type ConsumerRig,
  consumerRig,
  INFLUX_TOKEN,
  openReader,
  readTopic,
  registry,
  REGISTRY_URL,
  V2,
} from "./../pipeline/fixtures.ts";

const BASE = Date.now() - 3_600_000;

function ticker(i: number): Ticker {
  const coin = i % 2 === 0 ? "tETHUSD" : "tBTCUSD";
  return sampleTicker(coin, BASE + i * 10, 66_000 + (i % 1000));
}

/** Sends `values` to `partition` of `topic` in requests of 500, keyed by the coin. */
async function send(
  rig: ConsumerRig,
  values: { key: string; value: Buffer; partition: number }[],
  topic = rig.topic,
): Promise<void> {
  const producer = rig.kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    for (let i = 0; i < values.length; i += 500) {
      await producer.send({
        topic,
        acks: -1,
        messages: values.slice(i, i + 500).map((v) => ({ ...v })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** The rig's topic's high watermarks, by partition. */
async function highs(rig: ConsumerRig, topic = rig.topic) {
  const offsets = await rig.admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
}

async function waitForCommitted(
  rig: ConsumerRig,
  want: Map<number, number>,
  timeoutMs = 60_000,
): Promise<void> {
  let last = "";
  await waitFor("every offset committed", async () => {
    const got = await rig.committed();
    last = JSON.stringify(got);
    return [...want].every(([p, high]) =>
      got.find((c) => c.partition === p)?.offset === high
    );
  }, { timeoutMs, everyMs: 250 }).catch((error) => {
    throw new Error(`${error.message}; committed ${last}`);
  });
}

/**
 * Apicurio behind a switch: `emptied` answers 404 for every schema id and
 * every subject, as a registry that lost its schemas does (Confluent API
 * error codes 40403 and 40401).
 */
function registryProxy() {
  const upstream = new URL(REGISTRY_URL);
  let emptied = true;
  let notFound = 0;
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: () => {},
  }, async (request) => {
    const url = new URL(request.url);
    if (emptied && /\/schemas\/ids\/\d+/.test(url.pathname)) {
      notFound++;
      await request.body?.cancel();
      return Response.json(
        { error_code: 40403, message: "No content with id: 1 was found" },
        { status: 404 },
      );
    }
    if (emptied && /\/subjects\/[^/]+$/.test(url.pathname)) {
      await request.body?.cancel();
      return Response.json(
        { error_code: 40401, message: "No artifact with ID found" },
        { status: 404 },
      );
    }
    const target = new URL(url.pathname + url.search, upstream.origin);
    const body = request.body ? await request.arrayBuffer() : undefined;
    const answer = await fetch(target, {
      method: request.method,
      headers: request.headers,
      body,
    });
    return new Response(await answer.arrayBuffer(), {
      status: answer.status,
      headers: answer.headers,
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}${upstream.pathname}`,
    restore: () => emptied = false,
    notFound: () => notFound,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await server.finished;
    },
  };
}

Deno.test("R6c: the registry answering 404 for every schema id under a backlog pauses the consumer with one line, commits and dead-letters nothing, and every record becomes a point once it knows the id", async () => {
  await using rig = await consumerRig("sink-emptied", {
    influx: { walFlushIntervalMs: 50 },
  });
  await using proxy = registryProxy();
  const found = await registry.lookup(
    `${rig.topic}-value`,
    await readSchema("v2"),
  );
  assert.ok(found, "setup-schema registered v2");
  // 7,000 records: more than one chunk of 5,000 on partition 0.
  const tickers = Array.from({ length: 7000 }, (_, i) => ticker(i));
  await send(
    rig,
    tickers.map((t, i) => ({
      key: t.nombre,
      value: encodeWire(found.id, V2, t),
      partition: i < 6000 ? 0 : 1,
    })),
  );
  const want = await highs(rig);
  assert.deepEqual([...want].sort(([a], [b]) => a - b), [[0, 6000], [1, 1000]]);

  const consumer = rig.startConsumer("c1", {
    SCHEMA_REGISTRY_URL: proxy.url,
  });
  const paused = await consumer.waitForLog(
    "the pause line",
    (l) => l.msg.startsWith("paused:"),
    { timeoutMs: 45_000 },
  );
  // A few more rounds of retrying prove it stays paused.
  const seen = proxy.notFound();
  await waitFor("3 more registry lookups", () => proxy.notFound() >= seen + 3, {
    timeoutMs: 30_000,
  });
  const during = await rig.committed();
  const dlqDuring = await highs(rig, `${rig.topic}.dlq`);
  const pointsDuring = await rig.pointCount();
  const pauseLines = consumer.logs().filter((l) => l.msg.startsWith("paused:"));

  proxy.restore();
  await waitForCommitted(rig, want);
  await rig.waitForPoints(7000, 30_000);
  const points = await rig.influx.query(
    `SELECT count(*) AS n FROM criptomonedas`,
  );
  const dlq = await readTopic(`${rig.topic}.dlq`, { decode: false });
  const exit = await consumer.stop();

  assert.match(
    paused.msg,
    /^paused: the schema registry knows none of the schema ids \(\d+\) of the \d+ records at offsets \d+-\d+ of partition [01]: was it emptied\?/,
  );
  assert.ok(
    pauseLines.length <= 2,
    `one line while paused (at most one a partition), not one a retry: ${pauseLines.length}`,
  );
  assert.ok(
    during.every((c) => c.offset <= 0),
    `nothing committed while paused: ${JSON.stringify(during)}`,
  );
  assert.ok([...dlqDuring.values()].every((h) => h === 0), "DLQ empty");
  assert.equal(pointsDuring, 0, "nothing written while paused");
  assert.equal(Number(points[0].n), 7000, "every record is a point");
  assert.equal(dlq.length, 0, "nothing dead-lettered, ever");
  assert.equal(exit.code, 0, exit.stderr.slice(-2000));
  console.log(
    `R6c: paused on ${seen + 3}+ lookups answered 404; 7000 records -> ${
      points[0].n
    } points, ${dlq.length} in the DLQ; line: ${paused.msg}`,
  );
});

Deno.test("a backlog of 3 MB of poison records is dead-lettered in requests below the broker's largest message: every record in the DLQ once, all committed", async () => {
  await using rig = await consumerRig("sink-bigdlq");
  const count = 3000;
  // Not Avro (byte 0 is "{"), 1 KiB each: one DLQ request would be 3 MB,
  // above the broker's message.max.bytes of 1,048,588.
  const values = Array.from({ length: count }, (_, i) => {
    const value = Buffer.alloc(1024, 0x20);
    value.write(`{"poison":${i}}`);
    return { key: "tBTCUSD", value, partition: 0 };
  });
  await send(rig, values);
  const consumer = rig.startConsumer("c1");
  await waitForCommitted(rig, new Map([[0, count]]));
  const dlq = await readTopic(`${rig.topic}.dlq`, { decode: false });
  // kafkajs hands the records over in batches: the "sent N records" lines
  // add up to every record.
  const sentLines = () =>
    consumer.logs().filter((l) => /^sent \d+ records/.test(l.msg));
  const sent = () =>
    sentLines().reduce((n, l) => n + Number(/^sent (\d+)/.exec(l.msg)![1]), 0);
  await waitFor(
    "the dead-letter lines for every record",
    () => sent() >= count,
    {
      timeoutMs: 10_000,
    },
  );
  const requests = sentLines().reduce((n, l) => n + Number(l.requests), 0);
  const exit = await consumer.stop();

  assert.equal(dlq.length, count);
  assert.deepEqual(
    dlq.map((r) => Number(r.headers["original.offset"])).sort((a, b) => a - b),
    values.map((_, i) => i),
  );
  assert.ok(dlq.every((r) => r.headers["error.reason"] === "magic"));
  // 3 MB in requests of at most 512 KiB: at least 6 of them.
  assert.ok(requests >= 6, `${requests} requests`);
  assert.equal(exit.code, 0, exit.stderr.slice(-2000));
  assert.doesNotMatch(exit.stderr, /larger than the max message size/);
  console.log(
    `DLQ: ${count} records of 1 KiB in ${requests} requests, ${dlq.length} read back`,
  );
});

Deno.test("R4: InfluxDB refusing connections (its process gone) pauses like a 500: nothing committed past what was written, nothing missing once it is back", async () => {
  await using rig = await consumerRig("sink-refused", {
    influx: { walFlushIntervalMs: 0 },
  });
  const { influx } = rig;
  await using reader = await openReader(rig.topic);
  const consumer = rig.startConsumer("c1");
  await rig.waitForOwners(1);
  const producer = rig.startProducer({ SYNTHETIC_RATE: "10" });
  await rig.waitForPoints(60);

  // Refuse writes first, so that no write is in flight when the snapshot is
  // taken, then take the process away: connections are refused from then.
  const mark = consumer.mark();
  await influx.control({ mode: "down", only: "writes" });
  await consumer.waitForLog(
    "the consumer to pause",
    (l) => l.msg.startsWith("paused: influx unreachable since "),
    { since: mark },
  );
  // Two partitions write concurrently: two more dropped writes after the
  // pause line mean a write admitted before the switch has been answered.
  const requests = (await influx.control("stats")).requests;
  await waitFor(
    "2 more refused writes",
    async () => (await influx.control("stats")).requests >= requests + 2,
  );
  const before = new Set(
    (await influx.query(`SELECT "Coin", time FROM criptomonedas`)).map(keyOf),
  );
  await influx.close();
  const refusedMark = consumer.mark();
  const atClose = await rig.recordCount();
  await waitFor(
    "100 more records while InfluxDB is gone",
    async () => (await rig.recordCount()) >= atClose + 100,
  );
  const committedDuring = await rig.committed();
  const caught = await reader.caughtUp();
  for (const { partition, offset } of committedDuring) {
    const passed = caught.filter((r) =>
      r.partition === partition && r.offset < offset
    );
    const unwritten = passed.find((r) =>
      !r.tickers.every((t) => before.has(`${t.nombre}@${t.event_time}`))
    );
    assert.equal(
      unwritten,
      undefined,
      `partition ${partition}: committed ${offset} passes unwritten offset ${unwritten?.offset}`,
    );
  }
  assert.equal(
    consumer.logs().slice(refusedMark).filter((l) =>
      l.msg.startsWith("paused:")
    ).length,
    0,
    "still the one pause line",
  );

  await using again = await startInfluxDouble({
    port: influx.port,
    token: INFLUX_TOKEN,
    walFlushIntervalMs: 0,
  });
  await consumer.waitForLog(
    "the consumer to resume",
    (l) => l.msg.startsWith("resumed: InfluxDB"),
    { since: refusedMark, timeoutMs: 30_000 },
  );
  const produced = await producer.stop();
  assert.equal(produced.code, 0, produced.stderr.slice(-2000));
  const records = await reader.caughtUp();
  const expected = new Set(
    records.flatMap((r) => r.tickers.map((t) => `${t.nombre}@${t.event_time}`)),
  );
  await waitForCommitted(rig, await highs(rig));
  const after = new Set(
    (await again.query(`SELECT "Coin", time FROM criptomonedas`)).map(keyOf),
  );
  const union = new Set([...before, ...after]);
  const missing = [...expected].filter((k) => !union.has(k));
  const extra = [...union].filter((k) => !expected.has(k));
  const exit = await consumer.stop();
  assert.deepEqual(missing, [], "no point missing");
  assert.deepEqual(extra, [], "no extra point");
  assert.equal(exit.code, 0, exit.stderr.slice(-2000));
  console.log(
    `R4 refused: ${records.length} records; ${before.size} points before, ${after.size} after the restart, 0 missing, 0 extra`,
  );
});

Deno.test("R5: a field-type conflict with an existing table (150 bad lines in one chunk) and a 422 (a database limit) dead-letter the records with their reason; the stream goes on", async () => {
  await using rig = await consumerRig("sink-refusals", {
    influx: { walFlushIntervalMs: 50, maxDatabases: 1 },
  });
  const { influx } = rig;
  const found = await registry.lookup(
    `${rig.topic}-value`,
    await readSchema("v2"),
  );
  assert.ok(found);
  // The table exists with close_price as a string.
  const seeded = await fetch(
    `${influx.url}/api/v3/write_lp?db=criptomonedas&precision=millisecond`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${INFLUX_TOKEN}` },
      body: `criptomonedas,Coin=tBTCUSD close_price="closed" ${BASE - 1000}`,
    },
  );
  await seeded.body?.cancel();
  assert.equal(seeded.status, 204);

  const conflicting = Array.from({ length: 150 }, (_, i) => ticker(i));
  await send(
    rig,
    conflicting.map((t) => ({
      key: t.nombre,
      value: encodeWire(found.id, V2, t),
      partition: 0,
    })),
  );
  const consumer = rig.startConsumer("c1");
  await waitForCommitted(rig, new Map([[0, 150]]));

  // Now a 422: the database is gone and a new one would exceed the limit of 1.
  const gone = await fetch(
    `${influx.url}/api/v3/configure/database?db=criptomonedas`,
    {
      method: "DELETE",
      headers: { authorization: `Bearer ${INFLUX_TOKEN}` },
    },
  );
  await gone.body?.cancel();
  const filler = await fetch(`${influx.url}/api/v3/configure/database`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${INFLUX_TOKEN}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ db: "filler" }),
  });
  await filler.body?.cancel();
  assert.equal(filler.status, 200);
  const limited = Array.from({ length: 10 }, (_, i) => ticker(1000 + i));
  await send(
    rig,
    limited.map((t) => ({
      key: t.nombre,
      value: encodeWire(found.id, V2, t),
      partition: 1,
    })),
  );
  await waitForCommitted(rig, new Map([[0, 150], [1, 10]]));
  const dlq = await readTopic(`${rig.topic}.dlq`, { decode: false });
  const exit = await consumer.stop();

  const byReason = Map.groupBy(dlq, (r) => r.headers["error.reason"]);
  const rejected = byReason.get("influx-rejected") ?? [];
  const refused = byReason.get("influx-refused-422") ?? [];
  assert.equal(rejected.length, 150, "every conflicting line");
  assert.deepEqual(
    rejected.map((r) => Number(r.headers["original.offset"])).sort((a, b) =>
      a - b
    ),
    conflicting.map((_, i) => i),
  );
  assert.ok(
    rejected.every((r) =>
      /close_price/.test(r.headers["error.message"]) &&
      r.headers["original.partition"] === "0"
    ),
  );
  assert.equal(refused.length, 10, "every record of the refused write");
  assert.ok(
    refused.every((r) =>
      /exceed limit of 1 databases/.test(r.headers["error.message"])
    ),
    refused[0]?.headers["error.message"],
  );
  assert.equal(dlq.length, 160);
  assert.equal(exit.code, 0, exit.stderr.slice(-2000));
  console.log(
    `R5: ${rejected.length} influx-rejected (${
      rejected[0].headers["error.message"]
    }), ${refused.length} influx-refused-422 (${
      refused[0].headers["error.message"]
    })`,
  );
});

function keyOf(row: Record<string, unknown>): string {
  return `${row.Coin}@${Date.parse(String(row.time) + "Z")}`;
}
