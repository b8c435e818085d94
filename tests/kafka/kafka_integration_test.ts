import assert from "node:assert/strict";
import { Partitioners } from "kafkajs";
import { describeTopicShape, ensureTopic } from "@cryptocandles/kafka";
import { stackDown, stackStatus, stackUp } from "@cryptocandles/launch";
import { testKafka, uniqueName, waitFor } from "../support.ts";

Deno.test("ensureTopic() creates 2 partitions x 3 replicas with min.insync.replicas=2, then is a no-op", async () => {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const topic = uniqueName("t-ensure");
    const shape = { topic, partitions: 2, replication: 3, minIsr: 2 };
    assert.equal(await ensureTopic(admin, shape), "created");
    const described = await describeTopicShape(admin, topic);
    assert.equal(described.partitions.length, 2);
    for (const p of described.partitions) {
      assert.equal(p.replicas.length, 3);
      assert.deepEqual([...p.isr].sort(), [...p.replicas].sort());
    }
    assert.equal(described.minIsr, 2);
    assert.equal(await ensureTopic(admin, shape), "exists");
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
});

Deno.test("ensureTopic() refuses an existing topic of another shape, naming what differs", async () => {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const topic = uniqueName("t-mismatch");
    await ensureTopic(admin, {
      topic,
      partitions: 1,
      replication: 3,
      minIsr: 1,
    });
    await assert.rejects(
      () =>
        ensureTopic(admin, { topic, partitions: 2, replication: 3, minIsr: 2 }),
      /exists with another shape: 1 partitions \(want 2\), min.insync.replicas 1 \(want 2\)/,
    );
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
});

Deno.test("keys land on Java murmur2 partitions: tBTCUSD 1, tETHUSD 0, Panes 1, Bollos 0", async () => {
  const kafka = testKafka();
  const admin = kafka.admin();
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await admin.connect();
  await producer.connect();
  try {
    const topic = uniqueName("t-murmur");
    await ensureTopic(admin, {
      topic,
      partitions: 2,
      replication: 3,
      minIsr: 2,
    });
    const keys = ["tBTCUSD", "tETHUSD", "Panes", "Bollos"];
    const partitions = [];
    for (const key of keys) {
      const [meta] = await producer.send({
        topic,
        acks: -1,
        messages: [{ key, value: key }],
      });
      partitions.push(meta.partition);
    }
    assert.deepEqual(partitions, [1, 0, 1, 0]);
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
});

Deno.test("acks=all produce succeeds with one broker down, and the broker rejoins the ISR", async () => {
  const kafka = testKafka();
  const admin = kafka.admin();
  await admin.connect();
  const topic = uniqueName("t-one-down");
  await ensureTopic(admin, { topic, partitions: 2, replication: 3, minIsr: 2 });
  await admin.disconnect();
  assert.deepEqual(await stackDown({ only: ["kafka-3"] }), ["kafka-3"]);
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
  });
  try {
    await producer.connect();
    const result = await producer.send({
      topic,
      acks: -1,
      messages: ["tBTCUSD", "tETHUSD"].map((key) => ({
        key,
        value: "while kafka-3 is down",
      })),
    });
    assert.equal(result.length, 2);
    assert.ok(result.every((r) => r.errorCode === 0));
  } finally {
    await producer.disconnect();
    assert.deepEqual(await stackUp(), ["kafka-3"]);
  }
  const status = await stackStatus();
  assert.ok(status.every((s) => s.running));
  const admin2 = kafka.admin();
  await admin2.connect();
  try {
    await waitFor("kafka-3 back in every ISR", async () => {
      const { partitions } = await describeTopicShape(admin2, topic);
      return partitions.every((p) => p.isr.length === 3);
    }, { timeoutMs: 60_000, everyMs: 1000 });
    await admin2.deleteTopics({ topics: [topic] });
  } finally {
    await admin2.disconnect();
  }
});
