/**
 * Java's `RangeAssignor` as a pure function: per topic, contiguous ranges
 * of partitions to the members sorted by id.
 *
 * @module
 */
import {
  checkCounts,
  compare,
  type GroupAssignment,
  type MemberSubscription,
  type PartitionCounts,
  sortedIds,
  subscriptionsOf,
  toGroupAssignment,
  type TopicPartition,
} from "./assignment.ts";

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
