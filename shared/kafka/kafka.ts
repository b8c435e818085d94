/**
 * kafkajs client factory and topic set-up, configured from
 * {@linkcode Config}.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import {
  type Admin,
  type ICustomPartitioner,
  Kafka,
  type KafkaConfig,
  Partitioners,
  type SASLOptions,
} from "kafkajs";
import type { Config } from "@cryptocandles/config";
import { kafkaLogCreator, type Logger } from "@cryptocandles/runtime";
import { retry } from "@cryptocandles/runtime";

/** Options for {@linkcode createKafka}. */
export interface KafkaOptions {
  /** The client id brokers see (shows in Kafka-UI and describeGroup). */
  clientId: string;
  /** Where kafkajs's own log lines go. */
  log: Logger;
  /** Retry policy handed to kafkajs (never wrapped in a second loop). @default {{ initialRetryTime: 300, retries: 8 }} */
  retry?: KafkaConfig["retry"];
  /** Connection timeout in ms. @default {3000} */
  connectionTimeout?: number;
}

/**
 * Creates a kafkajs client from the Kafka part of the configuration:
 * brokers, TLS and SASL, with kafkajs's logs going to our logger.
 *
 * @param kafka The `kafka` section of {@linkcode Config}.
 * @param options Client id, logger and retry policy.
 * @returns A kafkajs `Kafka` client.
 *
 * @example Produce one record
 * ```ts ignore
 * import { loadConfig } from "@cryptocandles/config";
 * import { createKafka } from "@cryptocandles/kafka";
 * import { createLogger } from "@cryptocandles/runtime";
 * const config = loadConfig();
 * const kafka = createKafka(config.kafka, { clientId: "demo", log: createLogger("demo") });
 * const producer = kafka.producer();
 * await producer.connect();
 * await producer.send({ topic: config.kafka.topic, messages: [{ key: "tBTCUSD", value: "x" }] });
 * await producer.disconnect();
 * ```
 */
export function createKafka(
  kafka: Config["kafka"],
  options: KafkaOptions,
): Kafka {
  const {
    clientId,
    log,
    retry = { initialRetryTime: 300, retries: 8 },
    connectionTimeout = 3000,
  } = options;
  return new Kafka({
    clientId,
    brokers: kafka.brokers,
    ssl: kafka.ssl,
    sasl: kafka.sasl as SASLOptions | undefined,
    connectionTimeout,
    retry,
    logLevel: 4,
    logCreator: kafkaLogCreator(log) as KafkaConfig["logCreator"],
  });
}

/**
 * kafkajs's default partitioner: Java's murmur2(key) mod partitions, so a
 * key lands where a Java client puts it (tBTCUSD → 1, tETHUSD → 0 with 2
 * partitions). Given to every producer as `createPartitioner`, which also
 * keeps kafkajs from warning that its default changed.
 *
 * @example A producer keyed like Java's
 * ```ts ignore
 * import { createKafka, defaultPartitioner } from "@cryptocandles/kafka";
 * const producer = createKafka(config.kafka, { clientId: "demo", log })
 *   .producer({ createPartitioner: defaultPartitioner });
 * ```
 */
export const defaultPartitioner: ICustomPartitioner =
  Partitioners.DefaultPartitioner;

/** The shape a topic must have. */
export interface TopicShape {
  topic: string;
  partitions: number;
  replication: number;
  minIsr: number;
}

/** What {@linkcode ensureTopic} did. */
export type EnsureResult = "created" | "exists";

/**
 * Creates the topic with the given partitions, replication factor and
 * `min.insync.replicas`, or checks that an existing topic has that shape.
 *
 * @param admin A connected kafkajs admin client.
 * @param shape Topic name, partitions, replication factor and min ISR.
 * @returns `"created"` or `"exists"`.
 * @throws {Error} When an existing topic's shape differs, naming what differs.
 *
 * @example
 * ```ts ignore
 * const admin = kafka.admin();
 * await admin.connect();
 * await ensureTopic(admin, { topic: "CRIPTOMONEDAS", partitions: 2, replication: 3, minIsr: 2 });
 * ```
 */
