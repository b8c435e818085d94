/**
 * The steps of `launch.ts` that talk to the world: choosing and readying
 * the stack (external, Docker Compose or the local Maven stack), checking
 * that Bitfinex answers, and describing the consumer group for the status.
 *
 * @module
 */
import { type Config, UsageError } from "@cryptocandles/config";
import {
  type Admin,
  AssignerProtocol,
  createKafka,
} from "@cryptocandles/kafka";
import {
  commandSucceeds,
  createLogger,
  type Logger,
  runCommand,
} from "@cryptocandles/runtime";
import { findJdk } from "./java.ts";
import { stackPorts } from "./render.ts";
import { serversDown, serversUp } from "./servers.ts";
import { stackDown, stackUp } from "./stack.ts";
import type { Member } from "./status.ts";

/** Where Kafka comes from. */
export type StackMode = "auto" | "local" | "compose" | "external";

/** The values of {@linkcode StackMode}. */
export const STACK_MODES: readonly StackMode[] = [
  "auto",
  "local",
  "compose",
  "external",
];

/**
 * Reads a stack mode (from `--stack` or `STACK`).
 *
 * @param value The text. @default {"auto"}
 * @returns The mode.
 * @throws {TypeError} Naming STACK and the modes, for anything else.
 *
 * @example
 * ```ts
 * import { parseStackMode } from "@cryptocandles/launch";
 * console.log(parseStackMode("local")); // "local"
 * ```
 */
export function parseStackMode(value: string = "auto"): StackMode {
  if (STACK_MODES.includes(value as StackMode)) return value as StackMode;
  throw new UsageError(
    `STACK must be one of ${
      STACK_MODES.join(", ")
    }: current value is "${value}"`,
  );
}

/** What {@linkcode prepareStack} did, so that launch stops only that. */
export interface PreparedStack {
  mode: Exclude<StackMode, "auto">;
  /** Local services launch started (stopped on exit). */
  started: string[];
  /** Compose was brought up by launch (stopped on exit). */
  composeStarted: boolean;
  /** Web UIs of the stack, by name. */
  links?: Record<string, string>;
  /** InfluxDB/Grafana servers launch started (stopped on exit). */
  serversStarted?: string[];
  /** Variables the scripts get from the stack (its InfluxDB token, Grafana admin); secrets, never printed. */
  env?: Record<string, string>;
  /** Servers the local stack could not provide, with the line saying why. */
  missing?: Record<string, string>;
}

/**
 * Readies Kafka and the schema registry. `auto` takes an answering
 * KAFKA_BROKERS as is, else Docker Compose when an engine answers, else the
 * local stack when Java and Maven are there.
 *
 * @param mode The stack mode.
 * @param config The configuration.
 * @param options Logger and signal.
 * @returns What was started.
 * @throws {Error} Saying what to install, when nothing can provide Kafka.
 *
 * @example
 * ```ts ignore
 * const stack = await prepareStack("auto", config, { log, signal });
 * ```
 */
export async function prepareStack(
  mode: StackMode,
  config: Config,
  options: { log: Logger; signal: AbortSignal },
): Promise<PreparedStack> {
  const { log } = options;
  if (mode === "auto") {
    if (await kafkaAnswers(config)) mode = "external";
    else if (await commandSucceeds("docker", ["info"])) mode = "compose";
    else if (
      await findJdk().then(() => true, () => false) &&
      await commandSucceeds("mvn", ["-v"])
    ) mode = "local";
    else {
      throw new Error(
        `no Kafka answers at ${
          config.kafka.brokers.join(",")
        }, no Docker engine answers, and Java + Maven are missing: install Java 21+ and Maven (for the local stack) or Docker`,
      );
    }
    log.info(`stack: ${mode}`);
  }
  if (mode === "external") {
    if (!(await kafkaAnswers(config))) {
      throw new Error(
        `KAFKA_BROKERS ${config.kafka.brokers.join(",")} does not answer`,
      );
    }
    return { mode, started: [], composeStarted: false };
  }
  if (mode === "local") {
    const { signal } = options;
    const started = await stackUp({ ...stackPorts(config), log, signal });
    const servers = await serversUp({ config, log }).catch(async (error) => {
      log.warn(
        `InfluxDB/Grafana of the local stack: ${
          (error as Error).message
        }; going on without them`,
      );
      await serversDown({ config, log });
      return { started: [], env: {}, missing: {}, dashboard: undefined };
    });
    return {
      mode,
      started,
      composeStarted: false,
      serversStarted: servers.started,
      env: servers.env,
      missing: servers.missing,
      links: servers.dashboard ? { grafana: servers.dashboard } : undefined,
    };
  }
  const { stdout: running } = await runCommand("docker", [
    "compose",
    "ps",
    "-q",
  ]);
  await runCommand("docker", ["compose", "up", "-d", "--wait"]);
  return {
    mode,
    started: [],
    composeStarted: running.trim() === "",
    links: { "kafka-ui": "http://127.0.0.1:8080/" },
  };
}

