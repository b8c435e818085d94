/**
 * The sink's decisions without Kafka or InfluxDB: a kafkajs batch payload
 * made here, a dead-letter producer that records what it is asked to send,
 * a registry lookup the test switches, and InfluxDB answers made by a fetch
 * the test passes in. What is expected is computed here from the records
 * the test made, not read from the sink.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import { sampleTicker } from "../fixtures/ticker.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  type AvroType,
  encodeWire,
  parseSchema,
  readSchema,
  RegistryError,
} from "@cryptocandles/avro";
import type { EachBatchPayload, Producer } from "@cryptocandles/kafka";
import { createLogger } from "@cryptocandles/runtime";
import { createSink, type SinkOptions } from "@cryptocandles/sink";
import type { Ticker } from "@cryptocandles/ticker";
import { waitFor } from "../support.ts";
import { committedLasts, drained, type Offsets } from "./payload.ts";

const V2 = parseSchema(await readSchema("v2"));
const SCHEMA_ID = 7;
const BASE = 1_718_465_100_000;

function ticker(i: number, nombre = "tBTCUSD"): Ticker {
  return sampleTicker(nombre, BASE + i * 1000, 66_000 + i);
}

interface Message {
  key: Buffer;
  value: Buffer;
  offset: string;
  timestamp: string;
  headers: Record<string, string>;
  attributes: number;
}

function message(offset: number, value: Buffer): Message {
  return {
    key: Buffer.from("tBTCUSD"),
    value,
    offset: String(offset),
    timestamp: String(BASE + offset * 1000),
    headers: {},
    attributes: 0,
  };
}

/** `n` good records under id {@linkcode SCHEMA_ID}, offsets from `from`. */
function goodMessages(n: number, from = 0, id = SCHEMA_ID): Message[] {
  return Array.from(
    { length: n },
    (_, i) => message(from + i, encodeWire(id, V2, ticker(from + i))),
  );
}

/** What a fake kafkajs payload saw: resolved offsets, commits, heartbeats. */
interface Payload {
  payload: EachBatchPayload;
  /** Last offsets of committed runs (a commit names the next offset to read). */
  resolved: string[];
  /** Offsets resolved for kafkajs's next fetch. */
  fetched: string[];
  commits: number;
  heartbeats: number;
  running: boolean;
}

function payloadOf(messages: Message[], partition = 0): Payload {
  const seen: Payload = {
    resolved: [],
    fetched: [],
    commits: 0,
    heartbeats: 0,
    running: true,
    payload: undefined as unknown as EachBatchPayload,
  };
  seen.payload = {
    batch: {
      topic: "t-sink",
      partition,
      messages,
      offsetLag: () => "0",
    },
    resolveOffset: (offset: string) => seen.fetched.push(offset),
    heartbeat: () => {
      seen.heartbeats++;
      return Promise.resolve();
    },
    isRunning: () => seen.running,
    isStale: () => false,
    commitOffsetsIfNecessary: (offsets?: Offsets) => {
      seen.commits++;
      seen.resolved.push(...committedLasts(offsets));
      return Promise.resolve();
    },
  } as unknown as EachBatchPayload;
  return seen;
}

interface SentRecord {
  value: Buffer;
  headers: Record<string, string>;
  key?: Buffer | string | null;
}

/** A dead-letter producer that keeps each request. */
function fakeDlq(): { producer: Producer; requests: SentRecord[][] } {
  const requests: SentRecord[][] = [];
  const producer = {
    send: ({ messages }: { messages: SentRecord[] }) => {
      requests.push(messages);
      return Promise.resolve([]);
    },
  } as unknown as Producer;
  return { producer, requests };
}

/** InfluxDB answers made by `answer`; every request body is kept. */
function fakeInflux(answer: (body: string) => Response | Promise<Response>) {
  const bodies: string[] = [];
  const fetch = (async (_url: string | URL | Request, init?: RequestInit) => {
    const body = String(init?.body ?? "");
    bodies.push(body);
    return await answer(body);
  }) as typeof globalThis.fetch;
  return { fetch, bodies };
}

