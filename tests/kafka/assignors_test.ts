import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  AssignerProtocol,
  type Cluster,
  type Consumer,
  type GroupMember,
  type GroupMemberAssignment,
  type Logger,
  type PartitionAssigner,
  PartitionAssigners,
} from "kafkajs";
import {
  assignorFor,
  createStickyAssigner,
  decodeStickyUserData,
  encodeStickyUserData,
  type GroupAssignment,
  type PartitionCounts,
  type PartitionsByTopic,
  rangeAssign,
  RangeAssigner,
  recordAssignment,
  stickyAssign,
  type StickyMemberSubscription,
  trackAssignments,
} from "@cryptocandles/kafka";

// Kafka's documentation names partitions "t0p1" (topic t0, partition 1);
// these helpers let the tests read the same way.

/** `{ t0: [0, 2] }` → `["t0p0", "t0p2"]`, sorted. */
function labels(partitions: PartitionsByTopic): string[] {
  return Object.entries(partitions)
    .flatMap(([topic, ids]) => ids.map((id) => `${topic}p${id}`))
    .sort();
}

/** Every member's partitions as sorted labels. */
function labelled(assignment: GroupAssignment): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(assignment).map((
      [id, partitions],
    ) => [id, labels(partitions)]),
  );
}

/** Sorted labels, so Javadoc lists in assignment order compare as sets. */
function sorted(byMember: Record<string, string[]>): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(byMember).map(([id, list]) => [id, [...list].sort()]),
  );
}

function members(
  topics: readonly string[],
  ...ids: string[]
): StickyMemberSubscription[] {
  return ids.map((memberId) => ({ memberId, topics }));
}

/** Feeds one assignment back as every member's previous partitions. */
function rejoin(
  assignment: GroupAssignment,
  topicsOf: Record<string, readonly string[]>,
  generation?: number,
): StickyMemberSubscription[] {
  return Object.keys(topicsOf).map((memberId) => ({
    memberId,
    topics: topicsOf[memberId],
    previous: assignment[memberId] ?? {},
    ...(generation === undefined ? {} : { generation }),
  }));
}

// A kafkajs cluster that knows only partition counts, and a silent logger.

function fakeCluster(counts: PartitionCounts) {
  const added: string[][] = [];
  const cluster = {
    findTopicPartitionMetadata: (topic: string) =>
      Array.from({ length: counts[topic] ?? 0 }, (_, partitionId) => ({
        partitionErrorCode: 0,
        partitionId,
        leader: 1,
        replicas: [1],
        isr: [1],
      })),
    addMultipleTargetTopics: (topics: string[]) => {
      added.push(topics);
      return Promise.resolve();
    },
  };
  return { cluster: cluster as unknown as Cluster, added };
}

function fakeLogger() {
  const warnings: string[] = [];
  const logger = {
    info() {},
    error() {},
    debug() {},
    warn: (message: string) => warnings.push(message),
    namespace: () => logger,
    setLogLevel() {},
  };
  return { logger: logger as unknown as Logger, warnings };
}

function instantiate(assigner: PartitionAssigner, counts: PartitionCounts) {
  const { cluster } = fakeCluster(counts);
  return assigner({ cluster, groupId: "Coins", logger: fakeLogger().logger });
}

function member(
  memberId: string,
  topics: string[],
  userData = Buffer.alloc(0),
): GroupMember {
  const memberMetadata = AssignerProtocol.MemberMetadata.encode({
    version: 0,
    topics,
    userData,
  });
  return { memberId, memberMetadata };
}

function decoded(result: GroupMemberAssignment[]): GroupAssignment {
  return Object.fromEntries(result.map(({ memberId, memberAssignment }) => {
    const decoded = AssignerProtocol.MemberAssignment.decode(memberAssignment);
    return [memberId, decoded?.assignment ?? {}];
  }));
}

// Java's RangeAssignor

