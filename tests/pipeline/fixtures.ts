/**
 * Fixtures of the pipeline integration tests (producer and consumer against
 * the local stack), so each test reads as arrange / act / assert:
 *
 * - {@linkcode schemaTopic}: a fresh topic set up by `scripts/setup-schema.ts`,
 *   deleted with its DLQ and subject on dispose.
 * - {@linkcode startProducer} / {@linkcode startConsumer}: the scripts as
 *   child processes (tests/processes.ts) with the permissions the tests give.
 * - {@linkcode consumerRig}: a topic, a group, an InfluxDB double and an admin
 *   client, starting consumers and producers that are all stopped on dispose.
 * - {@linkcode readTopic} / {@linkcode openReader}: what a topic holds, read
 *   by an independent kafkajs consumer.
 * - {@linkcode waitForRecords}, {@linkcode waitForOwners},
 *   {@linkcode committed}: Kafka's own view (high watermarks, group
 *   description, committed offsets), to wait for conditions with a deadline.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import assert from "node:assert/strict";
import { type Admin, AssignerProtocol, type Kafka } from "kafkajs";
import {
  createRegistry,
  decodeValue,
  parseSchema,
  readSchema,
} from "@cryptocandles/avro";
import { ensureTopic } from "@cryptocandles/kafka";
import type { Ticker } from "@cryptocandles/ticker";
import {
  type InfluxDouble,
  type InfluxDoubleOptions,
  startInfluxDouble,
} from "../doubles/influx_double.ts";
import { type ScriptProcess, spawnScript, stopAll } from "../processes.ts";
import {
  cleanupLater,
  runScript,
  type ScriptResult,
  testConfig,
  testKafka,
  uniqueName,
  waitFor,
} from "../support.ts";

/** What the scripts may do in these tests. */
export const SCRIPT_PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
];
/** The producer may also write a recording under /tmp. */
export const PRODUCER_PERMISSIONS = [
  ...SCRIPT_PERMISSIONS,
  "--allow-write=/tmp",
];
/** The token of every InfluxDB double of a {@linkcode consumerRig}. */
export const INFLUX_TOKEN = "consumer-test-token";
/** The schema registry of the local stack. */
export const REGISTRY_URL = testConfig().registryUrl;
/** The registered v2 schema (`CryptoCurrency` with `event_time`). */
export const V2 = parseSchema(await readSchema("v2"));

/** A registry client on the local stack (schema lookups, decoding by id). */
export const registry = createRegistry(REGISTRY_URL);

// --- topics --------------------------------------------------------------------------

/** A topic made for one test; deleted (with its DLQ and value subject) on dispose. */
export interface TestTopic extends AsyncDisposable {
  /** Its name, such as `t-producer-ws-1732550000000-4821`. */
  readonly name: string;
}

/** Options for {@linkcode schemaTopic}. */
export interface SchemaTopicOptions {
  /** Partitions of the topic. @default {2} */
  partitions?: number;
}

/**
 * Creates a topic with a unique name as a user would: `setup-schema` makes
 * it (and its DLQ) and registers the v2 schema.
 *
 * @param prefix The start of the name, such as `t-producer-ws`.
 * @param options The partitions.
 * @returns The topic; `await using` it to delete it afterwards.
 * @throws {AssertionError} When setup-schema fails (with its stderr).
 */
export async function schemaTopic(
  prefix: string,
  options: SchemaTopicOptions = {},
): Promise<TestTopic> {
  const { partitions = 2 } = options;
  const name = uniqueName(prefix);
  const cleanup = cleanupLater([name]);
  try {
    await setupSchema(name, partitions);
  } catch (error) {
    await cleanup[Symbol.asyncDispose]();
    throw error;
  }
  return { name, [Symbol.asyncDispose]: () => cleanup[Symbol.asyncDispose]() };
}