const noContent = () => new Response(null, { status: 204 });

interface Rig {
  options: SinkOptions;
  lines: { level: string; msg: string }[];
  requests: SentRecord[][];
  fatal: Error[];
  controller: AbortController;
}

function rig(
  fetch: typeof globalThis.fetch,
  typeById: (id: number) => Promise<AvroType>,
  more: Partial<SinkOptions> = {},
): Rig {
  const lines: { level: string; msg: string }[] = [];
  const { producer, requests } = fakeDlq();
  const fatal: Error[] = [];
  const controller = new AbortController();
  const log = createLogger("sink-test", {
    format: "json",
    write: (line) => lines.push(JSON.parse(line)),
  });
  return {
    lines,
    requests,
    fatal,
    controller,
    options: {
      reader: V2,
      typeById,
      influx: {
        host: "http://127.0.0.1:1",
        database: "criptomonedas",
        fetch,
      },
      measurement: "criptomonedas",
      dlq: producer,
      dlqTopic: "t-sink.dlq",
      log,
      signal: controller.signal,
      onFatal: (error) => fatal.push(error),
      pauseBackoff: { minTimeout: 5, maxTimeout: 20 },
      ...more,
    },
  };
}

const notFound = (id: number) =>
  Promise.reject(
    new RegistryError(`schema ${id} not found`, 404, {
      body: { error_code: 40403 },
    }),
  );

Deno.test("createSink(): a chunk whose every record names a schema id the registry does not know pauses with one line, commits nothing, and is written once the registry knows the id", async () => {
  const messages = goodMessages(300);
  let emptied = true;
  let lookups = 0;
  const influx = fakeInflux(noContent);
  const r = rig(influx.fetch, (id) => {
    lookups++;
    return emptied ? notFound(id) : Promise.resolve(V2);
  });
  const sink = createSink(r.options);
  const seen = payloadOf(messages);
  const running = drained(sink, seen.payload);

  await waitFor("3 retries of the paused chunk", () => lookups >= 3, {
    timeoutMs: 5000,
    everyMs: 5,
  });
  const paused = r.lines.filter((l) => l.msg.startsWith("paused:"));
  assert.equal(paused.length, 1, "one line for the pause, not one a retry");
  assert.match(
    paused[0].msg,
    /schema registry knows none of the schema ids \(7\) of the 300 records at offsets 0-299 of partition 0/,
  );
  assert.equal(r.lines[r.lines.length - 1].level, "warn");
  assert.deepEqual(seen.resolved, [], "no offset resolved while paused");
  assert.equal(seen.commits, 0);
  assert.equal(r.requests.length, 0, "nothing dead-lettered");
  assert.equal(influx.bodies.length, 0, "nothing written");
  assert.deepEqual(seen.fetched, ["299"], "taken: kafkajs goes on fetching");
  assert.ok(sink.stats.registryDownSince !== undefined);

  emptied = false;
  await running;
  assert.deepEqual(seen.resolved, ["299"]);
  assert.equal(r.requests.length, 0);
  assert.equal(influx.bodies.join("\n").split("\n").length, 300);
  assert.equal(sink.stats.written.tBTCUSD, 300);
  assert.equal(sink.stats.registryDownSince, undefined);
  assert.ok(r.lines.some((l) => l.msg.startsWith("resumed: the schema")));
  assert.deepEqual(r.fatal, []);
});

Deno.test("createSink(): a backlog of unknown ids asks the registry once per id and chunk, not once a record", async () => {
  const messages = goodMessages(1000);
  let lookups = 0;
  const r = rig(fakeInflux(noContent).fetch, (id) => {
    lookups++;
    return notFound(id);
  });
  const seen = payloadOf(messages);
  const sink = createSink(r.options);
  const running = drained(sink, seen.payload);
  await waitFor("the pause line", () => r.lines.length > 0, {
    timeoutMs: 5000,
    everyMs: 5,
  });
  assert.equal(await sink.close(0), 1000, "1000 records left uncommitted");
  await running;
  assert.ok(lookups <= 3, `${lookups} lookups for 1 id`);
  assert.deepEqual(seen.resolved, []);
  assert.ok(
    r.lines.some((l) => l.msg.startsWith("1000 records not committed")),
  );
});

