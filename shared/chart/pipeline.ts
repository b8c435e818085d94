/**
 * The pipeline page's data: one snapshot of the cluster as Kafka-UI showed
 * it (brokers, the project's topics and partitions, which key lives where,
 * the consumer group, the dead-letter topic, the schema registry and the
 * consumers' own sink metrics), read through kafkajs admin, the registry's
 * Confluent-compatible API and the consumers' loopback metrics endpoints.
 *
 * A snapshot is taken at most once per `intervalMs` however many pages ask
 * (concurrent callers share one); each part has its own deadline, so a
 * broker that is down makes its part stale (with the error) and never
 * blocks the others.
 *
 * @module
 */
import { type Admin, AssignerProtocol } from "@cryptocandles/kafka";

/** One broker of the cluster. */
export interface BrokerView {
  id: number;
  /** `host:port` as the cluster advertises it. */
  address: string;
  /**
   * The active controller: the KRaft quorum's leader when `controller` is
   * given, else the one the metadata names (which in KRaft is any broker).
   */
  controller: boolean;
  /** In the cluster's metadata and accepting TCP connections. */
  up: boolean;
}

/** One partition of a topic. */
export interface PartitionView {
  partition: number;
  /** Leader broker id (-1 when none). */
  leader: number;
  replicas: number[];
  isr: number[];
  /** Fewer in-sync replicas than replicas. */
  underReplicated: boolean;
  /** Log start offset. */
  start: number;
  /** Log end offset (high watermark). */
  end: number;
  /** Records per second since the previous snapshot. */
  rate: number;
}

/** One topic of the project. */
export interface TopicView {
  name: string;
  role: "ticks" | "dlq" | "history";
  exists: boolean;
  partitions: PartitionView[];
}

/** A member of the consumer group. */
export interface MemberView {
  memberId: string;
  clientId: string;
  host: string;
  /** Partitions of the ticks topic it owns. */
  partitions: number[];
}

/** The consumer group. */
export interface GroupView {
  groupId: string;
  state: string;
  /** The assignor the group agreed on (range, roundrobin, sticky …). */
  assignor: string;
  members: MemberView[];
  /** Committed offset and lag per partition of the ticks topic. */
  offsets: { partition: number; committed: number; lag: number }[];
  /** When this page last saw the membership or the assignment change (ms), if it has. */
  rebalancedAt?: number;
}

/** A record of the dead-letter topic. */
export interface DeadLetter {
  reason: string;
  message: string;
  originalPartition: string;
  originalOffset: string;
  /** Where it sits in the dead-letter topic. */
  partition: number;
  offset: string;
}

/** A subject of the registry. */
export interface SubjectView {
  subject: string;
  versions: number[];
  compatibility: string;
  latest: { version: number; id: number; schema: string };
}

/** What one consumer's metrics endpoint says (see `@cryptocandles/sink`). */
export interface SinkView {
  clientId: string;
  group: string;
  topic: string;
  /** Points written, per coin. */
  written: Record<string, number>;
  deadLettered: number;
  /** ms from event time to InfluxDB's acknowledgement of the last write. */
  lastLatencyMs?: number;
  /** Set while InfluxDB does not take writes. */
  influxDownSince?: number;
}

/** Everything the pipeline page shows. */
export interface PipelineSnapshot {
  /** When it was taken (ms). */
  at: number;
  brokers: BrokerView[];
  topics: TopicView[];
  /** Key → partition, from the records the chart has read. */
  keys: Record<string, number>;
  group?: GroupView;
  dlq: { count: number; recent: DeadLetter[] };
  registry: SubjectView[];
  sinks: SinkView[];
  /** Per part (`brokers`, `topics`, `group`, `registry`, `sinks`): why it is stale. */
  errors: Record<string, string>;
}

/** A record the chart read, for keys and dead letters. */
export interface SeenRecord {
  topic: string;
  partition: number;
  offset: string;
  key?: string;
  headers?: Record<string, string>;
}