/** Runs `scripts/setup-schema.ts` for `topic`; asserts it exits 0. */
export async function setupSchema(
  topic: string,
  partitions = 2,
): Promise<void> {
  const result = await runSetupSchema({
    KAFKA_TOPIC: topic,
    KAFKA_PARTITIONS: String(partitions),
    LOG_FORMAT: "json",
  });
  assert.equal(result.code, 0, `setup-schema failed:\n${result.stderr}`);
}

/**
 * Runs `scripts/setup-schema.ts` with only `env` (plus PATH) and the tests'
 * script permissions, and collects its output.
 *
 * @param env Its environment, such as `{ KAFKA_TOPIC: topic }`.
 * @param args Its flags, such as `["--schema-file", file]`.
 * @returns Its exit code and output.
 */
export function runSetupSchema(
  env: Record<string, string>,
  args: string[] = [],
): Promise<ScriptResult> {
  return runScript("scripts/setup-schema.ts", args, env, SCRIPT_PERMISSIONS);
}

// --- the scripts ---------------------------------------------------------------------------

/**
 * Starts `scripts/producer.ts` on `topic`: synthetic ticks, no history
 * backfill (these tests count tick points) and JSON logs unless `env` says
 * otherwise.
 *
 * @param topic The topic (`KAFKA_TOPIC`).
 * @param env More variables, such as `{ SYNTHETIC_RATE: "20" }`.
 * @returns The running producer.
 */
export function startProducer(
  topic: string,
  env: Record<string, string> = {},
): ScriptProcess {
  return spawnScript("scripts/producer.ts", {
    env: {
      KAFKA_TOPIC: topic,
      SOURCE: "synthetic",
      BACKFILL: "0",
      LOG_FORMAT: "json",
      ...env,
    },
    permissions: PRODUCER_PERMISSIONS,
  });
}

/**
 * Starts `scripts/consumer.ts --client-id <clientId>` with `env`.
 *
 * @param clientId Its client id, such as `c1`.
 * @param env Its whole environment (see {@linkcode ConsumerRig.env}).
 * @returns The running consumer.
 */
export function startConsumer(
  clientId: string,
  env: Record<string, string>,
): ScriptProcess {
  return spawnScript("scripts/consumer.ts", {
    args: ["--client-id", clientId],
    env,
    permissions: SCRIPT_PERMISSIONS,
  });
}

/** A log-line matcher for one exact message: `producer.waitForLog("…", isMsg("sending"))`. */
export function isMsg(msg: string): (line: { msg: string }) => boolean {
  return (line) => line.msg === msg;
}

// --- a consumer rig --------------------------------------------------------------------------

/** A topic, a group and an InfluxDB double, with the scripts around them. */
export interface ConsumerRig extends AsyncDisposable {
  /** The topic, set up by setup-schema (2 partitions). */
  readonly topic: string;
  /** The consumer group. */
  readonly group: string;
  /** The InfluxDB double the consumers write to (token {@linkcode INFLUX_TOKEN}). */
  readonly influx: InfluxDouble;
  /** A connected admin client. */
  readonly admin: Admin;
  /** The Kafka client of `admin`, for test producers. */
  readonly kafka: Kafka;
  /** A consumer's environment: the topic, group, InfluxDB and JSON logs. */
  readonly env: Record<string, string>;
  /** Starts a consumer with {@linkcode env} plus `env`; stopped on dispose. */
  startConsumer(clientId: string, env?: Record<string, string>): ScriptProcess;
  /** Starts a synthetic producer on the topic with `env`; stopped on dispose. */
  startProducer(env?: Record<string, string>): ScriptProcess;
  /** Creates another topic (no schema) that is deleted on dispose. */
  createTopic(prefix: string, partitions: number): Promise<string>;
  /** {@linkcode waitForOwners} on the rig's group and topic unless `options` names others. */
  waitForOwners(
    memberCount: number,
    options?: OwnersOptions & { group?: string; topic?: string },
  ): Promise<Owners>;
  /** The group's committed offsets on the topic ({@linkcode committed}). */
  committed(): Promise<{ partition: number; offset: number }[]>;
  /** Records the topic holds now (the sum of its high watermarks). */
  recordCount(): Promise<number>;
  /** Points the double holds now. */
  pointCount(): Promise<number>;
  /** Waits until the double holds at least `count` points. */
  waitForPoints(count: number, timeoutMs?: number): Promise<void>;
}