Deno.test("rangeAssign() splits each topic into ranges as in the RangeAssignor Javadoc", () => {
  const result = rangeAssign(members(["t0", "t1"], "C0", "C1"), {
    t0: 3,
    t1: 3,
  });
  assert.deepEqual(labelled(result), {
    C0: ["t0p0", "t0p1", "t1p0", "t1p1"],
    C1: ["t0p2", "t1p2"],
  });
});

Deno.test("rangeAssign() gives the extra partitions to the first members by id, per topic", () => {
  const result = rangeAssign([
    { memberId: "C2", topics: ["t0"] },
    { memberId: "C0", topics: ["t0"] },
    { memberId: "C1", topics: ["t0", "t1"] },
  ], { t0: 7, t1: 2 });
  assert.deepEqual(result, {
    C0: { t0: [0, 1, 2] },
    C1: { t0: [3, 4], t1: [0, 1] },
    C2: { t0: [5, 6] },
  });
});

Deno.test("rangeAssign() leaves C3 idle with the project's two partitions and three consumers", () => {
  const result = rangeAssign(members(["CRIPTOMONEDAS"], "C1", "C2", "C3"), {
    CRIPTOMONEDAS: 2,
  });
  assert.deepEqual(result, {
    C1: { CRIPTOMONEDAS: [0] },
    C2: { CRIPTOMONEDAS: [1] },
    C3: {},
  });
});

Deno.test("rangeAssign() skips topics without partition counts", () => {
  const result = rangeAssign(members(["t0", "gone"], "C0"), { t0: 1 });
  assert.deepEqual(result, { C0: { t0: [0] } });
});

Deno.test("rangeAssign() and stickyAssign() reject duplicate ids and bad partition counts", () => {
  for (const assign of [rangeAssign, stickyAssign]) {
    assert.throws(
      () => assign(members(["t0"], "C0", "C0"), { t0: 1 }),
      { name: "TypeError", message: /member id "C0" appears twice/ },
    );
    assert.throws(
      () => assign(members(["t0"], "C0"), { t0: -1 }),
      { name: "RangeError", message: /topic "t0" has -1 partitions/ },
    );
    assert.throws(
      () => assign(members(["t0"], "C0"), { t0: 1.5 }),
      RangeError,
    );
  }
});

Deno.test("RangeAssigner assigns through kafkajs as in the RangeAssignor Javadoc", async () => {
  const assigner = instantiate(RangeAssigner, { t0: 3, t1: 3 });
  const result = await assigner.assign({
    members: [member("C1", ["t0", "t1"]), member("C0", ["t0", "t1"])],
    topics: ["t0", "t1"],
  });
  assert.deepEqual(labelled(decoded(result)), {
    C0: ["t0p0", "t0p1", "t1p0", "t1p1"],
    C1: ["t0p2", "t1p2"],
  });
});

Deno.test('RangeAssigner subscribes as protocol "range" with version 0 metadata', () => {
  const assigner = instantiate(RangeAssigner, {});
  const { name, metadata } = assigner.protocol({ topics: ["CRIPTOMONEDAS"] });
  assert.equal(name, "range");
  assert.equal(assigner.name, "range");
  const decodedMetadata = AssignerProtocol.MemberMetadata.decode(metadata);
  assert.equal(decodedMetadata?.version, 0);
  assert.deepEqual(decodedMetadata?.topics, ["CRIPTOMONEDAS"]);
  assert.equal(decodedMetadata?.userData.length, 0);
});

Deno.test("RangeAssigner fetches metadata for topics only other members subscribe to", async () => {
  const { cluster, added } = fakeCluster({ t0: 2, t1: 2 });
  const assigner = RangeAssigner({
    cluster,
    groupId: "Coins",
    logger: fakeLogger().logger,
  });
  const result = await assigner.assign({
    members: [member("C0", ["t0"]), member("C1", ["t0", "t1"])],
    topics: ["t0"],
  });
  assert.deepEqual(added, [["t1"]]);
  assert.deepEqual(decoded(result), {
    C0: { t0: [0] },
    C1: { t0: [1], t1: [0, 1] },
  });
});