Deno.test("createSink(): close() stops taking batches, waits for the writes in flight and commits them", async () => {
  let answer: (() => void) | undefined;
  const influx = fakeInflux(() =>
    new Promise<Response>((go) => (answer = () => go(noContent())))
  );
  let paused = 0;
  const r = rig(influx.fetch, () => Promise.resolve(V2), {
    pause: () => void paused++,
  });
  const sink = createSink(r.options);
  const seen = payloadOf(goodMessages(10));
  await sink.eachBatch(seen.payload);
  assert.deepEqual(seen.fetched, ["9"], "taken: kafkajs fetches on");
  assert.deepEqual(seen.resolved, [], "not yet acknowledged");
  const closing = sink.close(5000);
  assert.equal(paused, 1, "the consumer is paused first");
  await waitFor("the write", () => answer !== undefined, { timeoutMs: 5000 });
  answer!();
  assert.equal(await closing, 0, "nothing left uncommitted");
  assert.deepEqual(seen.resolved, ["9"]);
  const later = payloadOf(goodMessages(5, 10));
  await sink.eachBatch(later.payload);
  assert.deepEqual(later.fetched, [], "a closed sink takes nothing");
  assert.equal(influx.bodies.length, 1);
});

Deno.test("createSink(): a lone unknown schema id among records that decode is poison: dead-lettered, the rest written", async () => {
  const messages = goodMessages(5);
  messages[2] = message(2, encodeWire(999, V2, ticker(2)));
  const influx = fakeInflux(noContent);
  const r = rig(
    influx.fetch,
    (id) => id === SCHEMA_ID ? Promise.resolve(V2) : notFound(id),
  );
  const seen = payloadOf(messages);
  const sink = createSink(r.options);
  await drained(sink, seen.payload);
  assert.deepEqual(seen.resolved, ["4"]);
  assert.equal(r.requests.flat().length, 1);
  const [dead] = r.requests.flat();
  assert.equal(dead.headers["error.reason"], "unknown-schema");
  assert.equal(dead.headers["original.offset"], "2");
  assert.equal(sink.stats.written.tBTCUSD, 4);
  assert.ok(!r.lines.some((l) => l.msg.startsWith("paused")));
});

Deno.test("createSink(): a chunk of unknown ids is poison, not a pause, while the registry still holds the topic's schemas", async () => {
  // A lone bad record in a slow live stream arrives as a chunk of its own.
  const messages = [message(0, encodeWire(999, V2, ticker(0)))];
  const influx = fakeInflux(noContent);
  let asked = 0;
  const r = rig(influx.fetch, notFound, {
    registryEmptied: () => {
      asked++;
      return Promise.resolve(false);
    },
  });
  const seen = payloadOf(messages);
  await drained(createSink(r.options), seen.payload);
  assert.equal(asked, 1);
  assert.deepEqual(seen.resolved, ["0"]);
  const dead = r.requests.flat();
  assert.equal(dead.length, 1);
  assert.equal(dead[0].headers["error.reason"], "unknown-schema");
  assert.equal(influx.bodies.length, 0);
  assert.ok(!r.lines.some((l) => l.msg.startsWith("paused")));
});

Deno.test("createSink(): a chunk of unknown ids pauses when the registry says it lost the topic's schemas", async () => {
  const messages = goodMessages(20);
  let emptied = true;
  const r = rig(
    fakeInflux(noContent).fetch,
    (id) => emptied ? notFound(id) : Promise.resolve(V2),
    { registryEmptied: () => Promise.resolve(emptied) },
  );
  const seen = payloadOf(messages);
  const running = drained(createSink(r.options), seen.payload);
  await waitFor(
    "the pause line",
    () => r.lines.some((l) => l.msg.startsWith("paused:")),
    {
      timeoutMs: 5000,
      everyMs: 5,
    },
  );
  assert.deepEqual(seen.resolved, []);
  assert.equal(r.requests.length, 0, "nothing dead-lettered");
  emptied = false;
  await running;
  assert.deepEqual(seen.resolved, ["19"]);
  assert.equal(r.requests.length, 0);
});