/** Options for {@linkcode consumerRig}. */
export interface ConsumerRigOptions {
  /** Set up the rig's topic with setup-schema; false for tests that make their own topics. @default {true} */
  schema?: boolean;
  /** Options of the InfluxDB double (its token is always {@linkcode INFLUX_TOKEN}). @default {{}} */
  influx?: InfluxDoubleOptions;
}

/**
 * The set-up the consumer tests share: a topic set up by setup-schema, a
 * group, an InfluxDB double and an admin client. Dispose stops every script
 * it started (SIGTERM, SIGKILL after 20 s) with InfluxDB answering again,
 * then closes the double and the admin and deletes the topics.
 *
 * @param name Names the topic `t-<name>-…` and the group `g-<name>-…`.
 * @param options Whether to set up the topic; the double's options.
 * @returns The rig; `await using` it.
 */
export async function consumerRig(
  name: string,
  options: ConsumerRigOptions = {},
): Promise<ConsumerRig> {
  const { schema = true, influx: influxOptions = {} } = options;
  const stack = new AsyncDisposableStack();
  try {
    const topic = uniqueName(`t-${name}`);
    const group = uniqueName(`g-${name}`);
    const topics = [topic];
    stack.use(cleanupLater(topics));
    if (schema) await setupSchema(topic);
    const influx = stack.use(
      await startInfluxDouble({ ...influxOptions, token: INFLUX_TOKEN }),
    );
    const kafka = testKafka(testConfig(), "test-admin");
    const admin = kafka.admin();
    await admin.connect();
    stack.defer(() => admin.disconnect().catch(() => {}));
    const processes: ScriptProcess[] = [];
    stack.defer(async () => {
      await influx.control({ mode: "ok" }).catch(() => {});
      await stopAll(processes);
    });
    const env = {
      KAFKA_TOPIC: topic,
      CONSUMER_GROUP: group,
      INFLUX_HOST: influx.url,
      INFLUX_TOKEN,
      LOG_FORMAT: "json",
    };
    const track = (process: ScriptProcess) => {
      processes.push(process);
      return process;
    };
    const moved = stack.move();
    return {
      topic,
      group,
      influx,
      admin,
      kafka,
      env,
      startConsumer: (clientId, more = {}) =>
        track(startConsumer(clientId, { ...env, ...more })),
      startProducer: (more = {}) => track(startProducer(topic, more)),
      async createTopic(prefix, partitions) {
        const created = uniqueName(prefix);
        topics.push(created);
        await ensureTopic(admin, {
          topic: created,
          partitions,
          replication: 3,
          minIsr: 2,
        });
        return created;
      },
      waitForOwners: (memberCount, owners = {}) =>
        waitForOwners(
          admin,
          owners.group ?? group,
          owners.topic ?? topic,
          memberCount,
          owners,
        ),
      committed: () => committed(admin, group, topic),
      recordCount: () => recordCount(admin, topic),
      pointCount: async () => (await influx.control("stats")).points,
      async waitForPoints(count, timeoutMs = 30_000) {
        let seen = 0;
        try {
          await waitFor(`${count} points`, async () => {
            seen = (await influx.control("stats")).points;
            return seen >= count;
          }, { timeoutMs, everyMs: 250 });
        } catch (error) {
          throw new Error(`${(error as Error).message} (saw ${seen})`);
        }
      },
      [Symbol.asyncDispose]: () => moved.disposeAsync(),
    };
  } catch (error) {
    await stack.disposeAsync();
    throw error;
  }
}

// --- Kafka's own view ---------------------------------------------------------------------

/**
 * The records a topic holds: the sum of its high watermarks (the producer is
 * idempotent, not transactional, and the tests' topics are not compacted,
 * so offsets are records).
 *
 * @param admin A connected admin client.
 * @param topic The topic.
 * @returns The number of records.
 */
