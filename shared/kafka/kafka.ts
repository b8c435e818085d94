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
  type Producer,
  type SASLOptions,
} from "kafkajs";
import type { Buffer } from "node:buffer";
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
    ssl: kafka.sslCa ? { ca: [readCa(kafka.sslCa)] } : kafka.ssl,
    sasl: kafka.sasl as SASLOptions | undefined,
    connectionTimeout,
    retry,
    logLevel: 4,
    logCreator: quietOnRefusedCredentials(
      kafkaLogCreator(log),
    ) as KafkaConfig["logCreator"],
  });
}

/**
 * kafkajs logs a refused SASL authentication three times (the broker's
 * answer, the authenticator, the broker pool) before throwing it; the
 * script then says it once, so those lines are left out.
 */
function quietOnRefusedCredentials<E extends { log: Record<string, unknown> }>(
  creator: (level: number) => (entry: E) => void,
): (level: number) => (entry: E) => void {
  const refused = /SaslAuthenticate|SASL .*authentication failed/i;
  return (level) => {
    const write = creator(level);
    return (entry) => {
      const { message, error } = entry.log;
      if (refused.test(`${message} ${error ?? ""}`)) return;
      write(entry);
    };
  };
}

/** The PEM text of `KAFKA_SSL_CA`, or an error saying what to do. */
function readCa(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    const hint = error instanceof Deno.errors.NotCapable ||
        error instanceof Deno.errors.PermissionDenied
      ? `: allow reading it (deno run … --allow-read=${path}; "deno task permissions <script>" prints the line)`
      : "";
    throw new Error(
      `Cannot read KAFKA_SSL_CA ${path} (${(error as Error).message})${hint}`,
      { cause: error },
    );
  }
}

/** TLS errors that say the brokers' certificate is not trusted: no retry mends them. */
const UNTRUSTED_CERTIFICATE = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Whether a kafkajs error (or one of its causes) says the brokers refused
 * our credentials (`KafkaJSSASLAuthenticationError`, which kafkajs's SASL
 * authenticators throw, or the SASL_AUTHENTICATION_FAILED protocol error)
 * or that their TLS certificate is not trusted (a missing or wrong
 * `KAFKA_SSL_CA`). Retrying either only repeats the failure: callers stop
 * with one line instead.
 *
 * @param error What kafkajs threw.
 * @returns True for an authentication or certificate error.
 *
 * @example
 * ```ts
 * import { isAuthenticationError } from "@cryptocandles/kafka";
 * const error = Object.assign(new Error("SASL SCRAM SHA512 authentication failed"), {
 *   name: "KafkaJSSASLAuthenticationError",
 * });
 * console.log(isAuthenticationError(error)); // true
 * ```
 */
export function isAuthenticationError(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 10; depth++) {
    const { name, type, code, cause } = e as {
      name?: string;
      type?: string;
      code?: string;
      cause?: unknown;
    };
    if (
      name === "KafkaJSSASLAuthenticationError" ||
      type === "SASL_AUTHENTICATION_FAILED" ||
      (code !== undefined && UNTRUSTED_CERTIFICATE.has(code))
    ) return true;
    e = cause;
  }
  return false;
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
  /** More topic settings to create it with (e.g. `cleanup.policy`). @default {{}} */
  configs?: Record<string, string>;
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
      configEntries: [
        { name: "min.insync.replicas", value: String(minIsr) },
        ...Object.entries(shape.configs ?? {}).map(([name, value]) => ({
          name,
          value,
        })),
      ],
    }],
  });
  if (created) {
    await waitForLeaders(admin, topic, partitions);
    return "created";
  }
  const problems = diffShape(shape, await describeTopicShape(admin, topic));
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
  const configs = await whileTopicIsNew(() =>
    admin.describeConfigs({
      includeSynonyms: false,
      resources: [{
        type: 2,
        name: topic,
        configNames: ["min.insync.replicas"],
      }],
    })
  );
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

