/**
 * Whether the chart server can reach Kafka, for the page's badge,
 * `/api/status` and the logs: TCP probes of the brokers every few seconds
 * (and the pipeline snapshots, when a page asks for them) decide; the
 * consumer's first connect turns "connecting" into "reachable".
 *
 * While every broker is down the server keeps serving: one warning when
 * Kafka becomes unreachable, one line when it is back, and kafkajs's own
 * warnings (one per retry and broker) wait for the next verdict and are
 * left out when it says unreachable.
 *
 * @module
 */
import {
  authenticationFailure,
  isAuthenticationError,
} from "@cryptocandles/kafka";
import { delay, type Logger, retry } from "@cryptocandles/runtime";
import { type PipelineSnapshot, tcpProbe } from "./pipeline.ts";

/** `connecting` until the first connect, then `reachable`; `unreachable` while no broker accepts connections. */
export type KafkaState = "connecting" | "reachable" | "unreachable";

/** What the page and `/api/status` say about Kafka. */
export interface KafkaStatus {
  state: KafkaState;
  /** `state === "reachable"`. */
  reachable: boolean;
  /** When this state began (for `unreachable`: when the outage began), ISO 8601. */
  since: string;
  /** Why it is unreachable. */
  error?: string;
}

/** Options for {@linkcode createKafkaReachability}. */
export interface KafkaReachabilityOptions {
  /** Bootstrap `host:port` list to probe. */
  brokers: string[];
  /** Where the two lines (unreachable, reachable again) go. */
  log: Logger;
  /** The pipeline's latest snapshot: the brokers it knows are probed too. */
  latest?: () => PipelineSnapshot | undefined;
  /** Whether a broker accepts TCP connections. @default {a Deno.connect probe with a 1 s deadline} */
  probe?: (host: string, port: number) => Promise<boolean>;
  /** Time between two probes of {@linkcode KafkaReachability.watch}, ms. @default {2000} */
  intervalMs?: number;
  /** Clock. @default {Date.now} */
  now?: () => number;
}

/** What {@linkcode createKafkaReachability} returns. */
export interface KafkaReachability {
  /** The current status. */
  status(): KafkaStatus;
  /**
   * The chart's consumer connected: from now on brokers that answer mean
   * `reachable`. `advertised` (`host:port`, the brokers the cluster names)
   * are probed too from now on.
   */
  connected(advertised?: string[]): void;
  /** Takes a verdict from a pipeline snapshot ({@linkcode kafkaVerdict}). */
  observe(snapshot: PipelineSnapshot): void;
  /** Probes the brokers now (callers at the same time share one probe). */
  check(): Promise<KafkaStatus>;
  /** Probes every `intervalMs` until `signal` aborts. */
  watch(signal: AbortSignal): Promise<void>;
  /** Resolves once a broker accepts connections (at once unless `unreachable`). */
  untilReachable(signal?: AbortSignal): Promise<void>;
  /** Calls `listener` on every change of state; returns the unsubscribe. */
  onChange(listener: (status: KafkaStatus) => void): () => void;
  /**
   * The logger to give kafkajs (`createKafka`'s `log`): its warnings and
   * errors wait for the next verdict, then are written (reachable) or left
   * out (unreachable); other lines pass at once.
   */
  kafkajsLog: Logger;
}

/**
 * Creates the watch of Kafka's reachability.
 *
 * @param options Brokers, logger, probe, pacing and clock.
 * @returns A {@linkcode KafkaReachability}, `connecting` until a verdict.
 *
 * @example Keep serving while Kafka is down
 * ```ts ignore
 * import { createKafkaReachability } from "@cryptocandles/chart";
 * const kafkaState = createKafkaReachability({ brokers: ["127.0.0.1:19090"], log });
 * const kafka = createKafka(config.kafka, { clientId: "chart", log: kafkaState.kafkajsLog });
 * kafkaState.watch(signal);
 * await connectWhenReachable(() => consumer.connect(), kafkaState, { signal });
 * ```
 */