// kafkajs's round robin, as assignorFor("roundrobin") returns it

Deno.test('assignorFor("roundrobin") assigns as in the RoundRobinAssignor Javadoc', async () => {
  assert.equal(assignorFor("roundrobin"), PartitionAssigners.roundRobin);
  const assigner = instantiate(assignorFor("roundrobin"), { t0: 3, t1: 3 });
  const result = await assigner.assign({
    members: [member("C0", ["t0", "t1"]), member("C1", ["t0", "t1"])],
    topics: ["t0", "t1"],
  });
  assert.deepEqual(labelled(decoded(result)), {
    C0: ["t0p0", "t0p2", "t1p1"],
    C1: ["t0p1", "t1p0", "t1p2"],
  });
});

Deno.test('assignorFor("roundrobin") reshuffles when C1 leaves, as the StickyAssignor Javadoc says', async () => {
  const topics = ["t0", "t1", "t2", "t3"];
  const assigner = instantiate(assignorFor("roundrobin"), {
    t0: 2,
    t1: 2,
    t2: 2,
    t3: 2,
  });
  const result = await assigner.assign({
    members: [member("C0", topics), member("C2", topics)],
    topics,
  });
  assert.deepEqual(labelled(decoded(result)), {
    C0: ["t0p0", "t1p0", "t2p0", "t3p0"],
    C2: ["t0p1", "t1p1", "t2p1", "t3p1"],
  });
});

// Java's StickyAssignor: the two examples of its Javadoc

const example1 = {
  topics: ["t0", "t1", "t2", "t3"],
  counts: { t0: 2, t1: 2, t2: 2, t3: 2 },
};

Deno.test("stickyAssign() starts balanced like round robin (StickyAssignor Javadoc, example 1)", () => {
  const result = stickyAssign(
    members(example1.topics, "C0", "C1", "C2"),
    example1.counts,
  );
  assert.deepEqual(
    labelled(result),
    sorted({
      C0: ["t0p0", "t1p1", "t3p0"],
      C1: ["t0p1", "t2p0", "t3p1"],
      C2: ["t1p0", "t2p1"],
    }),
  );
});

Deno.test("stickyAssign() keeps C0 and C2's partitions when C1 leaves (example 1)", () => {
  const { topics, counts } = example1;
  const before = stickyAssign(members(topics, "C0", "C1", "C2"), counts);
  const after = stickyAssign(
    rejoin(before, { C0: topics, C2: topics }),
    counts,
  );
  assert.deepEqual(
    labelled(after),
    sorted({
      C0: ["t0p0", "t1p1", "t3p0", "t2p0"],
      C2: ["t1p0", "t2p1", "t0p1", "t3p1"],
    }),
  );
});

const example2 = {
  topicsOf: { C0: ["t0"], C1: ["t0", "t1"], C2: ["t0", "t1", "t2"] },
  counts: { t0: 1, t1: 2, t2: 3 },
};

Deno.test("stickyAssign() balances unequal subscriptions better than round robin (example 2)", () => {
  const { topicsOf, counts } = example2;
  const result = stickyAssign(rejoin({}, topicsOf), counts);
  assert.deepEqual(labelled(result), {
    C0: ["t0p0"],
    C1: ["t1p0", "t1p1"],
    C2: ["t2p0", "t2p1", "t2p2"],
  });
});

Deno.test("stickyAssign() preserves five assignments when C0 leaves (example 2)", () => {
  const { topicsOf, counts } = example2;
  const before = stickyAssign(rejoin({}, topicsOf), counts);
  const after = stickyAssign(
    rejoin(before, { C1: topicsOf.C1, C2: topicsOf.C2 }),
    counts,
  );
  assert.deepEqual(
    labelled(after),
    sorted({
      C1: ["t1p0", "t1p1", "t0p0"],
      C2: ["t2p0", "t2p1", "t2p2"],
    }),
  );
});