/** Options for {@linkcode createPipelineWatch}. */
export interface PipelineWatchOptions {
  /** A connected kafkajs admin client (its own client, with few retries). */
  admin: Admin;
  topics: { ticks: string; dlq: string; history: string };
  /** The consumer group to show. */
  group: string;
  /** Confluent-compatible API base of the registry. */
  registryUrl: string;
  /** Metrics endpoints of the consumers to try (wrong group or topic are left out). @default {[]} */
  sinkUrls?: string[];
  /** Least time between two snapshots, ms. @default {2000} */
  intervalMs?: number;
  /** Least time between two registry reads, ms. @default {10000} */
  registryEveryMs?: number;
  /** Deadline of each part of a snapshot, ms. @default {1500} */
  timeoutMs?: number;
  /** Dead letters kept. @default {10} */
  recentDeadLetters?: number;
  /** Clock. @default {Date.now} */
  now?: () => number;
  /** fetch for the registry and the metrics endpoints. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** The active controller's node id (such as `describeQuorumLeader`); omitted, the metadata's. */
  controller?: () => Promise<number | undefined>;
  /** Whether a broker accepts TCP connections. @default {a Deno.connect probe} */
  probe?: (host: string, port: number) => Promise<boolean>;
}

/** What {@linkcode createPipelineWatch} returns. */
export interface PipelineWatch {
  /** Notes a record the chart read (its key's partition, or a dead letter). */
  seen(record: SeenRecord): void;
  /** The latest snapshot, or a new one when it is older than `intervalMs`. */
  snapshot(): Promise<PipelineSnapshot>;
  /** The latest snapshot without asking for a new one. */
  latest(): PipelineSnapshot | undefined;
  /** Least time between two snapshots, ms. */
  intervalMs: number;
}

/**
 * Creates the watch that takes pipeline snapshots.
 *
 * @param options Admin client, topics, group, registry, metrics endpoints, pacing.
 * @returns A {@linkcode PipelineWatch}.
 *
 * @example Serve the cluster as JSON
 * ```ts ignore
 * import { createPipelineWatch } from "@cryptocandles/chart";
 * const watch = createPipelineWatch({ admin, topics: { ticks: "CRIPTOMONEDAS", dlq: "CRIPTOMONEDAS.dlq", history: "CRIPTOMONEDAS.candles" }, group: "Coins", registryUrl });
 * console.log((await watch.snapshot()).brokers);
 * ```
 */