export function createKafkaReachability(
  options: KafkaReachabilityOptions,
): KafkaReachability {
  const {
    brokers,
    log,
    latest,
    probe = tcpProbe,
    intervalMs = 2000,
    now = Date.now,
  } = options;
  let state: KafkaState = "connecting";
  let since = now();
  let error: string | undefined;
  let everConnected = false;
  /** Start of the outage warned about; unset once reachable again. */
  let outageSince: number | undefined;
  let leftOut = 0;
  const learned = new Set<string>();
  let checking: Promise<KafkaStatus> | undefined;
  /** kafkajs lines waiting for the next verdict. */
  let waiting: (() => void)[] = [];
  const listeners = new Set<(status: KafkaStatus) => void>();

  function status(): KafkaStatus {
    const at = state === "unreachable" ? outageSince ?? since : since;
    return {
      state,
      reachable: state === "reachable",
      since: new Date(at).toISOString(),
      ...(state === "unreachable" && error ? { error } : {}),
    };
  }

  /** One verdict: brokers answer (`up`) or none does (`why`). */
  function decide(up: boolean, why?: string): void {
    const next = !up
      ? "unreachable"
      : everConnected
      ? "reachable"
      : "connecting";
    if (!up) error = why ?? "no broker accepts connections";
    if (next === "unreachable" && outageSince === undefined) {
      outageSince = now();
      log.warn(`kafka unreachable: ${error}; serving the page and retrying`);
    } else if (next === "reachable" && outageSince !== undefined) {
      const seconds = Math.round((now() - outageSince) / 1000);
      const quiet = leftOut > 0
        ? ` (${leftOut} kafkajs warnings left out)`
        : "";
      log.info(`kafka reachable again after ${seconds} s${quiet}`);
      outageSince = undefined;
      leftOut = 0;
    }
    const lines = waiting;
    waiting = [];
    for (const write of up ? lines : []) write();
    if (!up) leftOut += lines.length;
    if (next === state) return;
    state = next;
    since = now();
    const current = status();
    for (const listener of listeners) listener(current);
  }

  function check(): Promise<KafkaStatus> {
    checking ??= probeAll()
      .then(({ up, why }) => (decide(up, why), status()))
      .finally(() => checking = undefined);
    return checking;
  }

  async function probeAll(): Promise<{ up: boolean; why?: string }> {
    const known = latest?.()?.brokers.map((b) => b.address) ?? [];
    const addresses = [...new Set([...brokers, ...learned, ...known])];
    const answers = await Promise.all(addresses.map((address) => {
      const { host, port } = hostPort(address);
      return probe(host, port).catch(() => false);
    }));
    return answers.some(Boolean) ? { up: true } : {
      up: false,
      why: `no broker accepts connections (${addresses.join(", ")})`,
    };
  }

  async function watch(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await check().catch(() => {}); // the next round probes again
      await delay(intervalMs, signal).catch(() => {});
    }
  }

  function untilReachable(signal?: AbortSignal): Promise<void> {
    if (state !== "unreachable") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        off();
        signal?.removeEventListener("abort", stop);
      };
      const stop = () => (done(), reject(signal!.reason));
      const off = onChange((s) => {
        if (s.state !== "unreachable") done(), resolve();
      });
      if (signal?.aborted) return stop();
      signal?.addEventListener("abort", stop, { once: true });
    });
  }

  function onChange(listener: (status: KafkaStatus) => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** A kafkajs warning waits for a verdict; left out while unreachable. */
  function hold(write: () => void): void {
    if (state === "unreachable") {
      leftOut++;
      return;
    }
    waiting.push(write);
    check();
  }

  const kafkajsLog: Logger = {
    name: log.name,
    debug: (m, f) => log.debug(m, f),
    info: (m, f) => log.info(m, f),
    warn: (m, f) => hold(() => log.warn(m, f)),
    error: (m, f) => hold(() => log.error(m, f)),
    child: (name) => log.child(name),
  };

  return {
    status,
    connected(advertised = []) {
      for (const address of advertised) learned.add(address);
      everConnected = true;
      decide(true);
    },
    observe(snapshot) {
      const verdict = kafkaVerdict(snapshot);
      if (verdict) decide(verdict.reachable, verdict.error);
    },
    check,
    watch,
    untilReachable,
    onChange,
    kafkajsLog,
  };
}

/**
 * What a pipeline snapshot says of Kafka: reachable when the cluster
 * answered (no `brokers` error) or a broker it knows accepts connections;
 * unreachable when it did not answer and no known broker is up.
 *
 * @param snapshot A {@linkcode PipelineSnapshot}.
 * @returns The verdict, or undefined when the snapshot knows nothing of brokers.
 *
 * @example
 * ```ts
 * import { kafkaVerdict } from "@cryptocandles/chart";
 * const down = { address: "127.0.0.1:19090", id: 1, controller: false, up: false };
 * const snapshot = { at: 0, brokers: [down], topics: [], keys: {}, dlq: { count: 0, recent: [] }, registry: [], sinks: [], errors: { brokers: "brokers: no answer within 1500 ms" } };
 * console.log(kafkaVerdict(snapshot)?.reachable); // false
 * ```
 */
