/**
 * The producer and setup-schema scripts against the local stack (Kafka +
 * Apicurio) and the Bitfinex double, and the Bitfinex sources' reconnect and
 * rate-limit behaviour against the double. Topics, scripts and readers come
 * from ./fixtures.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decodeBody, readSchema } from "@cryptocandles/avro";
import { bitfinexRestTicks, bitfinexWsTicks } from "@cryptocandles/bitfinex";
import { createLogger, type Logger } from "@cryptocandles/runtime";
import { type Ticker, tickerToArray } from "@cryptocandles/ticker";
import {
  type BitfinexDouble,
  type SentTicker,
  startBitfinexDouble,
} from "../doubles/bitfinex_double.ts";
import {
  cleanupLater,
  freePort,
  tempFile,
  uniqueName,
  waitFor,
} from "../support.ts";
import {
  isMsg,
  readTopic,
  registryJson,
  registryLatestId,
  runSetupSchema,
  schemaTopic,
  startProducer,
  type TopicRecord,
  V2,
  waitForRecords,
} from "./fixtures.ts";

const PARTITIONS = 2;

// --- a) ticks from the WS double reach Kafka ---------------------------------

Deno.test("ticks from the Bitfinex WS double reach Kafka as registered Avro on murmur2 partitions", async () => {
  // The independent partitioner agrees with the contract's examples first.
  assert.equal(murmur2Partition("tBTCUSD", PARTITIONS), 1);
  assert.equal(murmur2Partition("tETHUSD", PARTITIONS), 0);
  await using double = await startBitfinexDouble({ tickMs: 50 });
  await using topic = await schemaTopic("t-producer-ws");

  await using producer = startProducer(topic.name, {
    SOURCE: "bitfinex-ws",
    BITFINEX_WS_URL: double.wsUrl,
  });
  await producer.waitForLog("the producer to start sending", isMsg("sending"));
  await waitForRecords(topic.name, 20);
  const { code, stderr } = await producer.stop();

  assert.equal(code, 0, stderr);
  const schemaId = await registryLatestId(`${topic.name}-value`);
  const records = await readTopic(topic.name, { decode: false });
  assert.ok(records.length >= 20, `only ${records.length} records`);
  const sentWs = double.sent.filter((s) => s.via === "ws");
  for (const record of records) {
    const where = `record ${record.partition}/${record.offset}`;
    assert.equal(record.value[0], 0x00, `${where}: magic byte`);
    const view = new DataView(
      record.value.buffer,
      record.value.byteOffset,
      record.value.byteLength,
    );
    assert.equal(view.getUint32(1, false), schemaId, `${where}: schema id`);
    const ticker = decode(record.value);
    const values = tickerToArray(ticker);
    const match = sentWs.find((s) =>
      s.symbol === ticker.nombre && sameValues(s.values, values)
    );
    assert.ok(match, `${where}: ${JSON.stringify(ticker)} was never sent`);
    assert.ok(
      ticker.event_time >= match.at && ticker.event_time - match.at < 5000,
      `${where}: event_time ${ticker.event_time} is not just after it was sent (${match.at})`,
    );
    assert.equal(record.key, ticker.nombre, `${where}: key`);
    assert.equal(record.timestamp, ticker.event_time, `${where}: ts`);
    assert.equal(
      record.partition,
      murmur2Partition(record.key, PARTITIONS),
      `${where}: partition of ${record.key}`,
    );
  }
  const symbols = new Set(records.map((r) => r.key));
  assert.deepEqual(
    [...symbols].sort(),
    ["tBTCUSD", "tETHUSD", "tSOLUSD", "tXRPUSD"],
  );
});

// --- b) setup-schema ---------------------------------------------------------

Deno.test("setup-schema twice gives the same id", async () => {
  const topic = uniqueName("t-setup-twice");
  await using _cleanup = cleanupLater([topic]);
  const env = { KAFKA_TOPIC: topic, LOG_FORMAT: "json" };

  const first = await runSetupSchema(env);
  const second = await runSetupSchema(env);

  assert.equal(first.code, 0, first.stderr);
  assert.equal(second.code, 0, second.stderr);
  const registered = schemaLine(first.stderr);
  const again = schemaLine(second.stderr);
  assert.equal(registered.msg, `schema registered under ${topic}-value`);
  assert.equal(again.msg, `schema already registered under ${topic}-value`);
  assert.equal(typeof registered.id, "number");
  assert.equal(again.id, registered.id);
  assert.equal(await registryLatestId(`${topic}-value`), registered.id);
});

Deno.test("setup-schema refuses an incompatible schema with the registry's message and exit 1", async () => {
  await using topic = await schemaTopic("t-setup-incompatible");
  const v3 = JSON.parse(await readSchema("v2"));
  for (const field of v3.fields) {
    if (field.name === "bid") field.type = "string";
  }
  await using schemaFile = await tempFile(".avsc", JSON.stringify(v3, null, 2));

  const result = await runSetupSchema({ KAFKA_TOPIC: topic.name }, [
    "--schema-file",
    schemaFile.path,
  ]);

  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /Incompatible/);
  assert.match(result.stderr, new RegExp(`${topic.name}-value`));
  const versions = await registryJson(`/subjects/${topic.name}-value/versions`);
  assert.deepEqual(versions, [1], "the v3 schema must not be registered");
});

Deno.test("setup-schema with the registry down exits 1 with a clear message", async () => {
  const topic = uniqueName("t-setup-noregistry");
  await using _cleanup = cleanupLater([topic]);
  const registryUrl = `http://127.0.0.1:${freePort()}/apis/ccompat/v7`;

  const started = Date.now();
  const result = await runSetupSchema({
    KAFKA_TOPIC: topic,
    SCHEMA_REGISTRY_URL: registryUrl,
  });

  assert.equal(result.code, 1, result.stderr);
  assert.ok(
    result.stderr.includes(`schema registry at ${registryUrl} did not answer`),
    result.stderr,
  );
  assert.ok(Date.now() - started < 30_000, "gave up within 30 s");
});

// --- c) WebSocket reconnects ------------------------------------------------

// The watchdog's 30 s (no reconnect at 29 s, one at 30 s) is shown with an
// injected clock in tests/bitfinex/ws_test.ts, without waiting 30 s.

Deno.test("info 20051 makes the WS source reconnect", async () => {
  await using double = await startBitfinexDouble({ tickMs: 100 });
  await using stream = wsStream(double, ["tBTCUSD", "tETHUSD"]);
  await stream.firstTicks();

  // No closeAfterMs: the client must close on 20051 by itself.
  double.sendInfo(20051);

  await waitFor("a second connection", () => double.connections >= 2, {
    timeoutMs: 10_000,
    everyMs: 50,
  });
  await waitFor(
    "the first connection closed",
    () => double.openConnections === 1,
    { timeoutMs: 5_000, everyMs: 50 },
  );
  await stream.ticksFrom(2);
  assert.ok(stream.lines.some((l) => l.includes("20051")), "logged 20051");
});

Deno.test("a dropped connection is re-established", async () => {
  await using double = await startBitfinexDouble({ tickMs: 100 });
  await using stream = wsStream(double, ["tBTCUSD", "tETHUSD"]);
  await stream.firstTicks();

  await double.dropConnections();

  await waitFor("a second connection", () => double.connections >= 2, {
    timeoutMs: 10_000,
    everyMs: 50,
  });
  await stream.ticksFrom(2);
});

// --- d) unknown pair ----------------------------------------------------------

Deno.test("an unknown pair makes the producer exit 2 naming it", async () => {
  await using double = await startBitfinexDouble({ tickMs: 100 });
  await using topic = await schemaTopic("t-producer-unknown");

  await using producer = startProducer(topic.name, {
    SOURCE: "bitfinex-ws",
    BITFINEX_WS_URL: double.wsUrl,
    COINS: "tBTCUSD,tFOOBAR",
  });
  const { code, stderr, killedAfterTimeout } = await producer.waitForExit(
    30_000,
  );

  assert.equal(killedAfterTimeout, false, "it exits by itself");
  assert.equal(code, 2, stderr);
  assert.match(stderr, /tFOOBAR/);
  assert.ok(double.connections >= 1, "it did connect to the double");
});

// --- e) REST rate limit --------------------------------------------------------

// The 60 s wait after a 429 is measured (the timer the source arms) in
// tests/bitfinex/rest_test.ts.

Deno.test("REST source with rateLimitWaitMs 1500 asks again 1.5 s after a 429, and ticks flow", async () => {
  await using double = await startBitfinexDouble();
  double.rateLimit(1);

  await using stream = restStream(double, ["tBTCUSD", "tETHUSD"], {
    rateLimitWaitMs: 1500,
  });
  await waitFor("a second request", () => double.restRequests.length >= 2, {
    timeoutMs: 10_000,
    everyMs: 20,
  });

  const [limited, next] = double.restRequests;
  assert.equal(limited.status, 429);
  assert.equal(next.status, 200);
  const gap = next.at - limited.at;
  assert.ok(gap >= 1500, `the next request came ${gap} ms after the 429`);
  await waitFor("ticks after the 429", () => stream.got.length >= 4, {
    timeoutMs: 5_000,
    everyMs: 20,
  });
  const sentRest = double.sent.filter((s) => s.via === "rest");
  for (const ticker of stream.got) {
    assert.ok(
      sentRest.some((s) =>
        s.symbol === ticker.nombre &&
        sameValues(s.values, tickerToArray(ticker))
      ),
      `${JSON.stringify(ticker)} was never sent`,
    );
    assert.ok(ticker.event_time >= next.at, "ticks come after the 429");
  }
});

// --- f) graceful shutdown --------------------------------------------------------

Deno.test("SIGTERM during a steady synthetic stream loses no acknowledged record", async () => {
  await using topic = await schemaTopic("t-producer-sigterm");
  await using producer = startProducer(topic.name, { SYNTHETIC_RATE: "200" });
  await producer.waitForLog("the producer to start sending", isMsg("sending"));
  await waitForRecords(topic.name, 1000);

  const { code, stderr } = await producer.stop({ signal: "SIGTERM" });

  assert.equal(code, 0, stderr);
  const stopped = producer.logs().findLast((l) =>
    String(l.msg).startsWith("stopped;")
  );
  assert.ok(stopped, `no "stopped;" line in:\n${stderr}`);
  const acked = stopped.acked as Record<string, number>;
  assert.equal(stopped.unsent, 0);
  const records = await readTopic(topic.name, { decode: false });
  const counts: Record<string, number> = {};
  for (const coin of Object.keys(acked)) counts[coin] = 0;
  for (const record of records) {
    counts[record.key] = (counts[record.key] ?? 0) + 1;
  }
  assert.deepEqual(counts, acked);
  const total = Object.values(acked).reduce((a, b) => a + b, 0);
  assert.ok(total >= 1000, `only ${total} records acknowledged before SIGTERM`);
});

// --- g) record and replay ----------------------------------------------------------

Deno.test("replay of a recorded file produces the same records", async () => {
  await using recordedTopic = await schemaTopic("t-producer-record");
  await using replayedTopic = await schemaTopic("t-producer-replay");
  await using recording = await tempFile(".jsonl");
  await using recorder = startProducer(recordedTopic.name, {
    SYNTHETIC_RATE: "50",
    RECORD_FILE: recording.path,
  });
  await recorder.waitForLog("the recorder to start", isMsg("sending"));
  await waitForRecords(recordedTopic.name, 100);
  const recorded = await recorder.stop();
  assert.equal(recorded.code, 0, recorded.stderr);

  await using replayer = startProducer(replayedTopic.name, {
    SOURCE: "replay",
    REPLAY_FILE: recording.path,
    REPLAY_SPEED: "0",
  });
  const replayed = await replayer.waitForExit(30_000);

  assert.equal(replayed.killedAfterTimeout, false, "the replay ends");
  assert.equal(replayed.code, 0, replayed.stderr);
  const lines = (await Deno.readTextFile(recording.path)).split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Ticker);
  assert.ok(lines.length >= 100, `only ${lines.length} ticks recorded`);
  const [a, b] = (await Promise.all([
    readTopic(recordedTopic.name, { decode: false }),
    readTopic(replayedTopic.name, { decode: false }),
  ])).map(byPartition);
  for (let p = 0; p < PARTITIONS; p++) {
    const expected = lines.filter((t) =>
      murmur2Partition(t.nombre, PARTITIONS) === p
    );
    assert.deepEqual(b[p], expected, `partition ${p} of the replay`);
    assert.deepEqual(a[p], b[p], `partition ${p}: recorded vs replayed`);
  }
});

// --- Java murmur2 (Kafka's Utils.murmur2 + toPositive), independent of kafkajs ------

/** Kafka's `Utils.murmur2` over the UTF-8 bytes of `key`, as a signed 32-bit int. */
function murmur2(key: string): number {
  const data = new TextEncoder().encode(key);
  const length = data.length;
  const m = 0x5bd1e995;
  const r = 24;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = Math.floor(length / 4);
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (data[i4] & 0xff) + ((data[i4 + 1] & 0xff) << 8) +
      ((data[i4 + 2] & 0xff) << 16) + ((data[i4 + 3] & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & ~3;
  switch (length % 4) {
    case 3:
      h ^= (data[tail + 2] & 0xff) << 16;
    // falls through
    case 2:
      h ^= (data[tail + 1] & 0xff) << 8;
    // falls through
    case 1:
      h ^= data[tail] & 0xff;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's default partitioner picks for a keyed record. */
function murmur2Partition(key: string, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

// --- the Bitfinex sources in-process ---------------------------------------------------

interface Stream extends AsyncDisposable {
  /** Tickers received so far. */
  got: Ticker[];
  /** The source's log lines so far. */
  lines: string[];
  /** Waits for the first 4 tickers (10 s at most). */
  firstTicks(): Promise<void>;
  /** Waits until tickers sent on connection `connection` (updates, not snapshots) arrive. */
  ticksFrom(connection: number): Promise<void>;
}

/** Drains `bitfinexWsTicks` against the double until disposed. */
function wsStream(double: BitfinexDouble, coins: string[]): Stream {
  const lines: string[] = [];
  const log = lineLogger(lines);
  const controller = new AbortController();
  return drain(
    bitfinexWsTicks({
      url: double.wsUrl,
      coins,
      signal: controller.signal,
      log,
    }),
    controller,
    lines,
    double,
    async () => {
      // The client's sockets are closed once the double sees none open.
      await waitFor(
        "the client to close its sockets",
        () => double.openConnections === 0,
        { timeoutMs: 5_000, everyMs: 20 },
      );
    },
  );
}

/** Drains `bitfinexRestTicks` against the double until disposed. */
function restStream(
  double: BitfinexDouble,
  coins: string[],
  options: { rateLimitWaitMs?: number } = {},
): Stream {
  const lines: string[] = [];
  const controller = new AbortController();
  return drain(
    bitfinexRestTicks({
      url: double.restUrl,
      coins,
      pollMs: 200,
      signal: controller.signal,
      log: lineLogger(lines),
      ...options,
    }),
    controller,
    lines,
    double,
  );
}

function drain(
  source: AsyncIterable<Ticker>,
  controller: AbortController,
  lines: string[],
  double: BitfinexDouble,
  settle: () => Promise<void> = () => Promise.resolve(),
): Stream {
  const got: Ticker[] = [];
  const done = (async () => {
    for await (const ticker of source) got.push(ticker);
  })();
  let failure: unknown;
  done.catch((error) => failure = error);
  return {
    got,
    lines,
    async firstTicks() {
      await waitFor("first ticks", () => got.length >= 4, {
        timeoutMs: 10_000,
      });
    },
    async ticksFrom(connection) {
      await waitFor(`ticks from connection ${connection}`, () => {
        if (failure) throw failure;
        const sent = double.sent.filter((s: SentTicker) =>
          s.connection === connection && !s.snapshot
        );
        return got.some((t) =>
          sent.some((s) =>
            s.symbol === t.nombre && sameValues(s.values, tickerToArray(t))
          )
        );
      }, { timeoutMs: 10_000, everyMs: 50 });
    },
    async [Symbol.asyncDispose]() {
      controller.abort();
      await done;
      await settle();
    },
  };
}

function lineLogger(lines: string[]): Logger {
  return createLogger("test", { write: (line) => lines.push(line) });
}

// --- decoding and setup-schema ------------------------------------------------------

/** Decoded tickers per partition, in offset order; checks timestamp = event_time on the way. */
function byPartition(records: TopicRecord[]): Ticker[][] {
  const out: Ticker[][] = Array.from({ length: PARTITIONS }, () => []);
  for (const record of records) {
    const ticker = decode(record.value);
    assert.equal(record.timestamp, ticker.event_time);
    assert.equal(record.key, ticker.nombre);
    out[record.partition].push(ticker);
  }
  return out;
}

/** A wire-format value's v2 record, as a plain object. */
function decode(value: Uint8Array): Ticker {
  return { ...decodeBody(value.subarray(5), V2, V2) };
}

function sameValues(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

function schemaLine(stderr: string): { msg: string; id: number } {
  const line = stderr.split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l))
    .find((l) => /^schema (already )?registered under/.test(l.msg));
  assert.ok(line, `no schema line in:\n${stderr}`);
  return line;
}