export async function recordCount(
  admin: Admin,
  topic: string,
): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, o) => sum + Number(o.high), 0);
}

/**
 * Waits until the topic holds at least `count` records ({@linkcode recordCount}).
 *
 * @param topic The topic.
 * @param count Records to wait for.
 * @param options The deadline. @default {{ timeoutMs: 30000 }}
 * @returns The number of records it holds then.
 * @throws {Error} When the deadline passes first, with the last count.
 */
export async function waitForRecords(
  topic: string,
  count: number,
  { timeoutMs = 30_000 } = {},
): Promise<number> {
  const admin = testKafka(testConfig(), "test-watermarks").admin();
  await admin.connect();
  let seen = 0;
  try {
    return await waitFor(`${count} records in ${topic}`, async () => {
      seen = await recordCount(admin, topic);
      return seen >= count ? seen : undefined;
    }, { timeoutMs, everyMs: 100 });
  } catch (error) {
    throw new Error(`${(error as Error).message} (saw ${seen})`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Who owns what in a consumer group. */
export interface Owners {
  protocol: string;
  /** Client id owning each partition, by partition number. */
  owners: string[];
  /** Partitions of each member, by client id (sorted by client id). */
  byClient: Map<string, number[]>;
}

/** Options for {@linkcode waitForOwners}. */
export interface OwnersOptions {
  /** Partitions of the topic. @default {2} */
  partitions?: number;
  /** The deadline. @default {45000} */
  timeoutMs?: number;
}

/**
 * Waits until the group is Stable with `memberCount` members that own all
 * partitions of `topic` between them, each at least one (when there are
 * enough), and returns who owns what (read with describeGroups).
 *
 * @throws {Error} When the deadline passes first, with the last state seen.
 */
export async function waitForOwners(
  admin: Admin,
  group: string,
  topic: string,
  memberCount: number,
  options: OwnersOptions = {},
): Promise<Owners> {
  const { partitions = 2, timeoutMs = 45_000 } = options;
  let last = "";
  try {
    return await waitFor(
      `group ${group} stable with ${memberCount} members over ${partitions} partitions`,
      async () => {
        const { groups: [described] } = await admin.describeGroups([group]);
        const byClient = new Map<string, number[]>();
        for (
          const member of [...described.members].sort((a, b) =>
            a.clientId.localeCompare(b.clientId)
          )
        ) {
          const decoded = member.memberAssignment.length > 0
            ? AssignerProtocol.MemberAssignment.decode(member.memberAssignment)
            : null;
          byClient.set(
            member.clientId,
            [...(decoded?.assignment[topic] ?? [])].sort((a, b) => a - b),
          );
        }
        last = `${described.state} ${JSON.stringify([...byClient])}`;
        const owned = [...byClient.values()].flat().sort((a, b) => a - b);
        const complete = owned.length === partitions &&
          owned.every((p, i) => p === i);
        const nobodyIdle = memberCount > partitions ||
          [...byClient.values()].every((p) => p.length > 0);
        if (
          described.state !== "Stable" || byClient.size !== memberCount ||
          !complete || !nobodyIdle
        ) return undefined;
        const owners: string[] = [];
        for (const [client, ps] of byClient) {
          for (const p of ps) owners[p] = client;
        }
        return { protocol: described.protocol, owners, byClient };
      },
      { timeoutMs, everyMs: 500 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${last}`);
  }
}

/** The group's committed offset per partition of `topic` (-1: none yet). */
export async function committed(
  admin: Admin,
  group: string,
  topic: string,
): Promise<{ partition: number; offset: number }[]> {
  const [found] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return found.partitions.map(({ partition, offset }) => ({
    partition,
    offset: Number(offset),
  }));
}

// --- records in Kafka ----------------------------------------------------------------------

/** A record as an independent kafkajs consumer reads it. */
export interface TopicRecord {
  partition: number;
  offset: number;
  key: string;
  value: Uint8Array;
  /** The record timestamp, in ms. */
  timestamp: number;
  headers: Record<string, string>;
  /** The decoded tickers (empty when not decoded or undecodable). */
  tickers: Ticker[];
}

/** Options for {@linkcode openReader} and {@linkcode readTopic}. */
export interface ReadOptions {
  /** Decode values (wire format by the registry's schema, or containers) into `tickers`. @default {true} */
  decode?: boolean;
}

/** A background reader of a topic, from {@linkcode openReader}. */
export interface TopicReader extends AsyncDisposable {
  /** What was read so far, in arrival order. */
  records: TopicRecord[];
  /** The next offset the reader expects on `partition`. */
  next(partition: number): number;
  /** Waits until every record up to the current end of the topic is read; returns them by partition and offset. */
  caughtUp(timeoutMs?: number): Promise<TopicRecord[]>;
}

/**
 * Reads a topic from the beginning in the background (own group, no
 * commits), decoding values unless told not to.
 *
 * @param topic The topic.
 * @param options Whether to decode.
 * @returns The reader; `await using` it.
 */
export async function openReader(
  topic: string,
  options: ReadOptions = {},
): Promise<TopicReader> {
  const { decode = true } = options;
  const kafka = testKafka(testConfig(), "test-reader");
  const admin = kafka.admin();
  const consumer = kafka.consumer({
    groupId: uniqueName("g-reader"),
    maxWaitTimeInMs: 100,
  });
  const records: TopicRecord[] = [];
  const next = new Map<number, number>();
  await admin.connect();
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const value = new Uint8Array(message.value ?? []);
        const tickers = decode
          ? await decodeValue(value, V2, (id) => registry.typeById(id))
            .catch(() => [])
          : [];
        records.push({
          partition,
          offset: Number(message.offset),
          key: message.key?.toString() ?? "",
          value,
          timestamp: Number(message.timestamp),
          headers: Object.fromEntries(
            Object.entries(message.headers ?? {}).map((
              [k, v],
            ) => [k, String(v)]),
          ),
          tickers,
        });
        next.set(partition, Number(message.offset) + 1);
      },
    });
  } catch (error) {
    await consumer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
    throw error;
  }
  return {
    records,
    next: (partition) => next.get(partition) ?? 0,
    async caughtUp(timeoutMs = 30_000) {
      const highs = await admin.fetchTopicOffsets(topic);
      await waitFor(
        `every record of ${topic} up to ${
          highs.map((h) => `${h.partition}:${h.high}`)
        }`,
        () =>
          highs.every((h) => (next.get(h.partition) ?? 0) >= Number(h.high)),
        { timeoutMs, everyMs: 100 },
      );
      return [...records].sort((a, b) =>
        a.partition - b.partition || a.offset - b.offset
      );
    },
    async [Symbol.asyncDispose]() {
      await consumer.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
    },
  };
}

/**
 * Every record of a topic as it is now, by partition and offset.
 *
 * @param topic The topic.
 * @param options Whether to decode.
 * @returns The records.
 */
export async function readTopic(
  topic: string,
  options: ReadOptions = {},
): Promise<TopicRecord[]> {
  await using reader = await openReader(topic, options);
  return await reader.caughtUp();
}

// --- the schema registry ----------------------------------------------------------------------

/** GETs a registry path (such as `/subjects/x-value/versions`) and asserts 2xx. */
export async function registryJson(path: string): Promise<unknown> {
  const response = await fetch(`${REGISTRY_URL}${path}`, {
    headers: { accept: "application/vnd.schemaregistry.v1+json" },
  });
  const body = await response.json();
  assert.ok(response.ok, `GET ${path}: ${response.status} ${body?.message}`);
  return body;
}

/** The id of the latest schema under `subject`. */
export async function registryLatestId(subject: string): Promise<number> {
  const latest = await registryJson(`/subjects/${subject}/versions/latest`);
  return (latest as { id: number }).id;
}