/**
 * Stops what {@linkcode prepareStack} started, and nothing else.
 *
 * @param stack What was started.
 * @param options Logger.
 *
 * @example
 * ```ts ignore
 * await stopStack(stack, { log });
 * ```
 */
export async function stopStack(
  stack: PreparedStack,
  options: { log: Logger; config?: Config },
): Promise<void> {
  if (stack.serversStarted?.length && options.config) {
    await serversDown({
      config: options.config,
      log: options.log,
      only: stack.serversStarted,
    });
  }
  if (stack.started.length > 0) {
    await stackDown({ log: options.log, only: stack.started });
  }
  if (stack.composeStarted) await runCommand("docker", ["compose", "stop"]);
}

/**
 * Checks that the Bitfinex WebSocket answers within 5 s.
 *
 * @param url The WebSocket URL.
 * @throws {Error} Suggesting `--source synthetic` when it does not.
 *
 * @example
 * ```ts ignore
 * await checkBitfinex(config.bitfinex.wsUrl);
 * ```
 */
export async function checkBitfinex(url: string): Promise<void> {
  const reason = await new Promise<string | undefined>((resolve) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(
      () => (ws.close(), resolve("no answer in 5 s")),
      5000,
    );
    ws.onopen = () => (clearTimeout(timer), ws.close(), resolve(undefined));
    ws.onerror = (
      e,
    ) => (clearTimeout(timer),
      resolve((e as ErrorEvent).message || "connection refused"));
  });
  if (reason !== undefined) {
    throw new Error(
      `Bitfinex is unreachable at ${url} (${reason}): for a demo without internet use --source synthetic`,
    );
  }
}

let admin: Promise<Admin> | undefined;

/**
 * The consumer group's members and their partitions.
 *
 * @param config The configuration (brokers, group, topic).
 * @returns Members by client id, with the partitions of the ticker topic.
 *
 * @example
 * ```ts ignore
 * const members = await describeMembers(config);
 * ```
 */
export async function describeMembers(config: Config): Promise<Member[]> {
  admin ??= (async () => {
    const a = createKafka(config.kafka, {
      clientId: "launch-status",
      log: createLogger("launch", { write: () => {} }),
    })
      .admin();
    await a.connect();
    return a;
  })();
  const { groups } = await (await admin).describeGroups([
    config.consumer.group,
  ]);
  return (groups[0]?.members ?? []).map((m) => {
    const assignment = AssignerProtocol.MemberAssignment.decode(
      m.memberAssignment,
    );
    return {
      clientId: m.clientId,
      partitions: assignment?.assignment[config.kafka.topic] ?? [],
    };
  }).sort((a, b) => a.clientId.localeCompare(b.clientId));
}

/**
 * Disconnects the status admin client (at shutdown).
 *
 * @example
 * ```ts ignore
 * await closeStatusAdmin();
 * ```
 */
export async function closeStatusAdmin(): Promise<void> {
  const a = admin;
  admin = undefined;
  await (await a)?.disconnect().catch(() => {});
}

/**
 * True when `url` answers 2xx within 2 s (such as Grafana's /api/health).
 *
 * @param url The URL to GET.
 * @returns Whether it answered.
 *
 * @example
 * ```ts ignore
 * if (await httpAnswers("http://127.0.0.1:3000/api/health")) console.log("Grafana is up");
 * ```
 */
export async function httpAnswers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

async function kafkaAnswers(config: Config): Promise<boolean> {
  const a = createKafka(config.kafka, {
    clientId: "launch-probe",
    log: createLogger("launch", { write: () => {} }),
    retry: { retries: 0 },
    connectionTimeout: 2000,
  }).admin();
  try {
    await a.connect();
    await a.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await a.disconnect().catch(() => {});
  }
}
