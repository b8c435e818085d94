/**
 * The sink writes chunks concurrently (InfluxDB 3 answers a write only at
 * its next WAL flush), lets kafkajs fetch past writes in flight, and still
 * commits offsets in order:
 *
 * - against the InfluxDB 3 double with a long WAL flush interval, the chunks
 *   of a batch wait for the same flush together instead of one flush each;
 * - with answers held back, a partition holds at most `maxRecords` records
 *   between fetch and commit;
 * - a later chunk written while an earlier one fails leaves every offset
 *   from the failed chunk on uncommitted: paused (500) until it is written,
 *   for good when the failure is fatal (401).
 *
 * No Kafka: the kafkajs payload is made here and records the offsets the
 * sink resolves (the next fetch) and commits.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import { sampleTicker } from "../fixtures/ticker.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { encodeWire, parseSchema, readSchema } from "@cryptocandles/avro";
import type { EachBatchPayload, Producer } from "@cryptocandles/kafka";
import { createLogger } from "@cryptocandles/runtime";
import { createSink, type SinkOptions } from "@cryptocandles/sink";
import type { Ticker } from "@cryptocandles/ticker";
import { startInfluxDouble } from "../doubles/influx_double.ts";
import { waitFor } from "../support.ts";
import { committedLasts, drained, type Offsets } from "./payload.ts";

const V2 = parseSchema(await readSchema("v2"));
const SCHEMA_ID = 7;
const BASE = Date.now() - 3_600_000;

function ticker(i: number): Ticker {
  return sampleTicker("tBTCUSD", BASE + i, 66_000 + i);
}

/** `n` good records, offsets 0..n-1; record i's point has time `BASE + i`. */
function goodMessages(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    key: Buffer.from("tBTCUSD"),
    value: encodeWire(SCHEMA_ID, V2, ticker(i)),
    offset: String(i),
    timestamp: String(BASE + i),
    headers: {},
    attributes: 0,
  }));
}

/** A kafkajs payload for one batch that records resolved offsets and commits. */
function payloadOf(n: number) {
  const seen = {
    resolved: [] as string[],
    fetched: [] as string[],
    commits: 0,
    heartbeats: 0,
  };
  const payload = {
    batch: {
      topic: "t-sink",
      partition: 0,
      messages: goodMessages(n),
      offsetLag: () => "0",
    },
    resolveOffset: (offset: string) => seen.fetched.push(offset),
    heartbeat: () => (seen.heartbeats++, Promise.resolve()),
    isRunning: () => true,
    isStale: () => false,
    commitOffsetsIfNecessary: (offsets?: Offsets) => {
      seen.commits++;
      seen.resolved.push(...committedLasts(offsets));
      return Promise.resolve();
    },
  } as unknown as EachBatchPayload;
  return { payload, seen };
}

/** Sink options writing through `fetch` to `host`; fatal errors are kept. */
function optionsFor(
  fetch: typeof globalThis.fetch,
  more: Partial<SinkOptions> & { host?: string } = {},
): { options: SinkOptions; fatal: Error[] } {
  const fatal: Error[] = [];
  const { host = "http://127.0.0.1:1", ...rest } = more;
  const options: SinkOptions = {
    reader: V2,
    typeById: () => Promise.resolve(V2),
    influx: { host, database: "criptomonedas", fetch },
    measurement: "criptomonedas",
    dlq: { send: () => Promise.resolve([]) } as unknown as Producer,
    dlqTopic: "t-sink.dlq",
    log: createLogger("sink-test", { format: "json", write: () => {} }),
    signal: new AbortController().signal,
    onFatal: (error) => fatal.push(error),
    pauseBackoff: { minTimeout: 5, maxTimeout: 20 },
    ...rest,
  };
  return { options, fatal };
}

/** The chunk (of `size` records) a write body belongs to, from its first point's time. */
function chunkOf(body: string, size: number): number {
  const first = body.split("\n", 1)[0];
  return Math.floor(
    (Number(first.slice(first.lastIndexOf(" ") + 1)) - BASE) / size,
  );
}

/** A fetch that counts outstanding writes and answers each once `answer` settles. */
function countingFetch(
  answer: (chunk: number) => Promise<Response> | Response,
  size: number,
  through?: typeof globalThis.fetch,
) {
  const counts = { outstanding: 0, most: 0, answered: [] as number[] };
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    const chunk = chunkOf(String(init?.body ?? ""), size);
    counts.outstanding++;
    counts.most = Math.max(counts.most, counts.outstanding);
    try {
      const response = through ? await through(url, init) : await answer(chunk);
      counts.answered.push(chunk);
      return response;
    } finally {
      counts.outstanding--;
    }
  }) as typeof globalThis.fetch;
  return { fetch, counts };
}

const noContent = () => new Response(null, { status: 204 });

