/**
 * The assignors as kafkajs `PartitionAssigner`s, chosen by name with
 * {@linkcode assignorFor}: Java's "range" ({@linkcode rangeAssign}),
 * kafkajs's own round robin, and Java's "sticky" ({@linkcode stickyAssign}).
 * They only decode member metadata, read partition counts from the cluster
 * metadata and encode the result.
 *
 * A sticky member reports the partitions it owned (and the group generation
 * they belong to) in its subscription `userData`. kafkajs has no
 * `onAssignment` hook, so each consumer gets its own sticky assigner from
 * {@linkcode createStickyAssigner} (or {@linkcode assignorFor}), and the
 * consumer's events tell that assigner what its member got
 * ({@linkcode trackAssignments}). Several sticky consumers can run in one
 * process, each with its own assigner.
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
import type {
  GroupAssignment,
  MemberSubscription,
  PartitionsByTopic,
} from "./assignment.ts";
import { rangeAssign } from "./range.ts";
import { stickyAssign } from "./sticky.ts";
import {
  decodeStickyUserData,
  encodeStickyUserData,
  type StickyUserData,
} from "./sticky_user_data.ts";

/** The memory of each sticky assigner, found by the assigner itself. */
const memories = new WeakMap<PartitionAssigner, StickyMemory>();

/** Options for {@linkcode recordAssignment}. */
export interface RecordAssignmentOptions {
  /** Group generation of the assignment, when known. @default {undefined} */
  generation?: number;
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
 * Returns the kafkajs assigner for a strategy name, to pass as
 * `partitionAssigners: [assignorFor(name)]`: {@linkcode RangeAssigner},
 * kafkajs's `PartitionAssigners.roundRobin` (protocol "RoundRobinAssigner"),
 * or a new sticky assigner from {@linkcode createStickyAssigner} (protocol
 * "sticky") on every call: call it once per consumer.
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
 * @param assigner The assigner from {@linkcode assignorFor} (or {@linkcode createStickyAssigner}).
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

/**
 * Makes a kafkajs assigner for Java's "sticky" protocol
 * ({@linkcode stickyAssign}) with its own memory of what its member owns:
 * one per consumer, so any number of sticky consumers can share a process.
 * Give it to exactly one consumer and tell it that consumer's assignments
 * with {@linkcode trackAssignments}; a second consumer given the same
 * assigner is refused, as the two would overwrite each other's memory.
 *
 * @returns A new kafkajs `PartitionAssigner` (protocol "sticky").
 * @throws {Error} From kafkajs's consumer set-up, when the assigner is given to a second consumer.
 *
 * @example Two sticky consumers in one process
 * ```ts ignore
 * import { createKafka, createStickyAssigner, trackAssignments } from "@cryptocandles/kafka";
 *
 * const kafka = createKafka(config.kafka, { clientId: "demo", log });
 * const untracks = ["a", "b"].map(() => {
 *   const assigner = createStickyAssigner();
 *   const consumer = kafka.consumer({ groupId: "Coins", partitionAssigners: [assigner] });
 *   return trackAssignments(consumer, assigner);
 * });
 * ```
 */
export function createStickyAssigner(): PartitionAssigner {
  const memory: StickyMemory = {
    partitions: undefined,
    generation: undefined,
    memberId: undefined,
    inUse: false,
  };
  const assigner: PartitionAssigner = ({ cluster, logger }) => {
    if (memory.inUse) {
      throw new Error(
        'Cannot give one sticky assigner to two consumers: call assignorFor("sticky") or createStickyAssigner() for each consumer',
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

function copyPartitions(
  assignment: Readonly<PartitionsByTopic>,
): PartitionsByTopic {
  return Object.fromEntries(
    Object.entries(assignment).map((
      [topic, partitions],
    ) => [topic, [...partitions]]),
  );
}
