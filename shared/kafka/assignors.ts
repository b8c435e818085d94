/**
 * Consumer-group partition assigners for kafkajs that behave like the Java
 * client's `RangeAssignor` ("range") and `StickyAssignor` ("sticky"), plus
 * kafkajs's own round robin, chosen by name with {@linkcode assignorFor}.
 *
 * The assignment logic lives in the pure functions {@linkcode rangeAssign}
 * and {@linkcode stickyAssign}; the kafkajs assigners only decode member
 * metadata, read partition counts from the cluster metadata and encode the
 * result.
 *
 * A sticky member reports the partitions it owned (and the group generation
 * they belong to) in its subscription `userData`, encoded as the Java
 * client's `StickyAssignorUserData` v1. kafkajs has no `onAssignment` hook, so
 * the consumer script tells the assigner what its member got by calling
 * {@linkcode trackAssignments} once, right after `kafka.consumer()`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  AssignerProtocol,
  type Cluster,
  type Consumer,
  type GroupMember,
  type GroupMemberAssignment,
  type PartitionAssigner,
  PartitionAssigners,
} from "kafkajs";
import type { AssignorName } from "@cryptocandles/config";

/** Partitions of each topic, the shape kafkajs uses: `{ t0: [0, 1] }`. */
export type PartitionsByTopic = Record<string, number[]>;

/** Number of partitions of each topic: `{ t0: 3, t1: 3 }`. */
export type PartitionCounts = Readonly<Record<string, number>>;

/** What each member gets, by member id: `{ C0: { t0: [0, 1] } }`. */
export type GroupAssignment = Record<string, PartitionsByTopic>;

/** One group member as an assignor sees it: its id and its topics. */
export interface MemberSubscription {
  /** The member id the group coordinator gave the consumer. */
  memberId: string;
  /** The topics the member subscribes to. */
  topics: readonly string[];
}

/** A member for {@linkcode stickyAssign}: its subscription and what it owned. */
export interface StickyMemberSubscription extends MemberSubscription {
  /** Partitions the member owned before this rebalance. @default {{}} */
  previous?: Readonly<PartitionsByTopic>;
  /**
   * Group generation those partitions were assigned in; when two members
   * claim a partition the higher generation wins, and a claim without a
   * generation loses to any claim with one.
   * @default {undefined}
   */
  generation?: number;
}

/** The sticky `userData` a member sends in its subscription. */
export interface StickyUserData {
  /** Partitions the member owned. */
  partitions: PartitionsByTopic;
  /** Generation they were assigned in, when the member knows it. */
  generation?: number;
}

/** The memory of each sticky assigner, found by the assigner itself. */
const memories = new WeakMap<PartitionAssigner, StickyMemory>();

/** Options for {@linkcode recordAssignment}. */
export interface RecordAssignmentOptions {
  /** Group generation of the assignment, when known. @default {undefined} */
  generation?: number;
}

/**
 * Assigns partitions like Java's `RangeAssignor`: per topic, the members
 * subscribed to it are sorted by member id and the partitions are cut into
 * contiguous ranges, the first `partitions % members` members getting one
 * extra partition.
 *
 * @param members Group members with their subscriptions.
 * @param partitionsPerTopic Partition count of each topic; topics missing here are skipped.
 * @returns Every member's partitions (topics and partitions in ascending order).
 * @throws {TypeError} When two members share an id.
 * @throws {RangeError} When a partition count is not a whole number.
 *
 * @example The RangeAssignor Javadoc example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rangeAssign } from "@cryptocandles/kafka";
 *
 * const topics = ["t0", "t1"];
 * const assignment = rangeAssign(
 *   [{ memberId: "C0", topics }, { memberId: "C1", topics }],
 *   { t0: 3, t1: 3 },
 * );
 * assert.deepEqual(assignment, {
 *   C0: { t0: [0, 1], t1: [0, 1] },
 *   C1: { t0: [2], t1: [2] },
 * });
 * ```
 */
