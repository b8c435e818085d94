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
import { stopProcesses } from "./stop.ts";
import { loadConfig } from "@cryptocandles/config";
import { createKafka } from "@cryptocandles/kafka";
import {
  createLogger,
  delay,
  describeProcess,
  exists,
  type Logger,
  retry,
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
  kafkaJvmArgs,
  log4jConfig,
  nodeConfigFile,
  NODES,
  REGISTRY_JOURNAL_TOPIC,
  registryArgs,
  registryJar,
  registryManagementPort,
  type SaslSslListener,
  saslSslPort,
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
  /**
   * Stops a start-up in progress (Ctrl-C): what it started is stopped, and
   * `stackUp` rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /**
   * Brokers started by this call also listen with SASL_SSL (SCRAM-SHA-512
   * over TLS, a private CA) on {@linkcode saslSslPort}, as a hosted Kafka
   * does; see {@linkcode saslSslSettings}. @default {false}
   */
  saslSsl?: boolean;
}

/** The SCRAM user `stack up --sasl-ssl` creates. */
export const SASL_USERNAME = "cryptocandles";

/** What a client needs to reach the SASL_SSL listeners, from {@linkcode saslSslSettings}. */
export interface SaslSslSettings {
  /** The SASL_SSL bootstrap list. */
  brokers: string[];
  /** Path of the private CA's certificate (PEM), for `KAFKA_SSL_CA`. */
  caFile: string;
  /** The SCRAM-SHA-512 user. */
  username: string;
  /** Path of the file holding its password (mode 0600). */
  passwordFile: string;
}

/**
 * Where the SASL_SSL listeners of `stack up --sasl-ssl` are and how to
 * sign in: the variables a script takes are `KAFKA_BROKERS` (these
 * brokers), `KAFKA_SSL=true`, `KAFKA_SSL_CA` (the CA file),
 * `KAFKA_SASL_MECHANISM=scram-sha-512`, `KAFKA_SASL_USERNAME` and
 * `KAFKA_SASL_PASSWORD` (the password file's content).
 *
 * @param options Folder and ports.
 * @returns The brokers and the paths (absolute) of the CA and the password.
 *
 * @example
 * ```ts
 * import { saslSslSettings } from "@cryptocandles/launch";
 * console.log(saslSslSettings({ dir: "/p/.stack" }).brokers[0]); // "127.0.0.1:19100"
 * ```
 */
