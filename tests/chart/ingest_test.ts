/**
 * `startReading()` of @cryptocandles/chart with kafkajs doubles: what it
 * subscribes to, how it runs the consumer and where it seeks.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { RegistryClient } from "@cryptocandles/avro";
import {
  type ChartServer,
  type ChartState,
  createCandleStore,
  startReading,
} from "@cryptocandles/chart";
import type { Admin, Consumer } from "@cryptocandles/kafka";
import { createLogger } from "@cryptocandles/runtime";

/** A consumer double that records its calls. */
function fakeConsumer(calls: { method: string; args: unknown }[]): Consumer {
  const record = (method: string) => (args: unknown) => {
    calls.push({ method, args });
    return Promise.resolve();
  };
  return {
    subscribe: record("subscribe"),
    run: record("run"),
    seek: (args: unknown) => void calls.push({ method: "seek", args }),
  } as unknown as Consumer;
}

/** An admin double: topic T with two partitions (ends 40 and 7), its DLQ, no history topic. */
function fakeAdmin(): Admin {
  return {
    fetchTopicOffsetsByTimestamp: () =>
      Promise.resolve([
        { partition: 0, offset: "12" },
        { partition: 1, offset: "-1" },
      ]),
    listTopics: () => Promise.resolve(["T", "T.dlq"]),
    fetchTopicOffsets: (topic: string) =>
      Promise.resolve(
        topic === "T"
          ? [
            { partition: 0, offset: "40", high: "40", low: "0" },
            { partition: 1, offset: "7", high: "7", low: "0" },
          ]
          : [{ partition: 0, offset: "3", high: "3", low: "0" }],
      ),
  } as unknown as Admin;
}

Deno.test("startReading() runs the chart's consumer without committing offsets, then seeks by time", async () => {
  const calls: { method: string; args: unknown }[] = [];
  const state: ChartState = {
    source: "unknown",
    last: {},
    ticks: 0,
    coins: [],
  };
  await startReading(fakeConsumer(calls), fakeAdmin(), {
    topic: "T",
    dlqTopic: "T.dlq",
    since: Date.UTC(2026, 0, 1),
    registry: {} as RegistryClient,
    state,
    store: createCandleStore(),
    chart: { publish: () => {} } as unknown as ChartServer,
    log: createLogger("chart", { write: () => {} }),
  });
  assert.deepEqual(calls.map((c) => c.method), [
    "subscribe",
    "run",
    "seek",
    "seek",
    "seek",
  ]);
  assert.deepEqual(calls[0].args, {
    topics: ["T", "T.dlq"],
    fromBeginning: true,
  });
  // Its group is new at every start, which seeks by time: kafkajs's commit
  // after each batch only held the next batches (tens to hundreds of ms on
  // a busy machine, issue 16).
  const run = calls[1].args as { autoCommit?: boolean; eachMessage?: unknown };
  assert.equal(run.autoCommit, false);
  assert.equal(typeof run.eachMessage, "function");
  assert.deepEqual(calls.slice(2).map((c) => c.args), [
    { topic: "T", partition: 0, offset: "12" },
    { topic: "T", partition: 1, offset: "7" }, // none since then: its end
    { topic: "T.dlq", partition: 0, offset: "0" }, // its last 10 (3 there)
  ]);
});
