/**
 * The local stack's processes, without Docker: three Kafka 4.3.1 KRaft
 * nodes (broker + controller each) and Apicurio Registry 3.3.3, run from
 * jars that Maven fetches into `.stack/`, on the JDK that `java.ts` links
 * as `.stack/jdk`. Starting (with pid files), readiness, status and
 * stopping; the configuration they run with comes from `render.ts`. Used by
 * `deno task stack`, the test task, the benchmarks and `launch.ts`.
 *
 * @module
 */
import { loadConfig } from "@cryptocandles/config";
import { createKafka } from "@cryptocandles/kafka";
import {
  createLogger,
  delay,
  describeProcess,
  exists,
  type Logger,
  runCommand,
  signalProcess,
  spawnDetached,
} from "@cryptocandles/runtime";
import { ensureJdk } from "./java.ts";
import {
  brokerProperties,
  clusterIdFrom,
  DEFAULT_PORTS,
  formatArgs,
  kafkaArgs,
  log4jConfig,
  nodeConfigFile,
  NODES,
  registryArgs,
  registryJar,
  registryManagementPort,
  type StackPorts,
} from "./render.ts";

/** One process of the stack. */
export interface Service {
  /** `kafka-1`, `kafka-2`, `kafka-3` or `registry`. */
  name: string;
  /** Ports it listens on, all on 127.0.0.1 (the registry's second is its management interface). */
  ports: number[];
}

/** Options shared by the stack functions. */
export interface StackOptions extends Partial<StackPorts> {
  /** The folder for jars, the JDK link, data, logs and pids. @default {".stack"} */
  dir?: string;
  /** Maven project that lists the jars. @default {"stack/pom.xml"} */
  pom?: string;
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
  const { brokerPort, controllerPort, registryPort } = portsOf(options);
  return [
    ...NODES.map((n) => ({
      name: `kafka-${n}`,
      ports: [brokerPort + n - 1, controllerPort + n - 1],
    })),
    {
      name: "registry",
      ports: [registryPort, registryManagementPort(registryPort)],
    },
  ];
}

/**
 * Reports which services of the stack run, by the pids the stack wrote
 * (checked against each process's command line, so a reused pid is not
 * taken for ours).
 *
 * @param options Folder and ports.
 * @returns One entry per service.
 *
 * @example
 * ```ts ignore
 * import { stackStatus } from "@cryptocandles/launch";
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
 *   when Maven or Java 21+ is missing, or when readiness times out (with the log tail).
 *
 * @example
 * ```ts ignore
 * import { stackUp } from "@cryptocandles/launch";
 * const started = await stackUp({ log });
 * ```
 */
