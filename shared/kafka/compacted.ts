/**
 * Compacted topics (the history topic `<KAFKA_TOPIC>.candles`): creating
 * one, and reading one from its start to the end it had when asked.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import type { Admin, Kafka, KafkaMessage, Producer } from "kafkajs";
import { Buffer } from "node:buffer";
import {
  type EnsureResult,
  ensureTopic,
  type OutgoingRecord,
  type TopicShape,
  whileTopicIsNew,
} from "./kafka.ts";

/** Kafka's resource type code for a topic (kafkajs `ConfigResourceTypes.TOPIC`). */
const TOPIC_RESOURCE = 2;

/**
 * Creates the topic as {@linkcode ensureTopic} does, then makes it
 * compacted (`cleanup.policy=compact`) when it is not yet. The non-incremental
 * AlterConfigs replaces every dynamic setting of the topic, so
 * `min.insync.replicas` is set again with it.
 *
 * @param admin A connected admin client.
 * @param shape Topic name, partitions, replication factor and min ISR.
 * @returns `"created"` or `"exists"`.
 * @throws {Error} When an existing topic's shape differs, naming what differs.
 *
 * @example
 * ```ts ignore
 * await ensureCompactedTopic(admin, { topic: "CRIPTOMONEDAS.candles", partitions: 2, replication: 3, minIsr: 2 });
 * ```
 */
export async function ensureCompactedTopic(
  admin: Admin,
  shape: TopicShape,
): Promise<EnsureResult> {
  const made = await ensureTopic(admin, {
    ...shape,
    configs: { ...shape.configs, "cleanup.policy": "compact" },
  });
  if (made === "created") return made;
  const described = await whileTopicIsNew(() =>
    admin.describeConfigs({
      includeSynonyms: false,
      resources: [{
        type: TOPIC_RESOURCE,
        name: shape.topic,
        configNames: ["cleanup.policy"],
      }],
    })
  );
  const policy = described.resources[0]?.configEntries.find((e) =>
    e.configName === "cleanup.policy"
  )?.configValue;
  if (policy !== "compact") {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{
        type: TOPIC_RESOURCE,
        name: shape.topic,
        configEntries: [
          { name: "cleanup.policy", value: "compact" },
          { name: "min.insync.replicas", value: String(shape.minIsr) },
        ],
      }],
    });
  }
  return made;
}

/** Options for {@linkcode readTopicToEnd}. */
export interface ReadToEndOptions {
  /** Called for every record, in offset order per partition. */
  onMessage: (message: KafkaMessage, partition: number) => void | Promise<void>;
  /** Gives up when aborted. @default {undefined} */
  signal?: AbortSignal;
  /** Gives up after this long, in ms. @default {60000} */
  timeoutMs?: number;
  /** The consumer's client id. @default {"history-reader"} */
  clientId?: string;
}

/**
 * Reads a topic from its first offset up to the end offsets it had when
 * called, with a consumer of a group of its own that commits nothing.
 *
 * @param kafka A kafkajs client.
 * @param topic The topic.
 * @param options The record handler, signal and time limit.
 * @returns The number of records read.
 * @throws {Error} When the time runs out or the signal aborts before the end.
 *
 * @example Count the candles stored
 * ```ts ignore
 * const n = await readTopicToEnd(kafka, "CRIPTOMONEDAS.candles", { onMessage: () => {} });
 * ```
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  options: ReadToEndOptions,
): Promise<number> {
  const { onMessage, signal, timeoutMs = 60_000 } = options;
  const admin = kafka.admin();
  await admin.connect();
  let ends: { partition: number; low: string; high: string }[];
  try {
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect().catch(() => {});
  }
  const left = new Map(
    ends.filter((e) => BigInt(e.high) > BigInt(e.low))
      .map((e) => [e.partition, BigInt(e.high)]),
  );
  if (left.size === 0) return 0;
  const consumer = kafka.consumer({
    groupId: `${options.clientId ?? "history-reader"}-${crypto.randomUUID()}`,
  });
  const done = Promise.withResolvers<void>();
  const limit = AbortSignal.any([
    AbortSignal.timeout(timeoutMs),
    ...(signal ? [signal] : []),
  ]);
  const onAbort = () =>
    done.reject(
      new Error(
        `reading ${topic} to its end did not finish (${left.size} partitions left)`,
      ),
    );
  limit.addEventListener("abort", onAbort, { once: true });
  let read = 0;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = left.get(batch.partition);
        if (end === undefined) return;
        for (const message of batch.messages) {
          if (BigInt(message.offset) >= end) break;
          await onMessage(message, batch.partition);
          read++;
          if (BigInt(message.offset) + 1n >= end) left.delete(batch.partition);
        }
        if (BigInt(batch.highWatermark) >= end && batch.isEmpty()) {
          left.delete(batch.partition); // compacted away at the end
        }
        if (left.size === 0) done.resolve();
      },
    });
    await done.promise;
    return read;
  } finally {
    limit.removeEventListener("abort", onAbort);
    await consumer.disconnect().catch(() => {});
  }
}

/**
 * Sends records with acks=all in chunks of `chunk`, one chunk at a time,
 * resolving once all are acknowledged.
 *
 * @param producer A connected producer.
 * @param topic The topic.
 * @param records The records.
 * @param options Records per request: `chunk` (@default {2000}).
 * @throws {Error} kafkajs's error when a chunk cannot be sent.
 *
 * @example
 * ```ts ignore
 * await sendAll(producer, "CRIPTOMONEDAS.candles", [{ key: "k", value, timestamp: "0" }]);
 * ```
 */
export async function sendAll(
  producer: Producer,
  topic: string,
  records: readonly OutgoingRecord[],
  options: { chunk?: number } = {},
): Promise<void> {
  const { chunk = 2_000 } = options;
  for (let i = 0; i < records.length; i += chunk) {
    await producer.send({
      topic,
      acks: -1,
      messages: records.slice(i, i + chunk).map((r) => ({
        ...r,
        value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.length),
      })),
    });
  }
}