Deno.test("createSink(): a chunk whose ids the registry learns again between its 404s and the emptied check is written, not dead-lettered", async () => {
  // The race R6c hit in CI: every lookup answers 404, then the registry is
  // restored before the sink asks whether it lost the topic's schemas.
  const messages = goodMessages(30);
  let restored = false;
  const influx = fakeInflux(noContent);
  const r = rig(
    influx.fetch,
    (id) => restored ? Promise.resolve(V2) : notFound(id),
    {
      registryEmptied: () => {
        restored = true;
        return Promise.resolve(false);
      },
    },
  );
  const seen = payloadOf(messages);
  const sink = createSink(r.options);
  await drained(sink, seen.payload);
  assert.equal(r.requests.flat().length, 0, "nothing dead-lettered");
  assert.deepEqual(seen.resolved, ["29"]);
  assert.equal(sink.stats.written.tBTCUSD, 30);
});

Deno.test("createSink(): a registry that does not answer pauses the chunk (not poison) until it answers", async () => {
  const messages = goodMessages(50);
  let down = true;
  let lookups = 0;
  const influx = fakeInflux(noContent);
  const r = rig(influx.fetch, () => {
    lookups++;
    return down
      ? Promise.reject(
        new RegistryError("schema registry did not answer", 0),
      )
      : Promise.resolve(V2);
  });
  const seen = payloadOf(messages);
  const running = drained(createSink(r.options), seen.payload);
  await waitFor("3 tries", () => lookups >= 3, { timeoutMs: 5000, everyMs: 5 });
  const paused = r.lines.filter((l) => l.msg.startsWith("paused:"));
  assert.equal(paused.length, 1);
  assert.match(paused[0].msg, /^paused: schema registry unreachable since /);
  assert.deepEqual(seen.resolved, []);
  assert.equal(r.requests.length, 0);
  down = false;
  await running;
  assert.deepEqual(seen.resolved, ["49"]);
  assert.equal(r.requests.length, 0);
  assert.deepEqual(r.fatal, []);
});

Deno.test("createSink(): dead-letter writes go in requests within dlqMaxBytes, every poison record once and in order", async () => {
  // 3,000 records of 1 KiB that are not Avro: 3 MB of poison in one chunk.
  const messages = Array.from(
    { length: 3000 },
    (_, i) => message(i, Buffer.alloc(1024, 0x7b)),
  );
  const r = rig(fakeInflux(noContent).fetch, () => Promise.resolve(V2), {
    dlqMaxBytes: 100_000,
  });
  const seen = payloadOf(messages);
  await drained(createSink(r.options), seen.payload);
  assert.deepEqual(seen.resolved, ["2999"]);
  const sizeOf = (m: SentRecord) =>
    100 + Buffer.byteLength(String(m.key ?? "")) + m.value.length +
    Object.entries(m.headers).reduce(
      (sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v),
      0,
    );
  for (const request of r.requests) {
    const bytes = request.reduce((sum, m) => sum + sizeOf(m), 0);
    assert.ok(bytes <= 100_000, `a request of ${bytes} bytes`);
  }
  const sent = r.requests.flat();
  assert.deepEqual(
    sent.map((m) => m.headers["original.offset"]),
    messages.map((m) => m.offset),
  );
  const perRecord = sizeOf(sent[0]);
  assert.ok(
    r.requests.length >= Math.ceil((3000 * perRecord) / 100_000),
    `${r.requests.length} requests`,
  );
  assert.ok(sent.every((m) => m.headers["error.reason"] === "magic"));
});