/**
 * Runs an admin request about a topic, again while a broker answers that it
 * does not host the topic yet (UNKNOWN_TOPIC_OR_PARTITION, "This server does
 * not host this topic-partition"): right after a topic is created, or a
 * cluster restarted, brokers learn of it one by one, and kafkajs does not
 * retry DescribeConfigs on that answer.
 *
 * @param request The admin request.
 * @returns Its answer.
 *
 * @example
 * ```ts ignore
 * const configs = await whileTopicIsNew(() => admin.describeConfigs({ includeSynonyms: false, resources }));
 * ```
 */
export async function whileTopicIsNew<T>(
  request: () => Promise<T>,
): Promise<T> {
  return await retry(request, {
    maxAttempts: 40,
    minTimeout: 100,
    maxTimeout: 1000,
    isRetriable: (e) =>
      (e as { type?: string }).type === "UNKNOWN_TOPIC_OR_PARTITION",
  });
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

/** One record for {@linkcode createBufferedSender}. */
export interface OutgoingRecord {
  key: string;
  value: Uint8Array;
  /** Record timestamp in ms, as a string (kafkajs's form). */
  timestamp: string;
  headers?: Record<string, string>;
}

/** Options for {@linkcode createBufferedSender}. */
export interface BufferedSenderOptions<T> {
  /** The topic every record goes to. */
  topic: string;
  /** Items held while Kafka does not acknowledge them (PRODUCER_BUFFER). */
  capacity: number;
  /**
   * When the buffer is full: `true` drops the oldest waiting item (live
   * data keeps the newest), `false` makes `push` wait for room. @default {true}
   */
  dropOldest?: boolean;
  /** Records per `send` (one batch in flight at a time). @default {5000} */
  maxBatch?: number;
  /** The record of an item. */
  toRecord: (item: T) => OutgoingRecord;
  /** Called with the items of every acknowledged batch, in order. */
  onAcked?: (items: readonly T[]) => void;
  /** Called with every item dropped to make room. */
  onDropped?: (item: T) => void;
  /**
   * Gives a fresh producer (a new producer id) when the cluster has lost
   * this one's sequence ({@linkcode isSequenceLoss}: after a leader dies
   * with a batch unacknowledged, kafkajs keeps sending sequence numbers the
   * new leader refuses as out of order, and, unlike Java's producer, never
   * bumps its epoch). The batch is then sent again by the new producer:
   * what the old leader had written of it without answering is in Kafka
   * twice (the same key and timestamp, so the same point). Without it,
   * such an error stops sending like any other non-retriable one.
   */
  renew?: (stale: Producer, error: unknown) => Promise<Producer>;
  /**
   * Wait before sending a batch again that kafkajs gave up on because the
   * cluster could not be reached ({@linkcode isUnreachable}: every broker
   * down outlasts kafkajs's own retries), in ms. @default {1000}
   */
  retryMs?: number;
  /** Told once when the cluster becomes unreachable, and once when it takes records again. */
  log?: Logger;
}

/** What a {@linkcode BufferedSender} holds and has done. */
export interface SenderCounts {
  /** Items Kafka acknowledged. */
  acked: number;
  /** Items dropped because the buffer was full. */
  dropped: number;
  /** Items waiting (not yet handed to kafkajs). */
  waiting: number;
  /** Items in the batch kafkajs is sending (fate unknown until it answers). */
  inFlight: number;
}

/** A bounded buffer in front of one kafkajs producer; see {@linkcode createBufferedSender}. */
export interface BufferedSender<T> {
  /** Adds an item; waits only when the buffer is full and `dropOldest` is false. */
  push(item: T): Promise<void>;
  /**
   * Sends what waits until all is acknowledged or `deadline` (epoch ms)
   * passes; resolves with the counts then (waiting + inFlight = unsent).
   */
  flush(deadline: number): Promise<SenderCounts>;
  /** The counts now. */
  counts(): SenderCounts;
  /** The error that stopped sending (a non-retriable kafkajs error), if any. */
  readonly failure: unknown;
}

/**
 * A bounded buffer in front of an idempotent kafkajs producer, one batch in
 * flight at a time. kafkajs retries a batch itself (the producer's `retry`:
 * unbounded for an idempotent producer, so keep its `maxRetryTime` short
 * for a prompt resume once brokers are back) with the same sequence
 * numbers, so a retried batch is never duplicated. While a batch waits for
 * the cluster, new items wait in the buffer; when it is full the oldest
 * waiting item is dropped and counted (`dropOldest`), or `push` waits.
 * A batch kafkajs gives up on (a non-retriable error) is put back and
 * `failure` is set; nothing more is sent — unless the error is a lost
 * idempotence sequence and `renew` is given: then a new producer sends it.
 *
 * @param producer A connected kafkajs producer.
 * @param options Topic, capacity, drop policy and callbacks.
 * @returns The sender.
 *
 * @example Send with a buffer of 50,000
 * ```ts ignore
 * const sender = createBufferedSender(producer, {
 *   topic: "CRIPTOMONEDAS",
 *   capacity: 50_000,
 *   toRecord: (t) => ({ key: t.nombre, value: encode(t), timestamp: String(t.event_time) }),
 * });
 * await sender.push(ticker);
 * const { waiting, inFlight } = await sender.flush(Date.now() + 7_000);
 * ```
 */
export function createBufferedSender<T>(
  producer: Producer,
  options: BufferedSenderOptions<T>,
): BufferedSender<T> {
  const {
    topic,
    capacity,
    dropOldest = true,
    maxBatch = 5_000,
    toRecord,
    onAcked,
    onDropped,
    renew,
    retryMs = 1_000,
    log,
  } = options;
  let unreachableSince: number | undefined;
  const waiting: T[] = [];
  let batch: T[] = [];
  let inFlight: Promise<void> | undefined;
  let current = producer;
  let acked = 0;
  let dropped = 0;
  let failure: unknown;
  const counts = (): SenderCounts => ({
    acked,
    dropped,
    waiting: waiting.length,
    inFlight: batch.length,
  });
  function send(): void {
    if (inFlight || waiting.length === 0 || failure !== undefined) return;
    batch = waiting.splice(0, Math.min(maxBatch, capacity));
    const sent = batch;
    inFlight = current.send({
      topic,
      acks: -1,
      messages: sent.map((item) => {
        const { key, value, timestamp, headers } = toRecord(item);
        return { key, value: value as Buffer, timestamp, headers };
      }),
    }).then(() => {
      acked += sent.length;
      onAcked?.(sent);
      if (unreachableSince !== undefined) {
        log?.info(
          `Kafka takes records again after ${
            Math.round((Date.now() - unreachableSince) / 1000)
          } s`,
        );
        unreachableSince = undefined;
      }
    }, async (error) => {
      waiting.unshift(...sent);
      if (isUnreachable(error)) {
        if (unreachableSince === undefined) {
          unreachableSince = Date.now();
          log?.warn(
            `Kafka unreachable (${
              (error as Error)?.message
            }): holding up to ${capacity} records and sending again`,
          );
        }
        await new Promise((r) => setTimeout(r, retryMs));
        return;
      }
      if (renew && isSequenceLoss(error)) {
        // Sending waits for the new producer: inFlight stays set till then.
        current = await renew(current, error).catch((e) => {
          failure ??= e;
          return current;
        });
        return;
      }
      failure ??= error ?? new Error("send failed");
    }).finally(() => {
      batch = [];
      inFlight = undefined;
      send();
    });
  }
  return {
    get failure() {
      return failure;
    },
    counts,
    async push(item) {
      while (
        !dropOldest && waiting.length + batch.length >= capacity && inFlight
      ) {
        await inFlight;
      }
      waiting.push(item);
      while (
        dropOldest && waiting.length + batch.length > capacity &&
        waiting.length > 1
      ) {
        dropped++;
        onDropped?.(waiting.shift()!);
      }
      send();
    },
    async flush(deadline) {
      while (
        (inFlight || waiting.length > 0) && failure === undefined &&
        Date.now() < deadline
      ) {
        send();
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          inFlight,
          new Promise((resolve) => {
            timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          }),
        ]);
        clearTimeout(timer);
      }
      return counts();
    },
  };
}

