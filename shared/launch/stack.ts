/**
 * The local stack without Docker: three Kafka 4.3.1 KRaft nodes (broker +
 * controller each) and Apicurio Registry 3.3.3, run from jars that Maven
 * fetches into `.stack/`. Used by `deno task stack`, the test task and
 * `launch.ts`.
 *
 * @module
 */
import { runCommand } from "@cryptocandles/runtime";
import { loadConfig } from "@cryptocandles/config";
import { createKafka } from "@cryptocandles/kafka";
import { createLogger, type Logger } from "@cryptocandles/runtime";

/** One process of the stack. */
export interface Service {
  /** `kafka-1`, `kafka-2`, `kafka-3` or `registry`. */
  name: string;
  /** Ports it listens on (all on 127.0.0.1). */
  ports: number[];
}

/** Options shared by the stack functions. */
export interface StackOptions {
  /** The folder for jars, data, logs and pids. @default {".stack"} */
  dir?: string;
  /** Maven project that lists the jars. @default {"stack/pom.xml"} */
  pom?: string;
  /** First broker port; brokers use 3 from here. @default {19090} */
  brokerPort?: number;
  /** First controller port; controllers use 3 from here. @default {19093} */
  controllerPort?: number;
  /** Schema registry port. @default {8081} */
  registryPort?: number;
  /** Where progress lines go. */
  log?: Logger;
  /** Give up waiting for readiness after this many ms. @default {180000} */
  timeoutMs?: number;
}

/** The state of one service, from {@linkcode stackStatus}. */
export interface ServiceStatus extends Service {
  pid?: number;
  running: boolean;
}

const NODES = [1, 2, 3];

/**
 * Lists the services of the stack with their ports.
 *
 * @param options Ports to use.
 * @returns The four services.
 *
 * @example
 * ```ts
 * import { stackServices } from "@cryptocandles/launch";
 * console.log(stackServices().map((s) => s.name)); // ["kafka-1", "kafka-2", "kafka-3", "registry"]
 * ```
 */
export function stackServices(options: StackOptions = {}): Service[] {
  const { brokerPort = 19090, controllerPort = 19093, registryPort = 8081 } =
    options;
  return [
    ...NODES.map((n) => ({
      name: `kafka-${n}`,
      ports: [brokerPort + n - 1, controllerPort + n - 1],
    })),
    { name: "registry", ports: [registryPort] },
  ];
}

/**
 * Reports which services of the stack run, by the pids the stack wrote.
 *
 * @param options Folder and ports.
 * @returns One entry per service.
 *
 * @example
 * ```ts ignore
 * for (const s of await stackStatus()) console.log(s.name, s.running ? s.pid : "down");
 * ```
 */
export async function stackStatus(
  options: StackOptions = {},
): Promise<ServiceStatus[]> {
  const dir = options.dir ?? ".stack";
  return await Promise.all(
    stackServices(options).map(async (service) => {
      const pid = await runningPid(dir, service.name);
      return { ...service, pid, running: pid !== undefined };
    }),
  );
}

/**
 * Starts what is not running yet and waits until all three brokers are in
 * the cluster metadata and the registry answers. Idempotent: running
 * services are reused.
 *
 * @param options Folder, ports, logger and timeout.
 * @returns The names of the services this call started (empty when all ran).
 * @throws {Error} When a port is taken by a process the stack did not start,
 *   when Maven or Java is missing, or when readiness times out (with the log tail).
 *
 * @example
 * ```ts ignore
 * const started = await stackUp({ log });
 * ```
 */