export async function ensureTopic(
  admin: Admin,
  shape: TopicShape,
): Promise<EnsureResult> {
  const { topic, partitions, replication, minIsr } = shape;
  const existing = await admin.listTopics();
  // kafkajs's own leader wait gives up on UNKNOWN_TOPIC_OR_PARTITION when
  // topics are created side by side: waitForLeaders() below retries it.
  const created = !existing.includes(topic) && await admin.createTopics({
    waitForLeaders: false,
    topics: [{
      topic,
      numPartitions: partitions,
      replicationFactor: replication,
      configEntries: [{ name: "min.insync.replicas", value: String(minIsr) }],
    }],
  });
  if (created) {
    await waitForLeaders(admin, topic, partitions);
    return "created";
  }
  const problems = await describeTopicShape(admin, topic).then((found) =>
    diffShape(shape, found)
  );
  if (problems.length > 0) {
    throw new Error(
      `Topic ${topic} exists with another shape: ${problems.join(", ")}`,
    );
  }
  return "exists";
}

/**
 * Waits until every partition of a new topic has a leader. kafkajs's own
 * `waitForLeaders` gives up when a broker has not heard of the topic yet
 * (UNKNOWN_TOPIC_OR_PARTITION), which happens when topics are created
 * side by side; that answer is retriable, so it is retried here.
 */
async function waitForLeaders(
  admin: Admin,
  topic: string,
  partitions: number,
): Promise<void> {
  await retry(async () => {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const led = topics[0]?.partitions.filter((p) => p.leader >= 0).length ?? 0;
    if (led < partitions) {
      throw Object.assign(
        new Error(
          `topic ${topic}: ${led}/${partitions} partitions have a leader`,
        ),
        { retriable: true },
      );
    }
  }, {
    maxAttempts: 40,
    minTimeout: 100,
    maxTimeout: 1000,
    isRetriable: (e) => (e as { retriable?: boolean }).retriable === true,
  });
}

/** A topic's shape as the cluster reports it. */
export interface TopicDescription {
  partitions: {
    partition: number;
    replicas: number[];
    isr: number[];
    leader: number;
  }[];
  minIsr: number;
}

/**
 * Reads a topic's partitions (replicas, ISR, leader) and its
 * `min.insync.replicas`.
 *
 * @param admin A connected kafkajs admin client.
 * @param topic The topic name.
 * @returns The topic's description.
 *
 * @example
 * ```ts ignore
 * const { partitions, minIsr } = await describeTopicShape(admin, "CRIPTOMONEDAS");
 * ```
 */
export async function describeTopicShape(
  admin: Admin,
  topic: string,
): Promise<TopicDescription> {
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: 2, name: topic, configNames: ["min.insync.replicas"] }],
  });
  const entry = configs.resources[0]?.configEntries.find((e) =>
    e.configName === "min.insync.replicas"
  );
  return {
    partitions: metadata.topics[0].partitions
      .map(({ partitionId, replicas, isr, leader }) => ({
        partition: partitionId,
        replicas,
        isr,
        leader,
      }))
      .sort((a, b) => a.partition - b.partition),
    minIsr: Number(entry?.configValue ?? NaN),
  };
}

function diffShape(want: TopicShape, found: TopicDescription): string[] {
  const problems: string[] = [];
  if (found.partitions.length !== want.partitions) {
    problems.push(
      `${found.partitions.length} partitions (want ${want.partitions})`,
    );
  }
  const replication = found.partitions[0]?.replicas.length ?? 0;
  if (replication !== want.replication) {
    problems.push(`replication ${replication} (want ${want.replication})`);
  }
  if (found.minIsr !== want.minIsr) {
    problems.push(`min.insync.replicas ${found.minIsr} (want ${want.minIsr})`);
  }
  return problems;
}