export function createPipelineWatch(
  options: PipelineWatchOptions,
): PipelineWatch {
  const {
    admin,
    topics: names,
    group: groupId,
    registryUrl,
    sinkUrls = [],
    intervalMs = 2000,
    registryEveryMs = 10_000,
    timeoutMs = 1500,
    recentDeadLetters = 10,
    now = Date.now,
    fetch: doFetch = fetch,
    probe = tcpProbe,
    controller,
  } = options;
  const known = new Map<number, { host: string; port: number }>();
  const keys: Record<string, number> = {};
  const recent: DeadLetter[] = [];
  let last: PipelineSnapshot | undefined;
  let registryAt = -Infinity;
  let inFlight: Promise<PipelineSnapshot> | undefined;
  let groupSignature = "";
  let rebalancedAt: number | undefined;

  function seen(record: SeenRecord): void {
    if (record.topic === names.ticks && record.key !== undefined) {
      keys[record.key] = record.partition;
    } else if (record.topic === names.dlq) {
      const h = record.headers ?? {};
      recent.push({
        reason: h["error.reason"] ?? "",
        message: h["error.message"] ?? "",
        originalPartition: h["original.partition"] ?? "",
        originalOffset: h["original.offset"] ?? "",
        partition: record.partition,
        offset: record.offset,
      });
      if (recent.length > recentDeadLetters) recent.shift();
    }
  }

  function snapshot(): Promise<PipelineSnapshot> {
    if (last && now() - last.at < intervalMs) return Promise.resolve(last);
    inFlight ??= take().finally(() => inFlight = undefined);
    return inFlight;
  }

  async function take(): Promise<PipelineSnapshot> {
    const at = now();
    const errors: Record<string, string> = {};
    const part = async <T>(name: string, work: () => Promise<T>, stale: T) => {
      try {
        return await withDeadline(work(), timeoutMs, name);
      } catch (error) {
        errors[name] = (error as Error).message;
        return stale;
      }
    };
    const readRegistry = at - registryAt >= registryEveryMs;
    const [brokers, topics, group, registry, sinks] = await Promise.all([
      part("brokers", readBrokers, last?.brokers ?? []),
      part("topics", readTopics, last?.topics ?? []),
      part("group", readGroup, last?.group),
      readRegistry
        ? part("registry", readSubjects, last?.registry ?? [])
        : Promise.resolve(last?.registry ?? []),
      part("sinks", readSinks, last?.sinks ?? []),
    ]);
    if (readRegistry && !errors.registry) registryAt = at;
    if (errors.brokers) {
      for (const b of brokers) b.up = await probeKnown(b.id);
    }
    const previous = last;
    const ticks = topics.find((t) => t.role === "ticks");
    if (group && ticks) addLag(group, ticks);
    for (const topic of topics) addRates(topic, previous, at);
    const dlqTopic = topics.find((t) => t.role === "dlq");
    last = {
      at,
      brokers,
      topics,
      keys: { ...keys },
      group,
      dlq: {
        count: dlqTopic?.partitions.reduce((n, p) => n + p.end - p.start, 0) ??
          0,
        recent: [...recent].reverse(),
      },
      registry,
      sinks,
      errors,
    };
    return last;
  }

  async function probeKnown(id: number): Promise<boolean> {
    const where = known.get(id);
    return where ? await probe(where.host, where.port) : false;
  }

  async function readBrokers(): Promise<BrokerView[]> {
    const [cluster, leader] = await Promise.all([
      admin.describeCluster(),
      controller?.().catch(() => undefined),
    ]);
    const controllerId = controller ? leader : cluster.controller;
    const listed = new Set<number>();
    for (const { nodeId, host, port } of cluster.brokers) {
      known.set(nodeId, { host, port });
      listed.add(nodeId);
    }
    const ids = [...known.keys()].sort((a, b) => a - b);
    return await Promise.all(ids.map(async (id) => {
      const { host, port } = known.get(id)!;
      return {
        id,
        address: `${host}:${port}`,
        controller: controllerId === id,
        up: listed.has(id) && await probe(host, port),
      };
    }));
  }

  async function readTopics(): Promise<TopicView[]> {
    const wanted = [
      { name: names.ticks, role: "ticks" as const },
      { name: names.dlq, role: "dlq" as const },
      { name: names.history, role: "history" as const },
    ];
    const existing = new Set(await admin.listTopics());
    const present = wanted.filter((t) => existing.has(t.name));
    const metadata = present.length > 0
      ? await admin.fetchTopicMetadata({ topics: present.map((t) => t.name) })
      : { topics: [] };
    return await Promise.all(wanted.map(async ({ name, role }) => {
      const meta = metadata.topics.find((t) => t.name === name);
      if (!meta) return { name, role, exists: false, partitions: [] };
      const offsets = await admin.fetchTopicOffsets(name);
      const partitions = meta.partitions.map((p) => {
        const o = offsets.find((x) => x.partition === p.partitionId);
        return {
          partition: p.partitionId,
          leader: p.leader,
          replicas: [...p.replicas],
          isr: [...p.isr],
          underReplicated: p.isr.length < p.replicas.length,
          start: Number(o?.low ?? 0),
          end: Number(o?.high ?? 0),
          rate: 0,
        };
      }).sort((a, b) => a.partition - b.partition);
      return { name, role, exists: true, partitions };
    }));
  }

  async function readGroup(): Promise<GroupView | undefined> {
    const [{ groups }, committed] = await Promise.all([
      admin.describeGroups([groupId]),
      admin.fetchOffsets({ groupId, topics: [names.ticks] }).catch(() => []),
    ]);
    const described = groups[0];
    if (!described) return undefined;
    const members = described.members.map((m) => ({
      memberId: m.memberId,
      clientId: m.clientId,
      host: m.clientHost.replace(/^\//, ""),
      partitions: ownedPartitions(m.memberAssignment, names.ticks),
    })).sort((a, b) => a.clientId.localeCompare(b.clientId));
    const signature = JSON.stringify([
      described.state,
      described.protocol,
      members.map((m) => [m.memberId, m.partitions]),
    ]);
    if (groupSignature !== "" && signature !== groupSignature) {
      rebalancedAt = now();
    }
    groupSignature = signature;
    const offsets = (committed[0]?.partitions ?? []).map((p) => ({
      partition: p.partition,
      committed: Number(p.offset),
      lag: 0,
    })).sort((a, b) => a.partition - b.partition);
    return {
      groupId,
      state: described.state,
      assignor: described.protocol,
      members,
      offsets,
      rebalancedAt,
    };
  }

  async function readSubjects(): Promise<SubjectView[]> {
    const base = registryUrl.replace(/\/+$/, "");
    const get = async (path: string) => {
      const response = await doFetch(`${base}${path}`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await response.json();
      if (!response.ok) {
        throw new Error(
          `registry ${path}: ${response.status} ${body?.message ?? ""}`,
        );
      }
      return body;
    };
    const all: string[] = await get("/subjects");
    const ours = all.filter((s) =>
      s === `${names.ticks}-value` || s === `${names.history}-value`
    ).sort();
    const global = await get("/config").then(
      (c) => c.compatibilityLevel as string,
      () => "",
    );
    return await Promise.all(ours.map(async (subject) => {
      const path = `/subjects/${encodeURIComponent(subject)}`;
      const [versions, compatibility, latest] = await Promise.all([
        get(`${path}/versions`),
        get(`/config/${encodeURIComponent(subject)}`).then(
          (c) => c.compatibilityLevel as string,
          () => `${global} (global)`,
        ),
        get(`${path}/versions/latest`),
      ]);
      return {
        subject,
        versions,
        compatibility,
        latest: {
          version: latest.version,
          id: latest.id,
          schema: prettySchema(latest.schema),
        },
      };
    }));
  }

  async function readSinks(): Promise<SinkView[]> {
    const answers = await Promise.all(sinkUrls.map(async (url) => {
      try {
        const response = await doFetch(url, {
          signal: AbortSignal.timeout(Math.min(timeoutMs, 500)),
        });
        return response.ok ? await response.json() as SinkView : undefined;
      } catch {
        return undefined;
      }
    }));
    return answers.filter((s): s is SinkView =>
      s !== undefined && s.group === groupId && s.topic === names.ticks
    ).sort((a, b) => a.clientId.localeCompare(b.clientId));
  }

  return { seen, snapshot, latest: () => last, intervalMs };
}

/** Fills each committed offset's lag from the topic's end offsets. */
function addLag(group: GroupView, ticks: TopicView): void {
  for (const o of group.offsets) {
    const p = ticks.partitions.find((x) => x.partition === o.partition);
    if (!p) continue;
    o.lag = o.committed >= 0 ? p.end - o.committed : p.end - p.start;
  }
}

/** Records per second of each partition since the previous snapshot. */
function addRates(
  topic: TopicView,
  previous: PipelineSnapshot | undefined,
  at: number,
): void {
  const before = previous?.topics.find((t) => t.name === topic.name);
  if (!before || !previous || at <= previous.at) return;
  for (const p of topic.partitions) {
    const old = before.partitions.find((x) => x.partition === p.partition);
    if (old) {
      p.rate = Math.max(0, (p.end - old.end) * 1000 / (at - previous.at));
    }
  }
}

/** The partitions of `topic` in a member's assignment (any assignor's encoding). */
function ownedPartitions(assignment: Uint8Array, topic: string): number[] {
  try {
    // deno-lint-ignore no-explicit-any
    const decoded = AssignerProtocol.MemberAssignment.decode(assignment as any);
    return [...(decoded?.assignment[topic] ?? [])].sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/**
 * Pretty-prints a schema string (JSON, two-space indent); other text as is.
 *
 * @param schema The registry's `schema` field.
 * @returns The schema, indented.
 *
 * @example
 * ```ts
 * import { prettySchema } from "@cryptocandles/chart";
 * console.log(prettySchema('{"type":"string"}'));
 * ```
 */
export function prettySchema(schema: string): string {
  try {
    return JSON.stringify(JSON.parse(schema), null, 2);
  } catch {
    return schema;
  }
}

async function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer within ${ms} ms`)),
      ms,
    );
  });
  work.catch(() => {}); // a late failure is not unhandled
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `host:port` accepts a TCP connection within 1 s (for the package's own modules). */
export async function tcpProbe(host: string, port: number): Promise<boolean> {
  const connecting = Deno.connect({ hostname: host, port });
  try {
    (await withDeadline(connecting, 1000, "probe")).close();
    return true;
  } catch {
    connecting.then((late) => late.close(), () => {});
    return false;
  }
}
