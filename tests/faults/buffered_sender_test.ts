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