export function rangeAssign(
  members: readonly MemberSubscription[],
  partitionsPerTopic: PartitionCounts,
): GroupAssignment {
  const counts = checkCounts(partitionsPerTopic);
  const ids = sortedIds(members);
  const assigned = new Map(ids.map((id) => [id, [] as TopicPartition[]]));
  const topicsOf = subscriptionsOf(members, counts);
  for (const [topic, count] of [...counts].sort(([a], [b]) => compare(a, b))) {
    const consumers = ids.filter((id) => topicsOf.get(id)!.has(topic));
    if (consumers.length === 0) continue;
    const perConsumer = Math.floor(count / consumers.length);
    const extra = count % consumers.length;
    consumers.forEach((id, i) => {
      const start = perConsumer * i + Math.min(i, extra);
      const length = perConsumer + (i < extra ? 1 : 0);
      for (let partition = start; partition < start + length; partition++) {
        assigned.get(id)!.push({ topic, partition });
      }
    });
  }
  return toGroupAssignment(ids, assigned);
}

/**
 * Assigns partitions like Java's `StickyAssignor`: the result is balanced
 * (counts differ by at most one when every member can take every partition;
 * otherwise no partition can move to a member with two or more fewer) and,
 * within that, each member keeps as many of its previous partitions as
 * possible. Partitions move only to restore balance, and then the ones a
 * member did not own before move first.
 *
 * Claims on the same partition are settled by generation (higher wins, no
 * generation loses, equal generations go to the lower member id); claims on
 * topics a member no longer subscribes to, or on partitions that no longer
 * exist, are dropped.
 *
 * @param members Group members with their subscriptions and previous partitions.
 * @param partitionsPerTopic Partition count of each topic; topics missing here are skipped.
 * @returns Every member's partitions (topics and partitions in ascending order).
 * @throws {TypeError} When two members share an id.
 * @throws {RangeError} When a partition count is not a whole number.
 *
 * @example C1 leaves and only its partitions move (StickyAssignor Javadoc, example 1)
 * ```ts
 * import assert from "node:assert/strict";
 * import { stickyAssign } from "@cryptocandles/kafka";
 *
 * const topics = ["t0", "t1", "t2", "t3"];
 * const after = stickyAssign([
 *   { memberId: "C0", topics, previous: { t0: [0], t1: [1], t3: [0] } },
 *   { memberId: "C2", topics, previous: { t1: [0], t2: [1] } },
 * ], { t0: 2, t1: 2, t2: 2, t3: 2 });
 * assert.deepEqual(after, {
 *   C0: { t0: [0], t1: [1], t2: [0], t3: [0] },
 *   C2: { t0: [1], t1: [0], t2: [1], t3: [1] },
 * });
 * ```
 */
export function stickyAssign(
  members: readonly StickyMemberSubscription[],
  partitionsPerTopic: PartitionCounts,
): GroupAssignment {
  const counts = checkCounts(partitionsPerTopic);
  const ids = sortedIds(members);
  const byId = new Map(members.map((member) => [member.memberId, member]));
  const topicsOf = subscriptionsOf(members, counts);

  // Which members may take each partition (ids in ascending order).
  const partitions = new Map<string, TopicPartition>();
  const candidates = new Map<string, string[]>();
  for (const [topic, count] of counts) {
    for (let partition = 0; partition < count; partition++) {
      const key = keyOf({ topic, partition });
      partitions.set(key, { topic, partition });
      candidates.set(key, ids.filter((id) => topicsOf.get(id)!.has(topic)));
    }
  }

  // Settle previous ownership: the highest generation wins each partition.
  const owners = new Map<string, { memberId: string; generation: number }>();
  for (const id of ids) {
    const { previous = {}, generation = -1 } = byId.get(id)!;
    for (const [topic, owned] of Object.entries(previous)) {
      if (!topicsOf.get(id)!.has(topic)) continue;
      for (const partition of owned) {
        const key = keyOf({ topic, partition });
        if (!partitions.has(key)) continue;
        const current = owners.get(key);
        if (!current || generation > current.generation) {
          owners.set(key, { memberId: id, generation });
        }
      }
    }
  }

  const assigned = new Map(ids.map((id) => [id, [] as string[]]));
  const sortedKeys = [...partitions.keys()].sort((a, b) =>
    comparePartitions(partitions.get(a)!, partitions.get(b)!)
  );
  for (const key of sortedKeys) {
    const owner = owners.get(key);
    if (owner) assigned.get(owner.memberId)!.push(key);
  }
  const count = (id: string) => assigned.get(id)!.length;

  // Hand out the rest, most constrained partitions first, each to the least
  // loaded member that can take it (ties go to the lower member id).
  const unassigned = sortedKeys
    .filter((key) => !owners.has(key) && candidates.get(key)!.length > 0)
    .sort((a, b) => candidates.get(a)!.length - candidates.get(b)!.length);
  for (const key of unassigned) {
    const to = leastLoaded(candidates.get(key)!, count);
    assigned.get(to)!.push(key);
  }

  // Move single partitions from fuller to emptier members until no member
  // could take a partition from one holding two or more partitions more.
  // Each move lowers the sum of squared counts, so this ends.
  for (;;) {
    const move = findMove(ids, assigned, candidates, owners, count);
    if (!move) break;
    const from = assigned.get(move.from)!;
    from.splice(from.indexOf(move.key), 1);
    assigned.get(move.to)!.push(move.key);
  }

  return toGroupAssignment(
    ids,
    new Map(
      [...assigned].map((
        [id, keys],
      ) => [id, keys.map((key) => partitions.get(key)!)]),
    ),
  );
}