Deno.test("createSink(): InfluxDB refusing connections pauses the chunk like a 500 does, then writes it", async () => {
  for (const failure of ["refused", "500"] as const) {
    let down = true;
    const influx = fakeInflux(() => {
      if (!down) return noContent();
      if (failure === "refused") {
        // What Deno's fetch throws when nothing listens on the port.
        throw new TypeError(
          "error sending request for url (http://127.0.0.1:1/api/v3/write_lp): client error (Connect): tcp connect error: Connection refused (os error 111)",
        );
      }
      return new Response('{"error":"down"}', { status: 500 });
    });
    const r = rig(influx.fetch, () => Promise.resolve(V2));
    const seen = payloadOf(goodMessages(20));
    const sink = createSink(r.options);
    const running = drained(sink, seen.payload);
    await waitFor("3 write attempts", () => influx.bodies.length >= 3, {
      timeoutMs: 5000,
      everyMs: 5,
    });
    const paused = r.lines.filter((l) => l.msg.startsWith("paused:"));
    assert.equal(paused.length, 1, failure);
    assert.match(paused[0].msg, /^paused: influx unreachable since /);
    assert.deepEqual(seen.resolved, [], `${failure}: nothing resolved`);
    assert.equal(seen.commits, 0);
    assert.ok(sink.stats.influxDownSince !== undefined);
    down = false;
    await running;
    assert.deepEqual(seen.resolved, ["19"], failure);
    assert.equal(r.requests.length, 0, `${failure}: nothing dead-lettered`);
    assert.equal(sink.stats.influxDownSince, undefined);
    assert.deepEqual(r.fatal, []);
  }
});

Deno.test("createSink(): a write InfluxDB refuses with 422 (a limit) dead-letters its records with the reason instead of stopping", async () => {
  const message422 =
    "Adding a new table would exceed limit of 2000 tables (simulated)";
  const influx = fakeInflux(() =>
    new Response(JSON.stringify({ error: message422, data: null }), {
      status: 422,
      headers: { "content-type": "application/json" },
    })
  );
  const r = rig(influx.fetch, () => Promise.resolve(V2));
  const seen = payloadOf(goodMessages(12));
  const sink = createSink(r.options);
  await drained(sink, seen.payload);
  assert.deepEqual(r.fatal, [], "not fatal");
  assert.deepEqual(seen.resolved, ["11"]);
  const sent = r.requests.flat();
  assert.equal(sent.length, 12);
  assert.ok(
    sent.every((m) => m.headers["error.reason"] === "influx-refused-422"),
  );
  assert.ok(sent[0].headers["error.message"].includes(message422));
  assert.equal(sink.stats.written.tBTCUSD ?? 0, 0);
  assert.equal(sink.stats.deadLettered, 12);
});

Deno.test("createSink(): a 400 naming more than 100 bad lines dead-letters every one of them and counts only the others as written", async () => {
  // Every odd line is refused: 150 of 300.
  const influx = fakeInflux((body) => {
    const data = body.split("\n").flatMap((line, i) =>
      i % 2 === 1
        ? [{
          original_line: line.slice(0, 20),
          line_number: i + 1,
          error_message: "invalid column type for column 'close_price'",
        }]
        : []
    );
    return new Response(
      JSON.stringify({
        error: "partial write of line protocol occurred",
        data,
      }),
      { status: 400, headers: { "content-type": "application/json" } },
    );
  });
  const r = rig(influx.fetch, () => Promise.resolve(V2));
  const messages = goodMessages(300);
  const seen = payloadOf(messages);
  const sink = createSink(r.options);
  await drained(sink, seen.payload);
  const sent = r.requests.flat();
  assert.deepEqual(
    sent.map((m) => m.headers["original.offset"]),
    messages.filter((_, i) => i % 2 === 1).map((m) => m.offset),
  );
  assert.ok(sent.every((m) => m.headers["error.reason"] === "influx-rejected"));
  assert.equal(sink.stats.written.tBTCUSD, 150);
  assert.deepEqual(seen.resolved, ["299"]);
  // The sink keeps the records' bytes, not kafkajs's objects, while it
  // writes: what reaches the DLQ is still each record's own key and value.
  const refused = messages.filter((_, i) => i % 2 === 1);
  assert.deepEqual(
    sent.map((m) => [String(m.key), Buffer.from(m.value).toString("hex")]),
    refused.map((m) => [String(m.key), m.value.toString("hex")]),
  );
});