/**
 * A {@linkcode BufferedSenderOptions.renew} that connects a new producer
 * from `make` (waiting for the cluster as {@linkcode connectPatiently}
 * does), hands it to `use`, disconnects the stale one and logs one line.
 *
 * @param make Makes a producer with the same options.
 * @param options Where the new producer goes, abort signal and logger.
 * @returns The renew function.
 *
 * @example
 * ```ts ignore
 * let producer = make();
 * createBufferedSender(producer, { ...options, renew: renewWith(make, { use: (p) => producer = p, log }) });
 * ```
 */
export function renewWith(
  make: () => Producer,
  options: ConnectPatientlyOptions & { use: (producer: Producer) => void },
): (stale: Producer, error: unknown) => Promise<Producer> {
  return async (stale, error) => {
    options.log?.warn(
      `Kafka no longer accepts this producer's sequence (${
        (error as Error)?.message
      }): sending again as a new producer`,
    );
    const fresh = make();
    await connectPatiently(fresh, options);
    options.use(fresh);
    await stale.disconnect().catch(() => {});
    return fresh;
  };
}

/**
 * Whether kafkajs gave up a send because no broker could be reached or
 * answered in time (connection refused or closed, request timeouts, its own
 * retries exhausted on those): an outage to wait out, not a refusal.
 *
 * @param error What a kafkajs send threw.
 * @returns True for those errors.
 *
 * @example
 * ```ts
 * import { isUnreachable } from "@cryptocandles/kafka";
 * console.log(isUnreachable({ name: "KafkaJSConnectionError" })); // true
 * ```
 */