/**
 * Encodes sticky `userData` as the Java client's `StickyAssignorUserData`
 * (v1 with a generation, v0 without): an array of `(topic: string,
 * partitions: int32[])` and then an `int32` generation.
 *
 * @param data The partitions the member owns and their generation.
 * @returns The bytes for `MemberMetadata.userData`.
 * @throws {RangeError} When the generation or a partition is out of the int32 range.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeStickyUserData, encodeStickyUserData } from "@cryptocandles/kafka";
 *
 * const data = { partitions: { t0: [0, 2] }, generation: 7 };
 * assert.deepEqual(decodeStickyUserData(encodeStickyUserData(data)), data);
 * ```
 */
export function encodeStickyUserData(data: StickyUserData): Buffer {
  const topics = Object.keys(data.partitions).sort(compare);
  const parts: Buffer[] = [int32(topics.length)];
  for (const topic of topics) {
    const name = Buffer.from(topic, "utf8");
    const owned = data.partitions[topic];
    parts.push(int16(name.length), name, int32(owned.length));
    for (const partition of owned) parts.push(int32(partition));
  }
  if (data.generation !== undefined) parts.push(int32(data.generation));
  return Buffer.concat(parts);
}

/**
 * Decodes sticky `userData` written by {@linkcode encodeStickyUserData} or
 * by a Java `StickyAssignor` (v0 or v1). Empty bytes mean "owned nothing".
 *
 * @param bytes The `userData` of a member's subscription.
 * @returns The partitions the member owned, and the generation when present.
 * @throws {RangeError} When the bytes are truncated or hold a negative length.
 *
 * @example A member that owned nothing
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeStickyUserData } from "@cryptocandles/kafka";
 *
 * assert.deepEqual(decodeStickyUserData(new Uint8Array()), { partitions: {} });
 * ```
 */
export function decodeStickyUserData(bytes: Uint8Array): StickyUserData {
  if (bytes.length === 0) return { partitions: {} };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  const need = (size: number) => {
    if (size < 0 || offset + size > bytes.length) {
      throw new RangeError(
        `Cannot decode sticky userData as it is ${bytes.length} bytes long: ${size} bytes expected at byte ${offset}`,
      );
    }
    const at = offset;
    offset += size;
    return at;
  };
  const entries: [string, number[]][] = [];
  const topicCount = view.getInt32(need(4));
  for (let t = 0; t < topicCount; t++) {
    const length = view.getInt16(need(2));
    const start = need(length);
    const topic = new TextDecoder().decode(bytes.subarray(start, offset));
    const partitionCount = view.getInt32(need(4));
    const owned: number[] = [];
    for (let p = 0; p < partitionCount; p++) {
      owned.push(view.getInt32(need(4)));
    }
    entries.push([topic, owned]);
  }
  const partitions = Object.fromEntries(entries);
  if (bytes.length - offset < 4) return { partitions };
  return { partitions, generation: view.getInt32(need(4)) };
}

/**
 * The kafkajs assigner for Java's "range" protocol ({@linkcode rangeAssign}).
 * It keeps no state, so one value serves every consumer.
 *
 * @example Pick it for a consumer
 * ```ts ignore
 * import { Kafka } from "kafkajs";
 * import { RangeAssigner } from "@cryptocandles/kafka";
 *
 * const kafka = new Kafka({ brokers: ["127.0.0.1:19090"] });
 * const consumer = kafka.consumer({ groupId: "Coins", partitionAssigners: [RangeAssigner] });
 * ```
 */