// The original project: "if C2 dies, only C2's partitions are reassigned"

Deno.test("stickyAssign() moves only C2's partition, to idle C3, when C2 dies (original project)", () => {
  const topics = ["CRIPTOMONEDAS"];
  const counts = { CRIPTOMONEDAS: 2 };
  const before = stickyAssign(members(topics, "C1", "C2", "C3"), counts);
  assert.deepEqual(before, {
    C1: { CRIPTOMONEDAS: [0] },
    C2: { CRIPTOMONEDAS: [1] },
    C3: {},
  });
  const after = stickyAssign(
    rejoin(before, { C1: topics, C3: topics }),
    counts,
  );
  assert.deepEqual(after, {
    C1: { CRIPTOMONEDAS: [0] },
    C3: { CRIPTOMONEDAS: [1] },
  });
});

Deno.test("stickyAssign() splits C2's partitions between C1 and C3 when C2 dies (original project, six partitions)", () => {
  const topics = ["CRIPTOMONEDAS"];
  const counts = { CRIPTOMONEDAS: 6 };
  const before = stickyAssign(members(topics, "C1", "C2", "C3"), counts);
  const after = stickyAssign(
    rejoin(before, { C1: topics, C3: topics }),
    counts,
  );
  const kept = (id: string) =>
    before[id].CRIPTOMONEDAS.every((p) => after[id].CRIPTOMONEDAS.includes(p));
  assert.ok(kept("C1") && kept("C3"), "C1 and C3 keep what they had");
  assert.deepEqual(
    [after.C1.CRIPTOMONEDAS.length, after.C3.CRIPTOMONEDAS.length],
    [3, 3],
  );
  assert.deepEqual(
    [...after.C1.CRIPTOMONEDAS, ...after.C3.CRIPTOMONEDAS].sort(),
    [0, 1, 2, 3, 4, 5],
  );
});

// Sticky details

Deno.test("stickyAssign() gives a joining member a fair share by moving as few partitions as possible", () => {
  const topics = ["t0"];
  const before = {
    C0: { t0: [0, 1, 2, 3] },
    C1: { t0: [4, 5, 6, 7] },
  };
  const after = stickyAssign(
    rejoin(before, { C0: topics, C1: topics, C2: topics }),
    { t0: 8 },
  );
  assert.deepEqual(
    Object.values(after).map((partitions) => partitions.t0?.length ?? 0),
    [3, 3, 2],
  );
  for (const id of ["C0", "C1"] as const) {
    assert.ok(after[id].t0.every((p) => before[id].t0.includes(p)));
  }
});

Deno.test("stickyAssign() settles a partition claimed twice in favour of the higher generation", () => {
  const topics = ["t0"];
  const result = stickyAssign([
    // C0 missed a rebalance and still claims t0p1, which C1 got later.
    { memberId: "C0", topics, previous: { t0: [0, 1] }, generation: 5 },
    { memberId: "C1", topics, previous: { t0: [1, 2] }, generation: 6 },
    // A claim without a generation loses to any claim with one.
    { memberId: "C2", topics, previous: { t0: [2, 3] } },
  ], { t0: 4 });
  assert.deepEqual(result, {
    C0: { t0: [0] },
    C1: { t0: [1, 2] },
    C2: { t0: [3] },
  });
});

Deno.test("stickyAssign() drops claims on unsubscribed topics and vanished partitions", () => {
  const result = stickyAssign([
    { memberId: "C0", topics: ["t0"], previous: { t0: [1, 9], t1: [0] } },
    { memberId: "C1", topics: ["t0", "t1"], previous: {} },
  ], { t0: 2, t1: 1 });
  // C0 keeps t0p1 only; t1p0 can go to C1 alone, then t0p0 to the tie's lower id.
  assert.deepEqual(result, {
    C0: { t0: [0, 1] },
    C1: { t1: [0] },
  });
});