Deno.test("createSink(): lines InfluxDB refuses go to the DLQ with their record's bytes, a record without a key included", async () => {
  const influx = fakeInflux((body) =>
    new Response(
      JSON.stringify({
        error: "partial write of line protocol occurred",
        data: [2, 3].map((n) => ({
          original_line: body.split("\n")[n - 1].slice(0, 20),
          line_number: n,
          error_message: "invalid column type",
        })),
      }),
      { status: 400, headers: { "content-type": "application/json" } },
    )
  );
  const r = rig(influx.fetch, () => Promise.resolve(V2));
  const messages = goodMessages(4);
  (messages[1] as { key: Buffer | null }).key = null;
  messages[2].key = Buffer.from("a-longer-key-than-the-others");
  const seen = payloadOf(messages);
  await drained(createSink(r.options), seen.payload);
  const sent = r.requests.flat();
  assert.deepEqual(
    sent.map((m) => [
      m.key === null ? null : String(m.key),
      Buffer.from(m.value).toString("hex"),
      m.headers["original.offset"],
    ]),
    [
      [null, messages[1].value.toString("hex"), "1"],
      ["a-longer-key-than-the-others", messages[2].value.toString("hex"), "2"],
    ],
  );
});

Deno.test("createSink(): a 401 stays fatal: nothing is resolved or dead-lettered", async () => {
  const influx = fakeInflux(() =>
    new Response('{"error":"the request was not authorized"}', { status: 401 })
  );
  const r = rig(influx.fetch, () => Promise.resolve(V2));
  const seen = payloadOf(goodMessages(3));
  await drained(createSink(r.options), seen.payload);
  assert.equal(r.fatal.length, 1);
  assert.equal((r.fatal[0] as { status?: number }).status, 401);
  assert.deepEqual(seen.resolved, []);
  assert.equal(r.requests.length, 0);
});

Deno.test("createSink(): a batch read again from an earlier offset (after a rebalance) starts a new lane: the old one's late answers commit nothing", async () => {
  const held: (() => void)[] = [];
  let hold = true;
  const influx = fakeInflux(() =>
    hold
      ? new Promise<Response>((go) => held.push(() => go(noContent())))
      : noContent()
  );
  const r = rig(influx.fetch, () => Promise.resolve(V2));
  const sink = createSink(r.options);
  const first = payloadOf(goodMessages(10));
  await sink.eachBatch(first.payload);
  await waitFor("the first write", () => held.length === 1, {
    timeoutMs: 5000,
  });
  // kafkajs fetches again from the committed offset (none: 0).
  hold = false;
  const again = payloadOf(goodMessages(15));
  await drained(sink, again.payload);
  assert.deepEqual(again.resolved, ["14"]);
  held[0](); // the first lane's write is answered late
  await sink.idle();
  assert.deepEqual(first.resolved, [], "the replaced lane commits nothing");
  assert.equal(await sink.close(0), 0);
});

Deno.test("createSink(): a batch with no room waits heartbeating, and a rebalance's answer to the heartbeat ends it unfetched", async () => {
  const influx = fakeInflux(() =>
    new Response('{"error":"down"}', { status: 500 })
  );
  const r = rig(influx.fetch, () => Promise.resolve(V2), { maxRecords: 10 });
  const sink = createSink(r.options);
  const first = payloadOf(goodMessages(10));
  await sink.eachBatch(first.payload); // fills the lane; InfluxDB is down
  const second = payloadOf(goodMessages(10, 10));
  let beats = 0;
  const rebalancing = new Error(
    "The group is rebalancing, so a rejoin is needed",
  );
  second.payload.heartbeat = () =>
    ++beats < 2 ? Promise.resolve() : Promise.reject(rebalancing);
  await assert.rejects(sink.eachBatch(second.payload), rebalancing);
  assert.equal(beats, 2);
  assert.deepEqual(second.fetched, [], "nothing of the second batch taken");
  assert.deepEqual(first.fetched, ["9"]);
  assert.equal(
    await sink.close(0),
    10,
    "the first batch's 10 records uncommitted",
  );
  assert.deepEqual(first.resolved, []);
});