export function isUnreachable(error: unknown, depth = 0): boolean {
  if (typeof error !== "object" || error === null || depth > 4) return false;
  const e = error as {
    name?: string;
    retriable?: boolean;
    cause?: unknown;
    originalError?: unknown;
  };
  return UNREACHABLE.has(e.name ?? "") ||
    (e.retriable === true && e.name !== "KafkaJSProtocolError") ||
    isUnreachable(e.originalError, depth + 1) ||
    isUnreachable(e.cause, depth + 1);
}

const UNREACHABLE = new Set([
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSNumberOfRetriesExceeded",
  "KafkaJSBrokerNotFound",
  "KafkaJSMetadataNotLoaded",
]);

/**
 * Whether a send failed because the cluster no longer accepts the
 * producer's idempotence sequence (OUT_OF_ORDER_SEQUENCE_NUMBER,
 * UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH): a new producer id cures it.
 *
 * @param error What a kafkajs send threw.
 * @returns True for those errors, wherever kafkajs wrapped them.
 *
 * @example
 * ```ts
 * import { isSequenceLoss } from "@cryptocandles/kafka";
 * console.log(isSequenceLoss({ type: "OUT_OF_ORDER_SEQUENCE_NUMBER" })); // true
 * ```
 */
export function isSequenceLoss(error: unknown, depth = 0): boolean {
  if (typeof error !== "object" || error === null || depth > 4) return false;
  const e = error as {
    type?: string;
    cause?: unknown;
    originalError?: unknown;
  };
  return SEQUENCE_LOSS.has(e.type ?? "") ||
    isSequenceLoss(e.originalError, depth + 1) ||
    isSequenceLoss(e.cause, depth + 1);
}

const SEQUENCE_LOSS = new Set([
  "OUT_OF_ORDER_SEQUENCE_NUMBER",
  "UNKNOWN_PRODUCER_ID",
  "INVALID_PRODUCER_EPOCH",
]);