/** Small seeded generator (mulberry32) so the random rounds repeat. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Checks every partition goes to exactly one subscriber. */
function assertComplete(
  result: GroupAssignment,
  group: readonly StickyMemberSubscription[],
  counts: PartitionCounts,
) {
  const expected = Object.entries(counts)
    .filter(([topic]) => group.some((m) => m.topics.includes(topic)))
    .flatMap(([topic, n]) =>
      Array.from({ length: n }, (_, p) => `${topic}p${p}`)
    )
    .sort();
  assert.deepEqual(Object.values(result).flatMap(labels).sort(), expected);
  for (const m of group) {
    for (const topic of Object.keys(result[m.memberId])) {
      assert.ok(m.topics.includes(topic), `${m.memberId} got ${topic}`);
    }
  }
}

Deno.test("stickyAssign() stays balanced and keeps the most partitions possible over random rebalances (seed 42)", () => {
  const next = random(42);
  const topics = ["t0", "t1", "t2"];
  const counts = { t0: 5, t1: 3, t2: 4 };
  const total = 12;
  let ids = ["C0", "C1", "C2"];
  let assignment = stickyAssign(members(topics, ...ids), counts);
  let joined = ids.length;
  for (let round = 0; round < 300; round++) {
    if ((next() < 0.5 && ids.length > 1) || ids.length > 8) {
      ids = ids.filter((_, i) => i !== Math.floor(next() * ids.length));
    } else {
      ids = [...ids, `C${joined++}`];
    }
    const group = rejoin(
      assignment,
      Object.fromEntries(ids.map((id) => [id, topics])),
    );
    const result = stickyAssign(group, counts);
    assertComplete(result, group, counts);
    const sizes = ids.map((id) => labels(result[id]).length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `round ${round}`);
    // The most a group can keep: the ceil shares go to the biggest owners.
    const owned = ids.map((id) => labels(assignment[id] ?? {}).length)
      .sort((a, b) => b - a);
    const floor = Math.floor(total / ids.length);
    const best = owned.reduce(
      (sum, n, i) =>
        sum + Math.min(n, i < total % ids.length ? floor + 1 : floor),
      0,
    );
    const kept = ids.reduce(
      (sum, id) =>
        sum +
        labels(result[id]).filter((l) =>
          labels(assignment[id] ?? {}).includes(l)
        )
          .length,
      0,
    );
    assert.equal(kept, best, `round ${round}`);
    assignment = result;
  }
});

Deno.test("stickyAssign() leaves no partition movable to a member with two fewer (random unequal subscriptions, seed 7)", () => {
  const next = random(7);
  const counts = { t0: 1, t1: 2, t2: 3, t3: 4 };
  const allTopics = Object.keys(counts);
  let assignment: GroupAssignment = {};
  for (let round = 0; round < 200; round++) {
    const size = 1 + Math.floor(next() * 5);
    const topicsOf = Object.fromEntries(
      Array.from({ length: size }, (_, i) => {
        const topics = allTopics.filter(() => next() < 0.5);
        return [`C${i}`, topics.length > 0 ? topics : ["t0"]];
      }),
    );
    const group = rejoin(assignment, topicsOf);
    const result = stickyAssign(group, counts);
    assertComplete(result, group, counts);
    const count = (id: string) => labels(result[id]).length;
    for (const [from, partitions] of Object.entries(result)) {
      for (const topic of Object.keys(partitions)) {
        for (const to of Object.keys(topicsOf)) {
          if (topicsOf[to].includes(topic)) {
            assert.ok(count(to) >= count(from) - 1, `round ${round}`);
          }
        }
      }
    }
    assignment = result;
  }
});

// The sticky userData, in Java's StickyAssignorUserData layout

Deno.test("encodeStickyUserData() writes Java's StickyAssignorUserData v1 layout", () => {
  const bytes = encodeStickyUserData({
    partitions: { t0: [1] },
    generation: 3,
  });
  assert.deepEqual(
    [...bytes],
    [
      ...[0, 0, 0, 1], // one topic
      ...[0, 2, 0x74, 0x30], // "t0"
      ...[0, 0, 0, 1, 0, 0, 0, 1], // partitions [1]
      ...[0, 0, 0, 3], // generation 3
    ],
  );
});

