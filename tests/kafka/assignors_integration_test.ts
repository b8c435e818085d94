/**
 * The sticky assignor through real kafkajs consumers on the local stack:
 * several sticky consumers in one process, each with its own assigner.
 */
import assert from "node:assert/strict";
import {
  assignorFor,
  type Consumer,
  ensureTopic,
  type PartitionsByTopic,
  trackAssignments,
} from "@cryptocandles/kafka";
import { cleanupLater, testKafka, uniqueName, waitFor } from "../support.ts";

/** A consumer of the group with its own sticky assigner, and what it owns now. */
interface Member {
  consumer: Consumer;
  owned: () => number[];
  protocols: string[];
  stop: () => Promise<void>;
}

async function joinSticky(
  groupId: string,
  topic: string,
  clientId: string,
): Promise<Member> {
  const kafka = testKafka(undefined, clientId);
  const assigner = assignorFor("sticky");
  const consumer = kafka.consumer({
    groupId,
    partitionAssigners: [assigner],
    sessionTimeout: 10_000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 100,
  });
  const untrack = trackAssignments(consumer, assigner);
  let owned: PartitionsByTopic = {};
  const protocols: string[] = [];
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    owned = payload.memberAssignment;
    protocols.push(payload.groupProtocol);
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async () => {} });
  return {
    consumer,
    owned: () => [...(owned[topic] ?? [])].sort((a, b) => a - b),
    protocols,
    stop: async () => {
      untrack();
      await consumer.disconnect();
    },
  };
}

/**
 * Waits until the members together own every partition once, with as many
 * each as `counts` says (in any order), and returns what each owns.
 */
function waitForSplit(members: Member[], counts: number[], partitions: number) {
  const want = [...counts].sort().join("/");
  return waitFor(
    `${partitions} partitions split ${want} between ${members.length} consumers`,
    () => {
      const owned = members.map((m) => m.owned());
      const all = owned.flat().sort((a, b) => a - b);
      const whole = all.length === partitions && all.every((p, i) => p === i);
      const sizes = owned.map((o) => o.length).sort().join("/");
      return whole && sizes === want && owned;
    },
    { timeoutMs: 60_000, everyMs: 200 },
  );
}

Deno.test("two sticky consumers in one process share a group, and a third takes one partition without reshuffling the others", async () => {
  const topic = uniqueName("t-sticky-two");
  const groupId = uniqueName("g-sticky-two");
  await using _cleanup = cleanupLater([topic]);
  const admin = testKafka().admin();
  await admin.connect();
  const members: Member[] = [];
  try {
    await ensureTopic(admin, {
      topic,
      partitions: 4,
      replication: 3,
      minIsr: 2,
    });
    members.push(await joinSticky(groupId, topic, "sticky-2"));
    await waitForSplit(members, [4], 4);

    members.push(await joinSticky(groupId, topic, "sticky-3"));
    const [a2, b2] = await waitForSplit(members, [2, 2], 4);

    // The newcomer's member id sorts first: without the userData its
    // assigners sent, a fresh assignment would give it two partitions and
    // move the others' partitions around.
    members.push(await joinSticky(groupId, topic, "sticky-1"));
    const [a3, b3, c3] = await waitForSplit(members, [2, 1, 1], 4);
    // C takes one partition; A and B keep only partitions they had.
    assert.equal(c3.length, 1);
    assert.ok(a3.every((p) => a2.includes(p)), `A had ${a2}, has ${a3}`);
    assert.ok(b3.every((p) => b2.includes(p)), `B had ${b2}, has ${b3}`);
    for (const member of members) {
      assert.ok(member.protocols.length > 0);
      assert.ok(member.protocols.every((p) => p === "sticky"));
    }
  } finally {
    for (const member of members.reverse()) {
      await member.stop().catch(() => {});
    }
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
  }
});
