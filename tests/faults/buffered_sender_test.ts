import assert from "node:assert/strict";
import { createBufferedSender, type Producer } from "@cryptocandles/kafka";

/** A kafkajs producer whose sends hang while `down`, then succeed; it keeps what it got. */
function fakeProducer() {
  const got: string[] = [];
  let release: (() => void) | undefined;
  let down = false;
  const producer = {
    send: async ({ messages }: { messages: { key: string }[] }) => {
      while (down) await new Promise<void>((r) => (release = r));
      got.push(...messages.map((m) => m.key));
      return [];
    },
  } as unknown as Producer;
  return {
    producer,
    got,
    setDown(value: boolean) {
      down = value;
      if (!value) release?.();
    },
  };
}

const toRecord = (n: number) => ({
  key: String(n),
  value: new Uint8Array([n % 256]),
  timestamp: String(n),
});

Deno.test("createBufferedSender() keeps the newest ticks when the buffer fills during an outage, counts the oldest it drops, and sends every kept one after recovery", async () => {
  const kafka = fakeProducer();
  const dropped: number[] = [];
  const sender = createBufferedSender<number>(kafka.producer, {
    topic: "t",
    capacity: 100,
    maxBatch: 10,
    toRecord,
    onDropped: (n) => dropped.push(n),
  });
  kafka.setDown(true);
  for (let n = 1; n <= 500; n++) await sender.push(n);
  // Tick 1 went out alone and hangs in flight; the 99 places left keep the
  // newest ticks (402..500), the 400 before them are dropped, oldest first.
  assert.deepEqual(sender.counts(), {
    acked: 0,
    dropped: 400,
    waiting: 99,
    inFlight: 1,
  });
  assert.deepEqual(dropped, Array.from({ length: 400 }, (_, i) => i + 2));
  kafka.setDown(false);
  const left = await sender.flush(Date.now() + 5_000);
  assert.deepEqual(left, { acked: 100, dropped: 400, waiting: 0, inFlight: 0 });
  const kept = [1, ...Array.from({ length: 99 }, (_, i) => i + 402)];
  assert.deepEqual(kafka.got, kept.map(String), "in order, no duplicate");
});

Deno.test("createBufferedSender() without dropOldest makes push wait for room instead of dropping", async () => {
  const kafka = fakeProducer();
  const sender = createBufferedSender<number>(kafka.producer, {
    topic: "t",
    capacity: 100,
    maxBatch: 10,
    dropOldest: false,
    toRecord,
  });
  kafka.setDown(true);
  for (let n = 0; n < 100; n++) await sender.push(n);
  let pushed = false;
  const push = sender.push(100).then(() => (pushed = true));
  await new Promise((r) => setTimeout(r, 50)); // not a wait for a result: proves push is still pending
  assert.equal(pushed, false);
  kafka.setDown(false);
  await push;
  const left = await sender.flush(Date.now() + 5_000);
  assert.deepEqual(left, { acked: 101, dropped: 0, waiting: 0, inFlight: 0 });
  assert.deepEqual(kafka.got, Array.from({ length: 101 }, (_, i) => String(i)));
});

Deno.test("createBufferedSender().flush() gives up at its deadline and reports what is unsent", async () => {
  const kafka = fakeProducer();
  const sender = createBufferedSender<number>(kafka.producer, {
    topic: "t",
    capacity: 1_000,
    maxBatch: 10,
    toRecord,
  });
  kafka.setDown(true);
  for (let n = 0; n < 25; n++) await sender.push(n);
  const started = Date.now();
  const left = await sender.flush(Date.now() + 200);
  const took = Date.now() - started;
  assert.ok(took >= 190 && took < 2_000, `flush took ${took} ms`);
  assert.deepEqual(left, { acked: 0, dropped: 0, waiting: 24, inFlight: 1 });
  kafka.setDown(false);
});

Deno.test("createBufferedSender() sends a batch again with a renewed producer when the cluster lost the producer's sequence, and stops on other non-retriable errors", async () => {
  const outOfOrder = Object.assign(
    new Error("The broker received an out of order sequence number"),
    { type: "OUT_OF_ORDER_SEQUENCE_NUMBER", retriable: false },
  );
  const got: string[] = [];
  let failNext: Error | undefined = outOfOrder;
  const make = (id: number) =>
    ({
      id,
      send: ({ messages }: { messages: { key: string }[] }) => {
        const error = failNext;
        failNext = undefined;
        if (error) return Promise.reject(error);
        got.push(...messages.map((m) => `${id}:${m.key}`));
        return Promise.resolve([]);
      },
    }) as unknown as Producer;
  const renewed: string[] = [];
  const sender = createBufferedSender<number>(make(1), {
    topic: "t",
    capacity: 100,
    maxBatch: 2,
    toRecord,
    renew: (stale, error) => {
      renewed.push(
        `${(stale as unknown as { id: number }).id} after ${
          (error as Error).message
        }`,
      );
      return Promise.resolve(make(2));
    },
  });
  for (let n = 1; n <= 3; n++) await sender.push(n);
  const left = await sender.flush(Date.now() + 5_000);
  assert.deepEqual(renewed, [`1 after ${outOfOrder.message}`]);
  assert.deepEqual(
    got,
    ["2:1", "2:2", "2:3"],
    "the refused batch first, by the new producer",
  );
  assert.deepEqual(left, { acked: 3, dropped: 0, waiting: 0, inFlight: 0 });
  assert.equal(sender.failure, undefined);

  failNext = Object.assign(new Error("Invalid required acks"), {
    type: "INVALID_REQUIRED_ACKS",
    retriable: false,
  });
  await sender.push(4);
  const stuck = await sender.flush(Date.now() + 1_000);
  assert.equal(stuck.waiting, 1, "kept, not sent");
  assert.match(
    String((sender.failure as unknown as Error).message),
    /Invalid required acks/,
  );
  assert.equal(renewed.length, 1, "no renewal for other errors");
});

Deno.test("createBufferedSender() holds a batch kafkajs gave up on with every broker unreachable and sends it again, saying so once each way", async () => {
  const gaveUp = Object.assign(
    new Error("Connection error: connect ECONNREFUSED 127.0.0.1:19092"),
    { name: "KafkaJSNumberOfRetriesExceeded", retriable: false },
  );
  let refusals = 3;
  const got: string[] = [];
  const producer = {
    send: ({ messages }: { messages: { key: string }[] }) => {
      if (refusals-- > 0) return Promise.reject(gaveUp);
      got.push(...messages.map((m) => m.key));
      return Promise.resolve([]);
    },
  } as unknown as Producer;
  const lines: string[] = [];
  const log = {
    info: (m: string) => lines.push(`info ${m}`),
    warn: (m: string) => lines.push(`warn ${m}`),
    error: (m: string) => lines.push(`error ${m}`),
    debug: () => {},
  } as unknown as Parameters<typeof createBufferedSender>[1]["log"];
  const sender = createBufferedSender<number>(producer, {
    topic: "t",
    capacity: 100,
    toRecord,
    retryMs: 5,
    log,
  });
  for (let n = 1; n <= 3; n++) await sender.push(n);
  const left = await sender.flush(Date.now() + 5_000);
  assert.deepEqual(left, { acked: 3, dropped: 0, waiting: 0, inFlight: 0 });
  assert.deepEqual(got, ["1", "2", "3"]);
  assert.equal(sender.failure, undefined, "an outage is not a failure");
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(
    lines[0],
    /^warn Kafka unreachable \(Connection error: connect ECONNREFUSED/,
  );
  assert.match(lines[1], /^info Kafka takes records again after \d+ s$/);
});