Deno.test("decodeStickyUserData() reads v0 without a generation and rejects truncated bytes", () => {
  const v1 = encodeStickyUserData({ partitions: { t0: [0, 2], t1: [1] } });
  assert.deepEqual(decodeStickyUserData(v1), {
    partitions: { t0: [0, 2], t1: [1] },
  });
  assert.deepEqual(decodeStickyUserData(new Uint8Array()), { partitions: {} });
  assert.throws(() => decodeStickyUserData(v1.subarray(0, 9)), RangeError);
});

// The sticky assigner through kafkajs

Deno.test('assignorFor("sticky") carries previous partitions in userData so C1 leaving moves only C1\'s', async () => {
  const { topics, counts } = example1;
  const ids = ["C0", "C1", "C2"];
  const assigners = new Map(ids.map((id) => {
    const factory = assignorFor("sticky");
    return [id, { factory, assigner: instantiate(factory, counts) }];
  }));
  const join = async (group: string[], generation: number) => {
    const groupMembers = group.map((id) => ({
      memberId: id,
      memberMetadata: assigners.get(id)!.assigner.protocol({ topics }).metadata,
    }));
    const leader = assigners.get(group[0])!.assigner;
    const result = decoded(
      await leader.assign({ members: groupMembers, topics }),
    );
    for (const id of group) {
      recordAssignment(assigners.get(id)!.factory, result[id], { generation });
    }
    return result;
  };

  const first = await join(ids, 1);
  assert.deepEqual(
    labelled(first),
    sorted({
      C0: ["t0p0", "t1p1", "t3p0"],
      C1: ["t0p1", "t2p0", "t3p1"],
      C2: ["t1p0", "t2p1"],
    }),
  );
  const sent = assigners.get("C2")!.assigner.protocol({ topics }).metadata;
  const userData = AssignerProtocol.MemberMetadata.decode(sent)!.userData;
  assert.deepEqual(decodeStickyUserData(userData), {
    partitions: { t1: [0], t2: [1] },
    generation: 1,
  });

  const second = await join(["C2", "C0"], 2);
  assert.deepEqual(
    labelled(second),
    sorted({
      C0: ["t0p0", "t1p1", "t3p0", "t2p0"],
      C2: ["t1p0", "t2p1", "t0p1", "t3p1"],
    }),
  );
});

Deno.test('assignorFor("sticky") subscribes as protocol "sticky" with empty userData before any assignment', () => {
  const assigner = instantiate(assignorFor("sticky"), {});
  const { name, metadata } = assigner.protocol({ topics: ["t0"] });
  assert.equal(name, "sticky");
  assert.equal(assigner.name, "sticky");
  const decodedMetadata = AssignerProtocol.MemberMetadata.decode(metadata);
  assert.deepEqual(decodedMetadata?.topics, ["t0"]);
  assert.equal(decodedMetadata?.userData.length, 0);
});

Deno.test("a sticky assigner ignores undecodable userData with a warning", async () => {
  const { cluster } = fakeCluster({ t0: 2 });
  const { logger, warnings } = fakeLogger();
  const assigner = assignorFor("sticky")({ cluster, groupId: "Coins", logger });
  const result = await assigner.assign({
    members: [
      member("C0", ["t0"], Buffer.from([0, 0, 0, 1, 0])),
      member("C1", ["t0"]),
    ],
    topics: ["t0"],
  });
  assert.deepEqual(decoded(result), { C0: { t0: [0] }, C1: { t0: [1] } });
  assert.deepEqual(warnings, ["Ignoring undecodable sticky userData"]);
});

Deno.test("a sticky assigner refuses to serve a second consumer", () => {
  const factory = assignorFor("sticky");
  instantiate(factory, {});
  assert.throws(
    () => instantiate(factory, {}),
    /call assignorFor\("sticky"\) or createStickyAssigner\(\) for each consumer/,
  );
  assert.notEqual(assignorFor("sticky"), assignorFor("sticky"));
  assert.notEqual(createStickyAssigner(), createStickyAssigner());
});