Deno.test("createSink(): the chunks of one batch wait for the same WAL flush of the InfluxDB double, not one flush each, and are committed in offset order", async () => {
  await using influx = await startInfluxDouble({ walFlushIntervalMs: 1000 });
  const size = 200;
  const { fetch, counts } = countingFetch(noContent, size, globalThis.fetch);
  const { options, fatal } = optionsFor(fetch, {
    host: influx.url,
    chunk: size,
  });
  const { payload, seen } = payloadOf(8 * size);
  await drained(createSink(options), payload);

  assert.deepEqual(fatal, []);
  assert.ok(counts.most > 1, `at most ${counts.most} write outstanding`);
  const stats = await influx.control("stats");
  assert.equal(stats.writes, 8);
  assert.equal(stats.points, 8 * size);
  // One write at a time would need one flush a chunk (8); together they
  // fall in one flush, or two when the batch straddles a tick.
  assert.ok(stats.wal_flushes <= 2, `${stats.wal_flushes} flushes`);
  assertCommitsInOrder(seen.resolved, size, 8 * size - 1);
});

Deno.test("createSink(): a partition holds at most maxRecords records between fetch and commit; kafkajs may fetch past the writes in flight, and answers out of order still commit in offset order", async () => {
  const size = 10;
  let hold = true;
  const release: (() => void)[] = [];
  const { fetch, counts } = countingFetch(
    () =>
      hold
        ? new Promise<Response>((go) => release.push(() => go(noContent())))
        : noContent(),
    size,
  );
  const { options } = optionsFor(fetch, { chunk: size, maxRecords: 3 * size });
  const { payload, seen } = payloadOf(6 * size);
  const running = drained(createSink(options), payload);

  await waitFor("3 writes outstanding", () => counts.outstanding === 3, {
    timeoutMs: 5000,
    everyMs: 5,
  });
  assert.deepEqual(
    seen.fetched,
    ["9", "19", "29"],
    "the fetch position moves past writes not yet answered, up to maxRecords",
  );
  // Answer the third first: nothing may be committed before the first.
  release.splice(2, 1)[0]();
  await waitFor("chunk 2 answered", () => counts.answered.includes(2), {
    timeoutMs: 5000,
    everyMs: 5,
  });
  assert.deepEqual(seen.resolved, [], "nothing before chunk 0 is answered");
  assert.equal(seen.fetched.length, 3, "no room: nothing more taken");
  hold = false;
  for (const go of release.splice(0)) go();
  await running;
  assert.equal(counts.most, 3, "never more than maxRecords in flight");
  assertCommitsInOrder(seen.resolved, size, 6 * size - 1);
});

/**
 * Commits only at chunk ends (offsets `size-1`, `2*size-1`, …), each further
 * than the one before, the last at `last`.
 */
function assertCommitsInOrder(
  commits: string[],
  size: number,
  last: number,
): void {
  const n = commits.map(Number);
  assert.ok(n.length > 0, "something committed");
  assert.ok(n.every((o) => (o + 1) % size === 0), `chunk ends: ${commits}`);
  assert.ok(n.every((o, i) => i === 0 || o > n[i - 1]), `in order: ${commits}`);
  assert.equal(n.at(-1), last);
}

Deno.test("createSink(): while an earlier chunk is paused on 500s, later chunks are written but offsets are committed only up to the last contiguous written chunk", async () => {
  const size = 10;
  let down = true;
  const { fetch, counts } = countingFetch(
    (chunk) =>
      chunk === 2 && down
        ? new Response('{"error":"down"}', { status: 500 })
        : noContent(),
    size,
  );
  const { options, fatal } = optionsFor(fetch, { chunk: size });
  const { payload, seen } = payloadOf(5 * size);
  const running = drained(createSink(options), payload);

  await waitFor(
    "chunks 3 and 4 written and chunk 2 retried",
    () =>
      counts.answered.includes(3) && counts.answered.includes(4) &&
      counts.answered.filter((c) => c === 2).length >= 3,
    { timeoutMs: 5000, everyMs: 5 },
  );
  assertCommitsInOrder(seen.resolved, size, 19); // nothing past chunk 1
  down = false;
  await running;
  assertCommitsInOrder(seen.resolved, size, 49);
  assert.deepEqual(fatal, []);
});

Deno.test("createSink(): a fatal answer (401) to a chunk leaves it and every later chunk uncommitted, even those already written", async () => {
  const size = 10;
  let fatalAnswered = false;
  const { fetch, counts } = countingFetch(async (chunk) => {
    if (chunk !== 2) return noContent();
    // Chunk 2 fails once the chunks after it are written.
    await waitFor(
      "chunks 3 and 4 answered",
      () => counts.answered.includes(3) && counts.answered.includes(4),
      {
        timeoutMs: 5000,
        everyMs: 5,
      },
    );
    fatalAnswered = true;
    return new Response('{"error":"not authorized"}', { status: 401 });
  }, size);
  const { options, fatal } = optionsFor(fetch, { chunk: size });
  const { payload, seen } = payloadOf(5 * size);
  await drained(createSink(options), payload);

  assert.ok(fatalAnswered);
  assert.equal(fatal.length, 1);
  assert.equal((fatal[0] as { status?: number }).status, 401);
  assertCommitsInOrder(seen.resolved, size, 19);
});