export async function stackUp(options: StackOptions = {}): Promise<string[]> {
  const { dir = ".stack", pom = "stack/pom.xml", log, timeoutMs = 180_000 } =
    options;
  let status = await stackStatus(options);
  // Another `up` (a second terminal, a test run) may be starting the same
  // services: one at a time, and look again once it is done.
  await using _lock = status.every((s) => s.running)
    ? undefined
    : await lockStack(dir, timeoutMs);
  if (_lock) status = await stackStatus(options);
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
  const stackDir = absolute(dir);
  await fetchJars(dir, pom, log);
  const java = await ensureJdk({ dir, log });
  for (const sub of ["logs", "run", "conf", "data"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  const ports = portsOf(options);
  for (const n of NODES) {
    await Deno.writeTextFile(
      nodeConfigFile(stackDir, n),
      brokerProperties(n, { ports, dataDir: `${stackDir}/data` }),
    );
  }
  await Deno.writeTextFile(`${dir}/conf/log4j2.yaml`, log4jConfig());
  for (const service of missing) {
    let args: string[];
    if (service.name === "registry") {
      args = registryArgs(service.ports[0], stackDir);
    } else {
      const node = Number(service.name.slice("kafka-".length));
      await formatOnce(dir, stackDir, node, java);
      args = kafkaArgs(node, stackDir);
    }
    const pid = spawnDetached(java, args);
    await Deno.writeTextFile(pidFile(dir, service.name), String(pid));
    log?.info(`started ${service.name}`, {
      pid,
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
 * import { stackDown } from "@cryptocandles/launch";
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
  for (const s of running) await signalProcess(s.pid!, "TERM");
  const deadline = Date.now() + 30_000;
  for (const s of running) {
    while (await isOurs(dir, s.name, s.pid!) && Date.now() < deadline) {
      await delay(200);
    }
    if (await isOurs(dir, s.name, s.pid!)) {
      log?.warn(`${s.name} ignored SIGTERM for 30 s, killing`, { pid: s.pid });
      await signalProcess(s.pid!, "KILL");
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

function portsOf(options: StackOptions): StackPorts {
  const {
    brokerPort = DEFAULT_PORTS.brokerPort,
    controllerPort = brokerPort + NODES.length,
    registryPort = DEFAULT_PORTS.registryPort,
  } = options;
  return { brokerPort, controllerPort, registryPort };
}

/** `dir` as an absolute path, links not resolved (the command lines name it so). */
function absolute(dir: string): string {
  return dir.startsWith("/")
    ? dir
    : `${Deno.cwd()}/${dir.replace(/^\.\//, "")}`;
}

async function waitReady(
  options: StackOptions,
  timeoutMs: number,
): Promise<void> {
  const { dir = ".stack", log } = options;
  const { brokerPort, registryPort } = portsOf(options);
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
    if (brokersUp < NODES.length) brokersUp = await countBrokers(brokers);
    if (!registryUp) {
      registryUp = await fetch(
        `http://127.0.0.1:${registryPort}/apis/ccompat/v7/subjects`,
      )
        .then(async (r) => (await r.body?.cancel(), r.ok), () => false);
    }
    if (brokersUp === NODES.length && registryUp) {
      log?.info("stack ready", {
        brokers: brokers.join(","),
        registry: `http://127.0.0.1:${registryPort}`,
      });
      return;
    }
    await delay(1000);
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
  const mvn = ["-q", "-B", "-f", pom];
  await runCommand("mvn", [
    ...mvn,
    "dependency:copy-dependencies",
    `-DoutputDirectory=${absolute(dir)}/libs`,
  ]);
  await runCommand("mvn", [...mvn, "dependency:unpack@apicurio"]);
  await Deno.writeTextFile(marker, new Date().toISOString());
}

/** Formats node `node`'s storage with the stack's cluster id, unless done before. */
async function formatOnce(
  dir: string,
  stackDir: string,
  node: number,
  java: string,
): Promise<void> {
  if (await exists(`${dir}/data/node-${node}/meta.properties`)) return;
  const clusterFile = `${dir}/data/cluster-id`;
  if (!(await exists(clusterFile))) {
    const id = clusterIdFrom(crypto.getRandomValues(new Uint8Array(16)));
    await Deno.writeTextFile(clusterFile, id);
  }
  const clusterId = (await Deno.readTextFile(clusterFile)).trim();
  await runCommand(java, formatArgs(node, stackDir, clusterId));
}

/**
 * Holds `<dir>/up.lock` (with this process's pid) until disposed; waits
 * while a live process holds it, and takes over from a dead one.
 */
async function lockStack(
  dir: string,
  timeoutMs: number,
): Promise<AsyncDisposable> {
  const file = `${dir}/up.lock`;
  await Deno.mkdir(dir, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      await Deno.writeTextFile(file, String(Deno.pid), { createNew: true });
      return { [Symbol.asyncDispose]: () => Deno.remove(file).catch(() => {}) };
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    const holder = Number(await Deno.readTextFile(file).catch(() => ""));
    if (!holder || !(await describeProcess(holder))) {
      await Deno.remove(file).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `another "stack up" (pid ${holder}) has held ${file} for ${
          timeoutMs / 1000
        } s`,
      );
    }
    await delay(500);
  }
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
 * True when `pid` is alive and its command line names this stack folder's
 * file of the service (guards against pid reuse and against another
 * checkout's stack).
 */
async function isOurs(
  dir: string,
  name: string,
  pid: number,
): Promise<boolean> {
  const info = await describeProcess(pid);
  if (!info) return false;
  const stackDir = absolute(dir);
  const marker = name === "registry"
    ? registryJar(stackDir)
    : nodeConfigFile(stackDir, Number(name.slice("kafka-".length)));
  return info.args.includes(marker);
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