export async function stackUp(options: StackOptions = {}): Promise<string[]> {
  const { dir = ".stack", pom = "stack/pom.xml", log, timeoutMs = 180_000 } =
    options;
  const status = await stackStatus(options);
  const missing = status.filter((s) => !s.running);
  if (missing.length === 0) {
    log?.info("stack already running", {
      pids: status.map((s) => `${s.name}:${s.pid}`).join(","),
    });
    return [];
  }
  for (const service of missing) {
    for (const port of service.ports) assertPortFree(port, service.name);
  }
  await fetchJars(dir, pom, log);
  const java = await findJava();
  await Deno.mkdir(`${dir}/logs`, { recursive: true });
  await Deno.mkdir(`${dir}/run`, { recursive: true });
  await writeKafkaConfigs(dir, options);
  for (const service of missing) {
    const args = service.name === "registry"
      ? registryArgs(dir, service.ports[0])
      : await kafkaArgs(dir, Number(service.name.slice(6)), java);
    const child = new Deno.Command(java, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    child.unref();
    await Deno.writeTextFile(pidFile(dir, service.name), String(child.pid));
    log?.info(`started ${service.name}`, {
      pid: child.pid,
      ports: service.ports.join(","),
    });
  }
  await waitReady(options, timeoutMs);
  return missing.map((s) => s.name);
}

/**
 * Stops the services the stack started (by pid, SIGTERM then SIGKILL after
 * 30 s), and with `clean` removes their data and logs.
 *
 * @param options Folder and logger, plus `clean` and `only` (a subset of
 *   service names; the others keep running).
 * @returns The names of the services it stopped.
 *
 * @example
 * ```ts ignore
 * await stackDown({ clean: true });
 * ```
 */
export async function stackDown(
  options: StackOptions & { clean?: boolean; only?: string[] } = {},
): Promise<string[]> {
  const { dir = ".stack", log, clean = false, only } = options;
  const running = (await stackStatus(options)).filter((s) =>
    s.running && (!only || only.includes(s.name))
  );
  for (const s of running) await signal(s.pid!, "TERM");
  const deadline = Date.now() + 30_000;
  for (const s of running) {
    while (await isOurs(dir, s.name, s.pid!) && Date.now() < deadline) {
      await sleep(200);
    }
    if (await isOurs(dir, s.name, s.pid!)) {
      log?.warn(`${s.name} ignored SIGTERM for 30 s, killing`, { pid: s.pid });
      await signal(s.pid!, "KILL");
    }
    await Deno.remove(pidFile(dir, s.name)).catch(() => {});
    log?.info(`stopped ${s.name}`, { pid: s.pid });
  }
  if (clean) {
    for (const sub of ["data", "logs", "run", "conf"]) {
      await Deno.remove(`${dir}/${sub}`, { recursive: true }).catch(() => {});
    }
    log?.info("removed stack data and logs", { dir });
  }
  return running.map((s) => s.name);
}

async function waitReady(
  options: StackOptions,
  timeoutMs: number,
): Promise<void> {
  const { dir = ".stack", brokerPort = 19090, registryPort = 8081, log } =
    options;
  const deadline = Date.now() + timeoutMs;
  const brokers = NODES.map((n) => `127.0.0.1:${brokerPort + n - 1}`);
  let brokersUp = 0;
  let registryUp = false;
  while (Date.now() < deadline) {
    for (const service of stackServices(options)) {
      if (!(await runningPid(dir, service.name))) {
        throw new Error(
          `${service.name} exited during start-up; last log lines:\n${await logTail(
            dir,
            service.name,
          )}`,
        );
      }
    }
    if (brokersUp < 3) brokersUp = await countBrokers(brokers);
    if (!registryUp) {
      registryUp = await fetch(
        `http://127.0.0.1:${registryPort}/apis/ccompat/v7/subjects`,
      )
        .then(async (r) => (await r.body?.cancel(), r.ok), () => false);
    }
    if (brokersUp === 3 && registryUp) {
      log?.info("stack ready", {
        brokers: brokers.join(","),
        registry: `http://127.0.0.1:${registryPort}`,
      });
      return;
    }
    await sleep(1000);
  }
  throw new Error(
    `stack not ready after ${
      timeoutMs / 1000
    } s (brokers in metadata: ${brokersUp}/3, registry: ${
      registryUp ? "up" : "down"
    }); logs are in ${dir}/logs`,
  );
}

async function countBrokers(brokers: string[]): Promise<number> {
  const kafka = { ...loadConfig(new Map()).kafka, brokers };
  const admin = createKafka(kafka, {
    clientId: "stack-wait",
    log: createLogger("stack-wait", { write: () => {} }),
    retry: { retries: 0 },
    connectionTimeout: 1000,
  }).admin();
  try {
    await admin.connect();
    const { brokers: found } = await admin.describeCluster();
    return found.length;
  } catch {
    return 0;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function fetchJars(
  dir: string,
  pom: string,
  log?: Logger,
): Promise<void> {
  const marker = `${dir}/libs/.complete`;
  if (await exists(marker) && await exists(`${dir}/apicurio/quarkus-run.jar`)) {
    return;
  }
  log?.info(
    "fetching Kafka 4.3.1 and Apicurio Registry 3.3.3 jars with Maven (once)",
  );
  const outDir = await Deno.realPath(".").then((cwd) => `${cwd}/${dir}/libs`);
  await runCommand("mvn", [
    "-q",
    "-B",
    "-f",
    pom,
    "dependency:copy-dependencies",
    `-DoutputDirectory=${outDir}`,
  ]);
  await runCommand("mvn", [
    "-q",
    "-B",
    "-f",
    pom,
    "dependency:unpack@apicurio",
  ]);
  await Deno.writeTextFile(marker, new Date().toISOString());
}

/** Java 21+ is needed by Apicurio 3; the newest JDK under /usr/lib/jvm or JAVA_HOME, else `java`. */
async function findJava(): Promise<string> {
  const candidates: { path: string; version: number }[] = [];
  const home = Deno.env.get("JAVA_HOME");
  const dirs = home ? [home] : [];
  try {
    for await (const entry of Deno.readDir("/usr/lib/jvm")) {
      dirs.push(`/usr/lib/jvm/${entry.name}`);
    }
  } catch { /* no /usr/lib/jvm */ }
  for (const d of dirs) {
    const version = Number(
      /(?:^|[-/])(?:java-|jdk-?|temurin-|openjdk-)?(\d{2})(?:[.-]|$)/.exec(d)
        ?.[1] ?? 0,
    );
    if (version >= 21 && await exists(`${d}/bin/java`)) {
      candidates.push({ path: `${d}/bin/java`, version });
    }
  }
  candidates.sort((a, b) => b.version - a.version);
  if (candidates.length > 0) return candidates[0].path;
  const text = await runCommand("java", ["-version"]).then(
    (t) => t.stderr + t.stdout,
    () => "",
  );
  const major = Number(/version "(\d+)/.exec(text)?.[1] ?? 0);
  if (major >= 21) return "java";
  throw new Error(
    "Java 21 or newer is needed for Apicurio Registry 3.3.3 (found none in JAVA_HOME, /usr/lib/jvm or PATH)",
  );
}

async function writeKafkaConfigs(
  dir: string,
  options: StackOptions,
): Promise<void> {
  const { brokerPort = 19090, controllerPort = 19093 } = options;
  const cwd = Deno.cwd();
  await Deno.mkdir(`${dir}/conf`, { recursive: true });
  const voters = NODES.map((n) => `${n}@127.0.0.1:${controllerPort + n - 1}`)
    .join(",");
  for (const n of NODES) {
    const broker = `127.0.0.1:${brokerPort + n - 1}`;
    const props = [
      "process.roles=broker,controller",
      `node.id=${n}`,
      `controller.quorum.voters=${voters}`,
      `listeners=PLAINTEXT://${broker},CONTROLLER://127.0.0.1:${
        controllerPort + n - 1
      }`,
      `advertised.listeners=PLAINTEXT://${broker}`,
      "controller.listener.names=CONTROLLER",
      "inter.broker.listener.name=PLAINTEXT",
      "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
      `log.dirs=${cwd}/${dir}/data/node-${n}`,
      "num.partitions=2",
      "default.replication.factor=3",
      "min.insync.replicas=2",
      "offsets.topic.replication.factor=3",
      "transaction.state.log.replication.factor=3",
      "transaction.state.log.min.isr=2",
      "share.coordinator.state.topic.replication.factor=3",
      "share.coordinator.state.topic.min.isr=2",
      "group.initial.rebalance.delay.ms=0",
      "auto.create.topics.enable=false",
      "log.segment.bytes=67108864",
      "",
    ];
    await Deno.writeTextFile(
      `${dir}/conf/node-${n}.properties`,
      props.join("\n"),
    );
  }
  const log4j = `Configuration:
  name: cryptocandles-stack
  Appenders:
    File:
      name: file
      fileName: "\${sys:kafka.logs.dir}/\${sys:stack.node}.log"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: file
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
`;
  await Deno.writeTextFile(`${dir}/conf/log4j2.yaml`, log4j);
}

async function kafkaArgs(
  dir: string,
  n: number,
  java: string,
): Promise<string[]> {
  const cwd = Deno.cwd();
  const conf = `${cwd}/${dir}/conf/node-${n}.properties`;
  const common = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    `-Dlog4j2.configurationFile=${cwd}/${dir}/conf/log4j2.yaml`,
    `-Dkafka.logs.dir=${cwd}/${dir}/logs`,
    `-Dstack.node=kafka-${n}`,
    "-cp",
    `${cwd}/${dir}/libs/*`,
  ];
  if (!(await exists(`${dir}/data/node-${n}/meta.properties`))) {
    const clusterFile = `${dir}/data/cluster-id`;
    await Deno.mkdir(`${dir}/data`, { recursive: true });
    if (!(await exists(clusterFile))) {
      await Deno.writeTextFile(clusterFile, randomClusterId());
    }
    const clusterId = (await Deno.readTextFile(clusterFile)).trim();
    await runCommand(java, [
      ...common,
      "kafka.tools.StorageTool",
      "format",
      "-t",
      clusterId,
      "-c",
      conf,
    ]);
  }
  return [...common, "kafka.Kafka", conf];
}

function registryArgs(dir: string, port: number): string[] {
  const cwd = Deno.cwd();
  return [
    "-Xms64m",
    "-Xmx384m",
    `-Dquarkus.http.port=${port}`,
    "-Dquarkus.http.host=127.0.0.1",
    "-Dquarkus.log.console.enable=false",
    "-Dquarkus.log.file.enable=true",
    `-Dquarkus.log.file.path=${cwd}/${dir}/logs/registry.log`,
    "-jar",
    `${cwd}/${dir}/apicurio/quarkus-run.jar`,
  ];
}

/** A KRaft cluster id: 16 random bytes, base64url without padding. */
function randomClusterId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll(
    "/",
    "_",
  ).replace(/=+$/, "");
}

function pidFile(dir: string, name: string): string {
  return `${dir}/run/${name}.pid`;
}

/** The pid of a running service the stack started, or undefined. */
async function runningPid(
  dir: string,
  name: string,
): Promise<number | undefined> {
  const text = await Deno.readTextFile(pidFile(dir, name)).catch(() =>
    undefined
  );
  const pid = Number(text);
  if (!text || !Number.isInteger(pid)) return undefined;
  return (await isOurs(dir, name, pid)) ? pid : undefined;
}

/**
 * True when `pid` is alive and its command line is the one the stack ran
 * (guards against pid reuse). Asks `ps`: Deno grants /proc only with -A.
 */
async function isOurs(
  dir: string,
  name: string,
  pid: number,
): Promise<boolean> {
  const output = await new Deno.Command("ps", {
    args: ["-o", "stat=,args=", "-p", String(pid)],
    stdin: "null",
  })
    .output();
  const line = new TextDecoder().decode(output.stdout).trim();
  if (!output.success || line === "" || line.startsWith("Z")) return false;
  const marker = name === "registry"
    ? `${dir}/apicurio/quarkus-run.jar`
    : `${dir}/conf/node-${name.slice(6)}.properties`;
  return line.includes(marker);
}

/** Sends a signal with `kill(1)`: Deno.kill needs unscoped --allow-run. */
async function signal(pid: number, name: "TERM" | "KILL"): Promise<void> {
  await new Deno.Command("kill", {
    args: [`-${name}`, String(pid)],
    stdin: "null",
    stderr: "null",
  }).output();
}

function assertPortFree(port: number, service: string): void {
  try {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `port ${port} (for ${service}) is taken by a process this stack did not start: stop it, or point KAFKA_BROKERS/SCHEMA_REGISTRY_URL at it and use STACK=external`,
      );
    }
    throw error;
  }
}

async function logTail(dir: string, name: string): Promise<string> {
  const text = await Deno.readTextFile(`${dir}/logs/${name}.log`).catch(() =>
    "(no log)"
  );
  return text.trimEnd().split("\n").slice(-10).join("\n");
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