export function saslSslSettings(options: StackOptions = {}): SaslSslSettings {
  const stackDir = absolute(options.dir ?? ".stack");
  const { brokerPort } = portsOf(options);
  return {
    brokers: NODES.map((n) => `127.0.0.1:${saslSslPort(brokerPort, n)}`),
    caFile: `${stackDir}/tls/ca.pem`,
    username: SASL_USERNAME,
    passwordFile: `${stackDir}/secrets/kafka-sasl-password`,
  };
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
 * Starts what is not running yet and waits until it is ready: first the
 * brokers (each one accepts a Kafka connection and lists all three in its
 * metadata), then the registry, whose schemas live in the brokers (journal
 * topic {@linkcode REGISTRY_JOURNAL_TOPIC}, created here with 1 partition,
 * replication 3, min ISR 2, kept forever), until it answers. Idempotent:
 * running services are reused. A process of this stack left without a pid
 * file (a node still shutting down, an orphan of a crashed start) is
 * stopped first. When a service fails to start, everything this call
 * started is stopped again, and the error names the service with its last
 * log lines, so the next call starts from a clean slate.
 *
 * @param options Folder, ports, logger and timeout.
 * @returns The names of the services this call started (empty when all ran).
 * @throws {Error} When a port is taken by a process the stack did not start,
 *   when Maven or Java 21+ is missing, when a service exits during start-up,
 *   or when readiness times out (with the log tail).
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
  await stopLeftovers(dir, missing.map((s) => s.name), log);
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
  const saslSsl = await saslSslMode(dir, status, options.saslSsl ?? false);
  const tls = saslSsl ? await ensureTls(dir, java, log) : undefined;
  for (const n of NODES) {
    await Deno.writeTextFile(
      nodeConfigFile(stackDir, n),
      brokerProperties(n, { ports, dataDir: `${stackDir}/data`, saslSsl: tls }),
    );
  }
  await Deno.writeTextFile(`${dir}/conf/log4j2.yaml`, log4jConfig());
  const deadline = Date.now() + timeoutMs;
  const started: string[] = [];
  const start = async (name: string, args: string[]) => {
    const pid = spawnDetached(java, args);
    await Deno.writeTextFile(pidFile(dir, name), String(pid));
    started.push(name);
    const { ports } = stackServices(options).find((s) => s.name === name)!;
    log?.info(`started ${name}`, { pid, ports: ports.join(",") });
  };
  const { signal } = options;
  try {
    for (const { name } of missing.filter((s) => s.name !== "registry")) {
      signal?.throwIfAborted();
      const node = Number(name.slice("kafka-".length));
      await formatOnce(dir, stackDir, node, java).catch((error) => {
        throw new Error(`${name} could not format its storage: ${error}`);
      });
      await start(name, kafkaArgs(node, stackDir));
    }
    await waitBrokers(options, deadline);
    if (tls) await ensureScramUser(dir, java, ports, log);
    signal?.throwIfAborted();
    if (missing.some((s) => s.name === "registry")) {
      await ensureJournal(options);
      await start(
        "registry",
        registryArgs(ports.registryPort, stackDir, ports),
      );
    }
    await waitRegistry(options, deadline);
  } catch (error) {
    if (started.length > 0) {
      const why = signal?.aborted ? "stopped" : "failed";
      log?.warn(`start-up ${why}: stopping what it started`, {
        services: started.join(","),
      });
      await stopServices({ ...options, only: started });
      for (const name of started) {
        await Deno.remove(pidFile(dir, name)).catch(() => {});
      }
    }
    throw error;
  }
  log?.info("stack ready", {
    brokers: brokerList(ports).join(","),
    registry: `http://127.0.0.1:${ports.registryPort}`,
  });
  if (tls) {
    const settings = saslSslSettings(options);
    // The password's file is named in the message: the logger hides any
    // field whose name says password.
    log?.info(
      `SASL_SSL listeners (SCRAM-SHA-512) on ${
        settings.brokers.join(",")
      }: user ${settings.username}, its password in ${settings.passwordFile}, CA ${settings.caFile}`,
    );
  }
  return started;
}

