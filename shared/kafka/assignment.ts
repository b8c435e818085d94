/**
 * The vocabulary of partition assignment shared by the range and sticky
 * assignors: partitions by topic, partition counts, a group's assignment,
 * and the checks and orderings both apply (member ids and topics ordered as
 * Java's `String.compareTo` orders them).
 *
 * @module
 */

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

/** One partition of one topic. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/**
 * The partition counts as a map, each checked.
 *
 * @throws {RangeError} When a count is not a whole number.
 */
export function checkCounts(
  partitionsPerTopic: PartitionCounts,
): Map<string, number> {
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

/**
 * Member ids in ascending order.
 *
 * @throws {TypeError} When two members share an id.
 */
export function sortedIds(members: readonly MemberSubscription[]): string[] {
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
export function subscriptionsOf(
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

/** Every member's partitions, grouped by topic, topics and partitions in ascending order. */
export function toGroupAssignment(
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

/** Partition first: a number holds no `:`, so any topic name is safe. */
export function keyOf({ topic, partition }: TopicPartition): string {
  return `${partition}:${topic}`;
}

/** Orders partitions by topic, then number. */
export function comparePartitions(
  a: TopicPartition,
  b: TopicPartition,
): number {
  return compare(a.topic, b.topic) || a.partition - b.partition;
}

/** Orders strings by UTF-16 code units, as Java's `String.compareTo` does. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