export const RangeAssigner: PartitionAssigner = ({ cluster }) => ({
  name: "range",
  version: 0,
  protocol: ({ topics }) => ({
    name: "range",
    metadata: AssignerProtocol.MemberMetadata.encode({
      version: 0,
      topics,
      userData: Buffer.alloc(0),
    }),
  }),
  async assign({ members, topics }) {
    const subscriptions = decodeMembers(members);
    const counts = await partitionCounts(cluster, subscriptions, topics);
    return encodeAssignment(rangeAssign(subscriptions, counts));
  },
});

/**
 * A kafkajs assigner for Java's "sticky" protocol ({@linkcode stickyAssign})
 * for a process that runs one consumer. It remembers what its consumer was
 * given (see {@linkcode trackAssignments}), so it refuses to serve a second
 * consumer: use {@linkcode assignorFor}`("sticky")`, which makes a new one on
 * every call, for each consumer of a process that runs several.
 *
 * @example Pick it for the one consumer of a script
 * ```ts ignore
 * import { Kafka } from "kafkajs";
 * import { StickyAssigner, trackAssignments } from "@cryptocandles/kafka";
 *
 * const kafka = new Kafka({ brokers: ["127.0.0.1:19090"] });
 * const consumer = kafka.consumer({ groupId: "Coins", partitionAssigners: [StickyAssigner] });
 * const untrack = trackAssignments(consumer, StickyAssigner);
 * ```
 */
export const StickyAssigner: PartitionAssigner = createStickyAssigner();

/**
 * Returns the kafkajs assigner for a strategy name, to pass as
 * `partitionAssigners: [assignorFor(name)]`: {@linkcode RangeAssigner},
 * kafkajs's `PartitionAssigners.roundRobin` (protocol "RoundRobinAssigner"),
 * or a new sticky assigner (protocol "sticky") on every call.
 *
 * @param name `range`, `roundrobin` or `sticky`.
 * @returns A kafkajs `PartitionAssigner`.
 * @throws {RangeError} When the name is none of those.
 *
 * @example Build a consumer with the configured strategy
 * ```ts ignore
 * import { Kafka } from "kafkajs";
 * import { assignorFor, trackAssignments } from "@cryptocandles/kafka";
 *
 * const kafka = new Kafka({ brokers: ["127.0.0.1:19090"] });
 * const assigner = assignorFor("sticky");
 * const consumer = kafka.consumer({ groupId: "Coins", partitionAssigners: [assigner] });
 * const untrack = trackAssignments(consumer, assigner); // call untrack() on shutdown
 * ```
 */
export function assignorFor(name: AssignorName): PartitionAssigner {
  switch (name) {
    case "range":
      return RangeAssigner;
    case "roundrobin":
      return PartitionAssigners.roundRobin;
    case "sticky":
      return createStickyAssigner();
    default:
      throw new RangeError(
        `Cannot pick a partition assigner as "${name}" is not one: use range, roundrobin or sticky`,
      );
  }
}

/**
 * Keeps a sticky assigner told what its consumer owns: on every
 * `GROUP_JOIN` event it records the consumer's new assignment, and on the
 * first `HEARTBEAT` after it the group generation (which `GROUP_JOIN` does
 * not carry). The assigner sends both in its next subscription. Call it
 * once, right after `kafka.consumer()`, with the assigner given to that
 * consumer; for range and round robin it does nothing.
 *
 * @param consumer The kafkajs consumer the assigner was given to.
 * @param assigner The assigner from {@linkcode assignorFor} (or {@linkcode StickyAssigner}).
 * @returns A function that removes the listeners (call it on shutdown).
 *
 * @example Track, then stop tracking on shutdown
 * ```ts ignore
 * const assigner = assignorFor(config.consumer.assignor);
 * const consumer = kafka.consumer({ groupId, partitionAssigners: [assigner] });
 * const untrack = trackAssignments(consumer, assigner);
 * // ... consumer.run(...) until the signal aborts ...
 * untrack();
 * await consumer.disconnect();
 * ```
 */
