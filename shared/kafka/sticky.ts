/**
 * Java's `StickyAssignor` as a pure function: a balanced assignment that
 * keeps as many of each member's previous partitions as balance allows.
 *
 * @module
 */
import {
  checkCounts,
  compare,
  comparePartitions,
  type GroupAssignment,
  keyOf,
  type MemberSubscription,
  type PartitionCounts,
  type PartitionsByTopic,
  sortedIds,
  subscriptionsOf,
  toGroupAssignment,
  type TopicPartition,
} from "./assignment.ts";

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