/**
 * Stops the services the stack started (by pid, SIGTERM then SIGKILL after
 * 30 s), and with `clean` removes their data and logs. Waits while a
 * {@linkcode stackUp} is starting services (they share `<dir>/up.lock`).
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
  const { dir = ".stack", log, clean = false, timeoutMs = 180_000 } = options;
  // Not while an `up` is starting services: it would stop them half-way,
  // or remove the pid files of the new processes (orphans).
  await using _lock = await lockStack(dir, timeoutMs);
  const stopped = await stopServices(options);
  if (clean) {
    for (const sub of ["data", "logs", "run", "conf"]) {
      await Deno.remove(`${dir}/${sub}`, { recursive: true }).catch(() => {});
    }
    log?.info("removed stack data and logs", { dir });
  }
  return stopped;
}

/** Stops the running services (those of `only`), without taking the lock. */
async function stopServices(
  options: StackOptions & { only?: string[] },
): Promise<string[]> {
  const { dir = ".stack", log, only } = options;
  const running = (await stackStatus(options)).filter((s) =>
    s.running && (!only || only.includes(s.name))
  );
  const stop = (names: typeof running) =>
    stopProcesses(names.map((s) => ({ name: s.name, pid: s.pid! })), {
      isOurs: (name, pid) => isOurs(dir, name, pid),
      pidFile: (name) => pidFile(dir, name),
      graceMs: 30_000,
      log,
    });
  // The registry keeps its schemas in Kafka: stopped together with the
  // brokers it waits 30 s for them on its way out (measured), so it stops
  // first, as it starts last.
  const registry = running.filter((s) => s.name === "registry");
  const brokers = running.filter((s) => s.name !== "registry");
  return [...await stop(registry), ...await stop(brokers)];
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

function brokerList(ports: StackPorts): string[] {
  return NODES.map((n) => `127.0.0.1:${ports.brokerPort + n - 1}`);
}

/** Throws, with its last log lines, when a service of the stack is not running. */
async function assertAlive(dir: string, names: string[]): Promise<void> {
  for (const name of names) {
    if (!(await runningPid(dir, name))) {
      throw new Error(
        `${name} exited during start-up; last lines of ${dir}/logs/${name}.log: ${await logTail(
          dir,
          name,
        )}`,
      );
    }
  }
}

/**
 * Waits until each broker accepts a Kafka connection of its own and lists
 * all three brokers. Asking one broker is not enough: after a SIGKILL the
 * dead broker's registration lingers in the others' metadata for seconds.
 */
async function waitBrokers(
  options: StackOptions,
  deadline: number,
): Promise<void> {
  const { dir = ".stack" } = options;
  const brokers = brokerList(portsOf(options));
  const ready = new Set<string>();
  while (true) {
    await assertAlive(dir, NODES.map((n) => `kafka-${n}`));
    for (const broker of brokers) {
      if (!ready.has(broker) && await countBrokers([broker]) === NODES.length) {
        ready.add(broker);
      }
    }
    if (ready.size === brokers.length) return;
    options.signal?.throwIfAborted();
    if (Date.now() > deadline) {
      const waiting = brokers.filter((b) => !ready.has(b));
      throw new Error(
        `brokers not ready after ${(options.timeoutMs ?? 180_000) / 1000} s: ${
          waiting.join(", ")
        } did not answer with all ${NODES.length} brokers in its metadata; logs are in ${dir}/logs`,
      );
    }
    await delay(500);
  }
}

async function waitRegistry(
  options: StackOptions,
  deadline: number,
): Promise<void> {
  const { dir = ".stack" } = options;
  const { registryPort } = portsOf(options);
  const url = `http://127.0.0.1:${registryPort}/apis/ccompat/v7/subjects`;
  while (true) {
    await assertAlive(dir, ["registry"]);
    const up = await fetch(url, { signal: AbortSignal.timeout(5_000) })
      .then(async (r) => (await r.body?.cancel(), r.ok), () => false);
    if (up) return;
    options.signal?.throwIfAborted();
    if (Date.now() > deadline) {
      throw new Error(
        `registry not ready after ${
          (options.timeoutMs ?? 180_000) / 1000
        } s (${url} did not answer 200); last lines of ${dir}/logs/registry.log: ${await logTail(
          dir,
          "registry",
        )}`,
      );
    }
    await delay(1000);
  }
}

/**
 * Creates the registry's journal topic unless it exists: one partition (a
 * total order; Apicurio 3.3.3 keys every journal message with the same
 * partition key anyway), replication 3, min ISR 2, never deleted nor
 * compacted (Apicurio refuses to start on a journal with a retention).
 */
async function ensureJournal(options: StackOptions): Promise<void> {
  const admin = stackKafka(brokerList(portsOf(options)), 5).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: false,
      topics: [{
        topic: REGISTRY_JOURNAL_TOPIC,
        numPartitions: 1,
        replicationFactor: NODES.length,
        configEntries: [
          { name: "min.insync.replicas", value: "2" },
          { name: "cleanup.policy", value: "delete" },
          { name: "retention.ms", value: "-1" },
          { name: "retention.bytes", value: "-1" },
        ],
      }],
    });
    await retry(async () => {
      const { topics } = await admin.fetchTopicMetadata({
        topics: [REGISTRY_JOURNAL_TOPIC],
      });
      if (!topics[0]?.partitions.every((p) => p.leader >= 0)) {
        throw new Error(`${REGISTRY_JOURNAL_TOPIC} has no leader yet`);
      }
    }, { maxAttempts: 40, minTimeout: 100, maxTimeout: 1000 });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

function stackKafka(brokers: string[], retries: number) {
  const kafka = { ...loadConfig(new Map()).kafka, brokers };
  return createKafka(kafka, {
    clientId: "stack-wait",
    log: createLogger("stack-wait", { write: () => {} }),
    retry: { retries },
    connectionTimeout: 1000,
  });
}