export function trackAssignments(
  consumer: Pick<Consumer, "on" | "events">,
  assigner: PartitionAssigner,
): () => void {
  const memory = memories.get(assigner);
  if (!memory) return () => {};
  const removeJoin = consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    memory.partitions = copyPartitions(payload.memberAssignment);
    memory.generation = undefined;
    memory.memberId = payload.memberId;
  });
  const removeHeartbeat = consumer.on(
    consumer.events.HEARTBEAT,
    ({ payload }) => {
      if (
        memory.partitions && memory.generation === undefined &&
        payload.memberId === memory.memberId
      ) {
        memory.generation = payload.groupGenerationId;
      }
    },
  );
  return () => {
    removeJoin();
    removeHeartbeat();
  };
}

/**
 * Tells a sticky assigner what its consumer owns now, the kafkajs
 * counterpart of Java's `onAssignment`; {@linkcode trackAssignments} calls
 * it for you. For range and round robin it does nothing.
 *
 * @param assigner The assigner given to the consumer.
 * @param assignment The consumer's partitions, as in the `GROUP_JOIN` payload.
 * @param options The group generation of the assignment.
 *
 * @example Record an assignment by hand
 * ```ts
 * import { assignorFor, recordAssignment } from "@cryptocandles/kafka";
 *
 * const assigner = assignorFor("sticky");
 * recordAssignment(assigner, { CRIPTOMONEDAS: [0, 1] }, { generation: 3 });
 * ```
 */
export function recordAssignment(
  assigner: PartitionAssigner,
  assignment: Readonly<PartitionsByTopic>,
  options: RecordAssignmentOptions = {},
): void {
  const { generation = undefined } = options;
  const memory = memories.get(assigner);
  if (!memory) return;
  memory.partitions = copyPartitions(assignment);
  memory.generation = generation;
  memory.memberId = undefined;
}

/** What a sticky assigner knows about its own member. */
interface StickyMemory {
  partitions: PartitionsByTopic | undefined;
  generation: number | undefined;
  memberId: string | undefined;
  inUse: boolean;
}

/** Makes a sticky assigner with its own memory, for one consumer. */
function createStickyAssigner(): PartitionAssigner {
  const memory: StickyMemory = {
    partitions: undefined,
    generation: undefined,
    memberId: undefined,
    inUse: false,
  };
  const assigner: PartitionAssigner = ({ cluster, logger }) => {
    if (memory.inUse) {
      throw new Error(
        'Cannot give one sticky assigner to two consumers: call assignorFor("sticky") for each consumer',
      );
    }
    memory.inUse = true;
    return {
      name: "sticky",
      version: 0,
      protocol: ({ topics }) => ({
        name: "sticky",
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 0,
          topics,
          userData: memory.partitions === undefined
            ? Buffer.alloc(0)
            : encodeStickyUserData({
              partitions: memory.partitions,
              generation: memory.generation,
            }),
        }),
      }),
      async assign({ members, topics }) {
        const subscriptions = decodeMembers(members).map((member) => {
          try {
            return {
              ...member,
              ...previousOf(decodeStickyUserData(member.userData)),
            };
          } catch (error) {
            logger.warn("Ignoring undecodable sticky userData", {
              memberId: member.memberId,
              error: String(error),
            });
            return member;
          }
        });
        const counts = await partitionCounts(cluster, subscriptions, topics);
        return encodeAssignment(stickyAssign(subscriptions, counts));
      },
    };
  };
  memories.set(assigner, memory);
  return assigner;
}

/** One partition of one topic. */
interface TopicPartition {
  topic: string;
  partition: number;
}

/** A member's subscription decoded from kafkajs, with its raw userData. */
interface DecodedMember extends MemberSubscription {
  userData: Uint8Array;
}

function previousOf(data: StickyUserData) {
  return data.generation === undefined
    ? { previous: data.partitions }
    : { previous: data.partitions, generation: data.generation };
}

function decodeMembers(members: GroupMember[]): DecodedMember[] {
  return members.map(({ memberId, memberMetadata }) => {
    const metadata = AssignerProtocol.MemberMetadata.decode(memberMetadata);
    return {
      memberId,
      topics: metadata?.topics ?? [],
      userData: metadata?.userData ?? new Uint8Array(),
    };
  });
}

/**
 * Partition counts of every topic some member subscribes to. Topics the
 * leader does not consume itself are added to its metadata first, as the
 * Java leader does.
 */