Deno.test("createStickyAssigner() gives each consumer of a process its own memory", () => {
  const [a, b] = [createStickyAssigner(), createStickyAssigner()];
  const [first, second] = [instantiate(a, {}), instantiate(b, {})];
  recordAssignment(a, { t0: [0] }, { generation: 3 });
  recordAssignment(b, { t0: [1, 2] }, { generation: 3 });
  const sent = (assigner: typeof first) =>
    decodeStickyUserData(
      AssignerProtocol.MemberMetadata.decode(
        assigner.protocol({ topics: ["t0"] }).metadata,
      )!.userData,
    );
  assert.deepEqual(sent(first), { partitions: { t0: [0] }, generation: 3 });
  assert.deepEqual(sent(second), { partitions: { t0: [1, 2] }, generation: 3 });
});

function fakeConsumer() {
  const listeners = new Map<
    string,
    Set<(event: { payload: unknown }) => void>
  >();
  const consumer = {
    events: {
      GROUP_JOIN: "consumer.group_join",
      HEARTBEAT: "consumer.heartbeat",
    },
    on(name: string, listener: (event: { payload: unknown }) => void) {
      const set = listeners.get(name) ?? new Set();
      listeners.set(name, set.add(listener));
      return () => set.delete(listener);
    },
  };
  return {
    consumer: consumer as unknown as Pick<Consumer, "on" | "events">,
    emit(name: string, payload: unknown) {
      for (const listener of listeners.get(name) ?? []) listener({ payload });
    },
    listening: () =>
      [...listeners.values()].reduce((n, set) => n + set.size, 0),
  };
}

Deno.test("trackAssignments() records GROUP_JOIN's assignment and the next heartbeat's generation", () => {
  const factory = assignorFor("sticky");
  const assigner = instantiate(factory, {});
  const { consumer, emit, listening } = fakeConsumer();
  const untrack = trackAssignments(consumer, factory);
  const sent = () =>
    decodeStickyUserData(
      AssignerProtocol.MemberMetadata.decode(
        assigner.protocol({ topics: ["t0"] }).metadata,
      )!.userData,
    );

  emit("consumer.group_join", {
    memberId: "m-1",
    memberAssignment: { t0: [1] },
  });
  assert.deepEqual(sent(), { partitions: { t0: [1] } });
  emit("consumer.heartbeat", { memberId: "m-1", groupGenerationId: 4 });
  emit("consumer.heartbeat", { memberId: "m-1", groupGenerationId: 5 });
  assert.deepEqual(sent(), { partitions: { t0: [1] }, generation: 4 });
  emit("consumer.group_join", {
    memberId: "m-1",
    memberAssignment: { t0: [0, 1] },
  });
  emit("consumer.heartbeat", { memberId: "m-1", groupGenerationId: 6 });
  assert.deepEqual(sent(), { partitions: { t0: [0, 1] }, generation: 6 });

  assert.equal(listening(), 2);
  untrack();
  assert.equal(listening(), 0);
});

Deno.test("trackAssignments() listens to nothing for range and round robin", () => {
  const { consumer, listening } = fakeConsumer();
  for (const name of ["range", "roundrobin"] as const) {
    trackAssignments(consumer, assignorFor(name))();
  }
  assert.equal(listening(), 0);
});

Deno.test("assignorFor() names the protocol of each strategy and rejects others", () => {
  const names = (["range", "roundrobin", "sticky"] as const).map((name) =>
    instantiate(assignorFor(name), {}).name
  );
  assert.deepEqual(names, ["range", "RoundRobinAssigner", "sticky"]);
  assert.throws(
    () => assignorFor("cooperative-sticky" as "sticky"),
    { name: "RangeError", message: /"cooperative-sticky" is not one/ },
  );
});