/** How many brokers the metadata of `brokers` lists (0 when none answers). */
async function countBrokers(brokers: string[]): Promise<number> {
  const admin = stackKafka(brokers, 0).admin();
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

/**
 * Stops processes of this stack folder that run as one of `names` without
 * a pid file (a previous node still shutting down, an orphan of a start
 * that crashed): SIGTERM, then SIGKILL after 30 s. They would hold the
 * ports or the data directory's lock of the node about to start.
 */
async function stopLeftovers(
  dir: string,
  names: string[],
  log?: Logger,
): Promise<void> {
  const { stdout } = await runCommand("ps", ["-eo", "pid=,args="], {
    check: false,
  });
  for (const name of names) {
    const marker = markerOf(dir, name);
    const pids = stdout.split("\n")
      .map((line) => /^\s*(\d+)\s+(.*)$/.exec(line))
      .filter((m) => m !== null && m[2].split(" ").includes(marker))
      .map((m) => Number(m![1]));
    for (const pid of pids) {
      log?.warn(
        `stopping a ${name} of this stack that has no pid file (still shutting down, or left by a failed start)`,
        { pid },
      );
      await signalProcess(pid, "TERM");
      const deadline = Date.now() + 30_000;
      while (await describeProcess(pid) && Date.now() < deadline) {
        await delay(200);
      }
      if (await describeProcess(pid)) await signalProcess(pid, "KILL");
    }
  }
}

/**
 * Whether the brokers run with SASL_SSL listeners: as the running ones do
 * (their properties file says), else as asked.
 *
 * @throws {Error} When `--sasl-ssl` is asked of brokers running without it.
 */
async function saslSslMode(
  dir: string,
  status: ServiceStatus[],
  asked: boolean,
): Promise<boolean> {
  const running = status.filter((s) => s.running && s.name !== "registry");
  if (running.length === 0) return asked;
  const node = Number(running[0].name.slice("kafka-".length));
  const text = await Deno.readTextFile(
    nodeConfigFile(absolute(dir), node),
  ).catch(() => "");
  const has = /^listeners=.*SASL_SSL:\/\//m.test(text);
  if (asked && !has) {
    throw new Error(
      `the brokers run without SASL_SSL listeners: "stack down" first, then "stack up --sasl-ssl"`,
    );
  }
  return has;
}

/** Writes `text` to `path`, readable by this user only. */
async function writeSecret(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}

/** A random password: 24 random bytes, base64url. */
function randomSecret(): string {
  return clusterIdFrom(crypto.getRandomValues(new Uint8Array(24)));
}

/**
 * A private CA and a broker certificate for 127.0.0.1/localhost signed by
 * it, made once with the JDK's keytool into `<dir>/tls/` (passwords read
 * from files, never on a command line): `ca.pem` for the clients
 * (`KAFKA_SSL_CA`), `broker.p12` for the brokers.
 */
async function ensureTls(
  dir: string,
  java: string,
  log?: Logger,
): Promise<SaslSslListener> {
  const tlsDir = `${absolute(dir)}/tls`;
  const passFile = `${tlsDir}/store-password`;
  const keystore = `${tlsDir}/broker.p12`;
  if (await exists(keystore) && await exists(`${tlsDir}/ca.pem`)) {
    return { keystore, password: (await Deno.readTextFile(passFile)).trim() };
  }
  await Deno.remove(tlsDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(tlsDir, { recursive: true, mode: 0o700 });
  const password = randomSecret();
  await writeSecret(passFile, password);
  const keytool = java.replace(/java$/, "keytool");
  const san = "SAN=ip:127.0.0.1,dns:localhost";
  const pass = [`-storepass:file`, passFile, `-keypass:file`, passFile];
  const ca = [...pass, "-keystore", `${tlsDir}/ca.p12`, "-storetype", "PKCS12"];
  const broker = [...pass, "-keystore", keystore, "-storetype", "PKCS12"];
  const steps = [
    [
      "-genkeypair",
      "-alias",
      "ca",
      "-keyalg",
      "RSA",
      "-keysize",
      "2048",
      "-validity",
      "3650",
      "-dname",
      "CN=cryptocandles local CA",
      "-ext",
      "bc:c",
      ...ca,
    ],
    ["-exportcert", "-rfc", "-alias", "ca", "-file", `${tlsDir}/ca.pem`, ...ca],
    [
      "-genkeypair",
      "-alias",
      "broker",
      "-keyalg",
      "RSA",
      "-keysize",
      "2048",
      "-validity",
      "3650",
      "-dname",
      "CN=127.0.0.1",
      "-ext",
      san,
      ...broker,
    ],
    [
      "-certreq",
      "-alias",
      "broker",
      "-file",
      `${tlsDir}/broker.csr`,
      ...broker,
    ],
    [
      "-gencert",
      "-alias",
      "ca",
      "-rfc",
      "-validity",
      "3650",
      "-ext",
      san,
      "-infile",
      `${tlsDir}/broker.csr`,
      "-outfile",
      `${tlsDir}/broker.pem`,
      ...ca,
    ],
    [
      "-importcert",
      "-noprompt",
      "-alias",
      "ca",
      "-file",
      `${tlsDir}/ca.pem`,
      ...broker,
    ],
    [
      "-importcert",
      "-noprompt",
      "-alias",
      "broker",
      "-file",
      `${tlsDir}/broker.pem`,
      ...broker,
    ],
  ];
  for (const args of steps) await runCommand(keytool, args);
  log?.info("made a private CA and a broker certificate for 127.0.0.1", {
    ca: `${tlsDir}/ca.pem`,
  });
  return { keystore, password };
}

/**
 * Creates (or updates) the SCRAM-SHA-512 user {@linkcode SASL_USERNAME}
 * with Kafka's own `kafka-configs` (ConfigCommand) over the plain
 * listener, its password generated once into
 * `<dir>/secrets/kafka-sasl-password` and handed over in a file.
 */
async function ensureScramUser(
  dir: string,
  java: string,
  ports: StackPorts,
  log?: Logger,
): Promise<void> {
  const stackDir = absolute(dir);
  await Deno.mkdir(`${dir}/secrets`, { recursive: true });
  const passwordFile = `${stackDir}/secrets/kafka-sasl-password`;
  if (!(await exists(passwordFile))) {
    await writeSecret(passwordFile, randomSecret());
  }
  const password = (await Deno.readTextFile(passwordFile)).trim();
  const configFile = `${stackDir}/secrets/scram-config.properties`;
  await writeSecret(
    configFile,
    // A properties file: no [brackets] (only --add-config strips those).
    `SCRAM-SHA-512=iterations=8192,password=${password}\n`,
  );
  try {
    await runCommand(java, [
      ...kafkaJvmArgs(0, stackDir),
      "kafka.admin.ConfigCommand",
      "--bootstrap-server",
      `127.0.0.1:${ports.brokerPort}`,
      "--alter",
      "--add-config-file",
      configFile,
      "--entity-type",
      "users",
      "--entity-name",
      SASL_USERNAME,
    ]);
  } finally {
    await Deno.remove(configFile).catch(() => {});
  }
  log?.info(`SCRAM-SHA-512 user ${SASL_USERNAME} is set`);
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
  return info !== undefined && info.args.includes(markerOf(dir, name));
}

/** The file a service's command line names: its properties file, or the registry's jar. */
function markerOf(dir: string, name: string): string {
  const stackDir = absolute(dir);
  return name === "registry"
    ? registryJar(stackDir)
    : nodeConfigFile(stackDir, Number(name.slice("kafka-".length)));
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

/**
 * The last lines of a service's log that say something, joined by " | ":
 * Java stack frames are left out (the exception's message above them is
 * the why), and a JSON line (the registry's) reads as its level and message.
 */
async function logTail(dir: string, name: string, count = 6): Promise<string> {
  const text = await Deno.readTextFile(`${dir}/logs/${name}.log`).catch(() =>
    "(no log)"
  );
  const lines = text.split("\n")
    .filter((l) => l.trim() !== "" && !/^\s+at |^\s*\.\.\. \d+ more/.test(l))
    .map((line) => {
      try {
        const { level, message } = JSON.parse(line);
        return `${level} ${message}`;
      } catch {
        return line;
      }
    });
  return lines.slice(-count).join(" | ");
}