async function partitionCounts(
  cluster: Cluster,
  members: readonly MemberSubscription[],
  leaderTopics: readonly string[],
): Promise<Record<string, number>> {
  const topics = [...new Set(members.flatMap((member) => member.topics))];
  const others = topics.filter((topic) => !leaderTopics.includes(topic));
  if (others.length > 0) await cluster.addMultipleTargetTopics(others);
  return Object.fromEntries(
    topics.map((topic) => [
      topic,
      cluster.findTopicPartitionMetadata(topic).length,
    ]),
  );
}

function encodeAssignment(
  assignment: GroupAssignment,
): GroupMemberAssignment[] {
  return Object.entries(assignment).map(([memberId, partitions]) => ({
    memberId,
    memberAssignment: AssignerProtocol.MemberAssignment.encode({
      version: 0,
      assignment: partitions,
      userData: Buffer.alloc(0),
    }),
  }));
}

function findMove(
  ids: readonly string[],
  assigned: Map<string, string[]>,
  candidates: Map<string, string[]>,
  owners: Map<string, { memberId: string }>,
  count: (id: string) => number,
): { key: string; from: string; to: string } | undefined {
  const fullestFirst = [...ids].sort((a, b) =>
    count(b) - count(a) || compare(a, b)
  );
  for (const from of fullestFirst) {
    if (count(from) < 2) break;
    const keys = assigned.get(from)!;
    // Partitions the member did not own before move first, newest first.
    const order = [
      ...keys.filter((key) => owners.get(key)?.memberId !== from).reverse(),
      ...keys.filter((key) => owners.get(key)?.memberId === from).reverse(),
    ];
    for (const key of order) {
      const to = candidates.get(key)!
        .filter((id) => id !== from && count(id) < count(from) - 1);
      if (to.length > 0) return { key, from, to: leastLoaded(to, count) };
    }
  }
  return undefined;
}

/** The member with the fewest partitions; `ids` are in ascending order. */
function leastLoaded(ids: readonly string[], count: (id: string) => number) {
  return ids.reduce((best, id) => count(id) < count(best) ? id : best);
}

function checkCounts(partitionsPerTopic: PartitionCounts): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [topic, count] of Object.entries(partitionsPerTopic)) {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(
        `Cannot assign partitions as topic "${topic}" has ${count} partitions: expected a whole number`,
      );
    }
    counts.set(topic, count);
  }
  return counts;
}

function sortedIds(members: readonly MemberSubscription[]): string[] {
  const ids = members.map((member) => member.memberId).sort(compare);
  for (let i = 1; i < ids.length; i++) {
    if (ids[i] === ids[i - 1]) {
      throw new TypeError(
        `Cannot assign partitions as member id "${ids[i]}" appears twice`,
      );
    }
  }
  return ids;
}

/** Each member's subscribed topics that exist in `counts`. */
function subscriptionsOf(
  members: readonly MemberSubscription[],
  counts: Map<string, number>,
): Map<string, Set<string>> {
  return new Map(
    members.map((member) => [
      member.memberId,
      new Set(member.topics.filter((topic) => counts.has(topic))),
    ]),
  );
}

function toGroupAssignment(
  ids: readonly string[],
  assigned: Map<string, TopicPartition[]>,
): GroupAssignment {
  return Object.fromEntries(ids.map((id) => {
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of assigned.get(id)!) {
      byTopic.set(topic, [...byTopic.get(topic) ?? [], partition]);
    }
    return [
      id,
      Object.fromEntries(
        [...byTopic].sort(([a], [b]) => compare(a, b))
          .map((
            [topic, partitions],
          ) => [topic, partitions.sort((a, b) => a - b)]),
      ),
    ];
  }));
}

function copyPartitions(
  assignment: Readonly<PartitionsByTopic>,
): PartitionsByTopic {
  return Object.fromEntries(
    Object.entries(assignment).map((
      [topic, partitions],
    ) => [topic, [...partitions]]),
  );
}

/** Partition first: a number holds no `:`, so any topic name is safe. */
function keyOf({ topic, partition }: TopicPartition): string {
  return `${partition}:${topic}`;
}

function comparePartitions(a: TopicPartition, b: TopicPartition): number {
  return compare(a.topic, b.topic) || a.partition - b.partition;
}

/** Orders strings by UTF-16 code units, as Java's `String.compareTo` does. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function int16(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeInt16BE(value);
  return bytes;
}

function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}
