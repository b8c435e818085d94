/**
 * Kafka for the pipeline: the kafkajs client built from the configuration,
 * topic set-up, and the consumer-group assignors (Java's "range" and
 * "sticky", kafkajs's round robin) chosen by name with `assignorFor`.
 *
 * This is the one package that imports `kafkajs`; the kafkajs types and
 * values other packages need are re-exported here, so they import
 * `@cryptocandles/kafka` instead.
 *
 * @example A consumer with the configured assignor
 * ```ts ignore
 * import { assignorFor, createKafka, trackAssignments } from "@cryptocandles/kafka";
 *
 * const kafka = createKafka(config.kafka, { clientId: "consumer-1", log });
 * const assigner = assignorFor(config.consumer.assignor);
 * const consumer = kafka.consumer({ groupId: "Coins", partitionAssigners: [assigner] });
 * const untrack = trackAssignments(consumer, assigner);
 * ```
 *
 * @module
 */
export * from "./kafka.ts";
export {
  ensureCompactedTopic,
  type ReadToEndOptions,
  readTopicToEnd,
  sendAll,
} from "./compacted.ts";
export {
  describeQuorumLeader,
  parseQuorumLeader,
  type QuorumOptions,
  quorumRequest,
} from "./cluster.ts";
export {
  assignorFor,
  createStickyAssigner,
  RangeAssigner,
  recordAssignment,
  type RecordAssignmentOptions,
  trackAssignments,
} from "./adapter.ts";
export type {
  GroupAssignment,
  MemberSubscription,
  PartitionCounts,
  PartitionsByTopic,
} from "./assignment.ts";
export { rangeAssign } from "./range.ts";
export { stickyAssign, type StickyMemberSubscription } from "./sticky.ts";
export {
  decodeStickyUserData,
  encodeStickyUserData,
  type StickyUserData,
} from "./sticky_user_data.ts";
// kafkajs stays inside this package: what others need of it comes from here.
export type {
  Admin,
  Consumer,
  EachBatchPayload,
  Kafka,
  KafkaMessage,
  Producer,
} from "kafkajs";
export { AssignerProtocol } from "kafkajs";