export function kafkaVerdict(
  snapshot: PipelineSnapshot,
): { reachable: boolean; error?: string } | undefined {
  const failed = snapshot.errors.brokers;
  if (!failed) {
    return snapshot.brokers.length > 0 ? { reachable: true } : undefined;
  }
  if (snapshot.brokers.some((b) => b.up)) return { reachable: true };
  const addresses = snapshot.brokers.map((b) => b.address).join(", ");
  return {
    reachable: false,
    error: addresses
      ? `every broker is down (${addresses}): ${failed}`
      : `the cluster does not answer: ${failed}`,
  };
}

/** Options for {@linkcode connectWhenReachable}. */
export interface ConnectWhenReachableOptions {
  /** Stops waiting (the promise rejects with the abort reason). */
  signal?: AbortSignal;
  /** Where a failed connect to brokers that do accept connections is said (once per message). */
  log?: Logger;
  /** The cluster's brokers (such as `admin.describeCluster`), asked once connected: they are probed too. */
  cluster?: () => Promise<{ brokers: { host: string; port: number }[] }>;
  /** First wait after a failed connect, ms. @default {500} */
  minTimeout?: number;
  /** Longest wait between two connects, ms. @default {5000} */
  maxTimeout?: number;
}

/**
 * Connects once a broker accepts connections, and again with back-off
 * while connecting fails (an outage at start is no reason to exit);
 * refused credentials, an untrusted certificate and errors kafkajs marks
 * non-retriable are thrown at once. Then tells `reachability` it connected
 * (and which brokers the cluster advertises, when `cluster` is given: a
 * bootstrap list of one broker must not make the others' outage look total).
 *
 * @param connect Connects the clients (such as `consumer.connect()`).
 * @param reachability The {@linkcode KafkaReachability} being watched.
 * @param options Abort signal, logger and back-off.
 * @returns Once connected.
 * @throws {Error} The first non-retriable error, or the abort reason.
 *
 * @example
 * ```ts ignore
 * import { connectWhenReachable } from "@cryptocandles/chart";
 * await connectWhenReachable(() => consumer.connect(), kafkaState, { signal, log, cluster: () => admin.describeCluster() });
 * ```
 */
export async function connectWhenReachable(
  connect: () => Promise<unknown>,
  reachability: KafkaReachability,
  options: ConnectWhenReachableOptions = {},
): Promise<void> {
  const { signal, log, cluster, minTimeout = 500, maxTimeout = 5000 } = options;
  let said = "";
  await retry(async () => {
    // a fresh verdict first: kafkajs retries a connect to brokers that
    // refuse it for a long while before it fails
    if (!reachability.status().reachable) await reachability.check();
    await reachability.untilReachable(signal);
    // kafkajs's connect takes no signal: stopping does not wait for it
    await abortable(connect(), signal);
  }, {
    maxAttempts: Number.MAX_SAFE_INTEGER,
    minTimeout,
    maxTimeout,
    signal,
    isRetriable: (e) =>
      !isAuthenticationError(e) &&
      ((e as { retriable?: boolean }).retriable !== false ||
        (e as Error).name === "KafkaJSNumberOfRetriesExceeded"),
    onRetry: (e) => {
      const message = (e as Error)?.message ?? String(e);
      // While no broker answers, the one "unreachable" line says it all.
      if (reachability.status().state === "unreachable" || message === said) {
        return;
      }
      said = message;
      log?.warn(`cannot connect to kafka yet: ${message}; retrying`);
    },
  }).catch((e) => {
    throw isAuthenticationError(e) ? authenticationFailure(e) : e;
  });
  const advertised = await cluster?.().then(
    ({ brokers }) => brokers.map(({ host, port }) => `${host}:${port}`),
    () => [], // the bootstrap brokers then
  );
  reachability.connected(advertised);
}

/** `work`, or the abort reason as soon as `signal` aborts. */
function abortable<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return work;
  work.catch(() => {}); // a late failure is not unhandled
  return new Promise((resolve, reject) => {
    const stop = () => reject(signal.reason);
    if (signal.aborted) return stop();
    signal.addEventListener("abort", stop, { once: true });
    work.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", stop)
    );
  });
}

function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(":");
  return {
    host: address.slice(0, at).replace(/^\[(.*)\]$/, "$1"),
    port: Number(address.slice(at + 1)),
  };
}