/** Options for {@linkcode connectPatiently}. */
export interface ConnectPatientlyOptions {
  /** Stops the waiting (the promise then rejects with the abort reason). */
  signal?: AbortSignal;
  /** Logs each failed attempt. */
  log?: Logger;
  /** Longest wait between attempts, in ms. @default {5000} */
  maxTimeout?: number;
}

/**
 * Connects a kafkajs producer or admin, waiting for the cluster as long as
 * it takes (every broker down at start is an outage, not bad
 * configuration): retriable errors, and kafkajs giving up its own retries,
 * are retried with back-off until `signal` aborts; credentials the brokers
 * refuse or a certificate not trusted ({@linkcode isAuthenticationError})
 * and other errors kafkajs marks non-retriable are thrown at once.
 *
 * @param client A kafkajs producer, consumer or admin, or several (connected one after another).
 * @param options Abort signal, logger and back-off cap.
 * @returns Once connected.
 * @throws {Error} The first non-retriable error (an authentication error
 *   as one line naming the variables to check), or the abort reason.
 *
 * @example
 * ```ts ignore
 * await connectPatiently(producer, { signal, log });
 * ```
 */
export async function connectPatiently(
  client: { connect(): Promise<void> } | { connect(): Promise<void> }[],
  options: ConnectPatientlyOptions = {},
): Promise<void> {
  if (Array.isArray(client)) {
    for (const one of client) await connectPatiently(one, options);
    return;
  }
  const { signal, log, maxTimeout = 5_000 } = options;
  await retry(() => client.connect(), {
    maxAttempts: Number.MAX_SAFE_INTEGER,
    minTimeout: 500,
    maxTimeout,
    signal,
    isRetriable: (e) =>
      !isAuthenticationError(e) &&
      ((e as { retriable?: boolean }).retriable !== false ||
        (e as Error).name === "KafkaJSNumberOfRetriesExceeded"),
    onRetry: (error, attempt, delayMs) =>
      log?.warn(`kafka unreachable, retrying in ${delayMs} ms`, {
        attempt,
        error: (error as Error)?.message ?? String(error),
      }),
  }).catch((error) => {
    throw explained(error);
  });
}

/**
 * Connects once (kafkajs retries inside); an authentication or certificate
 * error comes out as one line naming the variables to check, as from
 * {@linkcode connectPatiently}.
 *
 * @param client A kafkajs producer, consumer or admin.
 * @returns Once connected.
 * @throws {Error} What kafkajs threw, an authentication error explained.
 *
 * @example
 * ```ts ignore
 * await connectOnce(admin);
 * ```
 */
export async function connectOnce(
  client: { connect(): Promise<void> },
): Promise<void> {
  await client.connect().catch((error) => {
    throw explained(error);
  });
}

function explained(error: unknown): unknown {
  return isAuthenticationError(error) ? authenticationFailure(error) : error;
}

/**
 * One line for an authentication or certificate error, naming the
 * variables to check.
 *
 * @param error An error {@linkcode isAuthenticationError} accepts.
 * @returns An error whose message says what was refused and what to check (never the password).
 *
 * @example
 * ```ts
 * import { authenticationFailure } from "@cryptocandles/kafka";
 * const error = Object.assign(new Error("SASL SCRAM SHA512 authentication failed"), {
 *   name: "KafkaJSSASLAuthenticationError",
 * });
 * console.log(authenticationFailure(error).message.includes("KAFKA_SASL_PASSWORD")); // true
 * ```
 */
export function authenticationFailure(error: unknown): Error {
  const message = (error as Error)?.message ?? String(error);
  const sasl = /SASL/i.test(message) ||
    (error as Error)?.name === "KafkaJSSASLAuthenticationError";
  return new Error(
    sasl
      ? `Kafka refused the credentials (${message}): check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`
      : `Kafka's TLS certificate is not trusted (${message}): set KAFKA_SSL_CA to the PEM file of the CA that signed it`,
    { cause: error },
  );
}
