/**
 * The local stack's configuration as data: the ports (from the
 * configuration), each KRaft node's `server.properties`, the log4j2 file,
 * and the Java command lines of the brokers and the registry. Pure
 * functions: the processes module writes and runs what they return.
 *
 * @module
 */
import type { Config } from "@cryptocandles/config";

/** Where the stack listens, all on 127.0.0.1. */
export interface StackPorts {
  /** First broker port; brokers use 3 from here. @default {19090} */
  brokerPort: number;
  /** First controller port; controllers use 3 from here. @default {19093} */
  controllerPort: number;
  /** Schema registry port. @default {8081} */
  registryPort: number;
}

/** The contract's ports: brokers 19090-19092, controllers 19093-19095, registry 8081. */
export const DEFAULT_PORTS: Readonly<StackPorts> = {
  brokerPort: 19090,
  controllerPort: 19093,
  registryPort: 8081,
};

/** The KRaft node ids (each node is broker and controller). */
export const NODES: readonly number[] = [1, 2, 3];

/**
 * The stack's ports from the configuration: brokers from `KAFKA_BROKERS`
 * (three consecutive ports on 127.0.0.1 or localhost; controllers take the
 * three after them), the registry from `SCHEMA_REGISTRY_URL`'s port.
 *
 * @param config The brokers and registry URL.
 * @returns The ports (the contract's defaults for the default configuration).
 * @throws {TypeError} Naming the variable, when it does not describe a local
 *   stack (another host, not three brokers, ports not consecutive).
 *
 * @example
 * ```ts
 * import { stackPorts } from "@cryptocandles/launch";
 * const ports = stackPorts({
 *   kafka: { brokers: ["127.0.0.1:29090", "127.0.0.1:29091", "127.0.0.1:29092"] },
 *   registryUrl: "http://127.0.0.1:28081/apis/ccompat/v7",
 * });
 * console.log(ports); // { brokerPort: 29090, controllerPort: 29093, registryPort: 28081 }
 * ```
 */
export function stackPorts(
  config: { kafka: Pick<Config["kafka"], "brokers">; registryUrl: string },
): StackPorts {
  const local = (host: string) => host === "127.0.0.1" || host === "localhost";
  const brokers = config.kafka.brokers.map((b) => {
    const at = b.lastIndexOf(":");
    return { host: b.slice(0, at), port: Number(b.slice(at + 1)) };
  });
  const first = brokers[0]?.port;
  if (
    brokers.length !== NODES.length ||
    brokers.some((b, i) => !local(b.host) || b.port !== first + i)
  ) {
    throw new TypeError(
      `The local stack runs 3 brokers on consecutive ports of 127.0.0.1, and KAFKA_BROKERS is ${
        config.kafka.brokers.join(",")
      }: use such a list (the default is 127.0.0.1:19090,127.0.0.1:19091,127.0.0.1:19092), or STACK=external for another cluster`,
    );
  }
  const registry = new URL(config.registryUrl);
  if (!local(registry.hostname)) {
    throw new TypeError(
      `The local stack's registry listens on 127.0.0.1, and SCHEMA_REGISTRY_URL is ${config.registryUrl}`,
    );
  }
  return {
    brokerPort: first,
    controllerPort: first + NODES.length,
    registryPort: Number(
      registry.port || (registry.protocol === "https:" ? 443 : 80),
    ),
  };
}

/**
 * The port of node `node`'s SASL_SSL listener (`stack up --sasl-ssl`): ten
 * after its plain broker port, so 19100-19102 by default.
 *
 * @param brokerPort The first broker port.
 * @param node The node id, 1 to 3.
 * @returns The port.
 *
 * @example
 * ```ts
 * import { saslSslPort } from "@cryptocandles/launch";
 * console.log(saslSslPort(19090, 1)); // 19100
 * ```
 */
export function saslSslPort(brokerPort: number, node: number): number {
  return brokerPort + 10 + node - 1;
}

/** The TLS side of a SASL_SSL listener, for {@linkcode brokerProperties}. */
export interface SaslSslListener {
  /** Absolute path of the broker's PKCS#12 keystore (key and certificate chain). */
  keystore: string;
  /** The keystore's password. */
  password: string;
}

/** Options for {@linkcode brokerProperties}. */
export interface BrokerPropertiesOptions {
  /** The stack's ports. */
  ports: StackPorts;
  /** Absolute folder of the nodes' data. */
  dataDir: string;
  /**
   * Also listen with SASL_SSL (SCRAM-SHA-512 over TLS) on
   * {@linkcode saslSslPort}, as a hosted Kafka does. @default {undefined}
   */
  saslSsl?: SaslSslListener;
}

/**
 * One KRaft node's `server.properties` (broker and controller in one
 * process), with the contract's topic shape and replication 3 / min ISR 2.
 * With `saslSsl`, a second client listener demands SCRAM-SHA-512 over TLS;
 * the brokers and the registry keep talking PLAINTEXT among themselves.
 *
 * @param node The node id, 1 to 3.
 * @param options The ports, the absolute folder of the node data, and the optional SASL_SSL listener.
 * @returns The file's text.
 *
 * @example
 * ```ts
 * import { brokerProperties, DEFAULT_PORTS } from "@cryptocandles/launch";
 * const text = brokerProperties(1, { ports: DEFAULT_PORTS, dataDir: "/srv/stack/data" });
 * console.log(text.includes("listeners=PLAINTEXT://127.0.0.1:19090,CONTROLLER://127.0.0.1:19093")); // true
 * ```
 */
export function brokerProperties(
  node: number,
  options: BrokerPropertiesOptions,
): string {
  const { ports: { brokerPort, controllerPort }, dataDir, saslSsl } = options;
  const voters = NODES.map((n) => `${n}@127.0.0.1:${controllerPort + n - 1}`)
    .join(",");
  const broker = `127.0.0.1:${brokerPort + node - 1}`;
  const controller = `127.0.0.1:${controllerPort + node - 1}`;
  const secure = `127.0.0.1:${saslSslPort(brokerPort, node)}`;
  const tls = saslSsl
    ? [
      "sasl.enabled.mechanisms=SCRAM-SHA-512",
      "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
      "ssl.keystore.type=PKCS12",
      `ssl.keystore.location=${saslSsl.keystore}`,
      `ssl.keystore.password=${saslSsl.password}`,
      `ssl.key.password=${saslSsl.password}`,
    ]
    : [];
  return [
    "process.roles=broker,controller",
    `node.id=${node}`,
    `controller.quorum.voters=${voters}`,
    saslSsl
      ? `listeners=PLAINTEXT://${broker},CONTROLLER://${controller},SASL_SSL://${secure}`
      : `listeners=PLAINTEXT://${broker},CONTROLLER://${controller}`,
    saslSsl
      ? `advertised.listeners=PLAINTEXT://${broker},SASL_SSL://${secure}`
      : `advertised.listeners=PLAINTEXT://${broker}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    saslSsl
      ? "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL"
      : "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    ...tls,
    `log.dirs=${dataDir}/node-${node}`,
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
  ].join("\n");
}

/**
 * The brokers' log4j2 configuration: WARN and up, plus the start-up lines,
 * into `<kafka.logs.dir>/<stack.node>.log`.
 *
 * @returns The YAML text.
 *
 * @example
 * ```ts
 * import { log4jConfig } from "@cryptocandles/launch";
 * console.log(log4jConfig().includes("level: WARN")); // true
 * ```
 */
export function log4jConfig(): string {
  return `Configuration:
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
}

/**
 * The path of node `node`'s properties file; also what tells the stack's
 * processes apart in `ps`.
 *
 * @param stackDir The absolute stack folder.
 * @param node The node id.
 * @returns Such as `/srv/project/.stack/conf/node-1.properties`.
 *
 * @example
 * ```ts
 * import { nodeConfigFile } from "@cryptocandles/launch";
 * console.log(nodeConfigFile("/p/.stack", 2)); // "/p/.stack/conf/node-2.properties"
 * ```
 */
export function nodeConfigFile(stackDir: string, node: number): string {
  return `${stackDir}/conf/node-${node}.properties`;
}

/**
 * The registry's jar; also what tells its process apart in `ps`.
 *
 * @param stackDir The absolute stack folder.
 * @returns Such as `/srv/project/.stack/apicurio/quarkus-run.jar`.
 *
 * @example
 * ```ts
 * import { registryJar } from "@cryptocandles/launch";
 * console.log(registryJar("/p/.stack")); // "/p/.stack/apicurio/quarkus-run.jar"
 * ```
 */
export function registryJar(stackDir: string): string {
  return `${stackDir}/apicurio/quarkus-run.jar`;
}

/**
 * The JVM arguments of a Kafka node (heap, G1, log4j, class path of the
 * stack's jars), before its main class.
 *
 * @param node The node id.
 * @param stackDir The absolute stack folder.
 * @returns The arguments.
 *
 * @example
 * ```ts
 * import { kafkaJvmArgs } from "@cryptocandles/launch";
 * console.log(kafkaJvmArgs(1, "/p/.stack").at(-1)); // "/p/.stack/libs/*"
 * ```
 */
export function kafkaJvmArgs(node: number, stackDir: string): string[] {
  return [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    `-Dlog4j2.configurationFile=${stackDir}/conf/log4j2.yaml`,
    `-Dkafka.logs.dir=${stackDir}/logs`,
    `-Dstack.node=kafka-${node}`,
    "-cp",
    `${stackDir}/libs/*`,
  ];
}

/**
 * The Java arguments that run Kafka node `node`.
 *
 * @param node The node id.
 * @param stackDir The absolute stack folder.
 * @returns The arguments (JVM options, `kafka.Kafka`, the properties file).
 *
 * @example
 * ```ts
 * import { kafkaArgs } from "@cryptocandles/launch";
 * console.log(kafkaArgs(3, "/p/.stack").slice(-2)); // ["kafka.Kafka", "/p/.stack/conf/node-3.properties"]
 * ```
 */
export function kafkaArgs(node: number, stackDir: string): string[] {
  return [
    ...kafkaJvmArgs(node, stackDir),
    "kafka.Kafka",
    nodeConfigFile(stackDir, node),
  ];
}

/**
 * The Java arguments that format node `node`'s storage once, with the
 * stack's cluster id (`kafka-storage.sh format`).
 *
 * @param node The node id.
 * @param stackDir The absolute stack folder.
 * @param clusterId The cluster id ({@linkcode clusterIdFrom}).
 * @returns The arguments.
 *
 * @example
 * ```ts
 * import { formatArgs } from "@cryptocandles/launch";
 * console.log(formatArgs(1, "/p/.stack", "abc").includes("kafka.tools.StorageTool")); // true
 * ```
 */
export function formatArgs(
  node: number,
  stackDir: string,
  clusterId: string,
): string[] {
  return [
    ...kafkaJvmArgs(node, stackDir),
    "kafka.tools.StorageTool",
    "format",
    "-t",
    clusterId,
    "-c",
    nodeConfigFile(stackDir, node),
  ];
}

/**
 * The port of the registry's management interface (Quarkus health and
 * metrics): the one after its API port. Quarkus would take 0.0.0.0:9000,
 * which a second stack could not share and which other machines could reach.
 *
 * @param port The registry's API port.
 * @returns The management port.
 *
 * @example
 * ```ts
 * import { registryManagementPort } from "@cryptocandles/launch";
 * console.log(registryManagementPort(8081)); // 8082
 * ```
 */
export function registryManagementPort(port: number): number {
  return port + 1;
}

/**
 * The Kafka topic in which the local registry keeps its schemas (Apicurio's
 * KafkaSQL storage), the same name `compose.yaml` uses.
 *
 * @example
 * ```ts
 * import { REGISTRY_JOURNAL_TOPIC } from "@cryptocandles/launch";
 * console.log(REGISTRY_JOURNAL_TOPIC); // "kafkasql-journal"
 * ```
 */
export const REGISTRY_JOURNAL_TOPIC = "kafkasql-journal";

/** Options for {@linkcode registryArgs}. */
export interface RegistryArgsOptions {
  /** First broker port of the stack (its three brokers hold the journal). @default {19090} */
  brokerPort?: number;
}

/**
 * The Java arguments that run Apicurio Registry on 127.0.0.1:`port` (its
 * management interface on 127.0.0.1:{@linkcode registryManagementPort}),
 * logging to `<stackDir>/logs/registry.log`, its schemas kept in the
 * stack's Kafka (KafkaSQL storage, topic {@linkcode REGISTRY_JOURNAL_TOPIC},
 * as in `compose.yaml`): Apicurio's default in-memory storage would forget
 * every schema on restart while Kafka keeps the records that name their ids.
 *
 * @param port The registry port.
 * @param stackDir The absolute stack folder.
 * @param options The brokers' first port.
 * @returns The arguments.
 *
 * @example
 * ```ts
 * import { registryArgs } from "@cryptocandles/launch";
 * console.log(registryArgs(8081, "/p/.stack").includes("-Dquarkus.http.port=8081")); // true
 * ```
 */
export function registryArgs(
  port: number,
  stackDir: string,
  options: RegistryArgsOptions = {},
): string[] {
  const { brokerPort = DEFAULT_PORTS.brokerPort } = options;
  const brokers = NODES.map((n) => `127.0.0.1:${brokerPort + n - 1}`);
  return [
    "-Xms64m",
    "-Xmx384m",
    `-Dquarkus.http.port=${port}`,
    "-Dquarkus.http.host=127.0.0.1",
    `-Dquarkus.management.port=${registryManagementPort(port)}`,
    "-Dquarkus.management.host=127.0.0.1",
    "-Dquarkus.log.console.enable=false",
    "-Dquarkus.log.file.enable=true",
    `-Dquarkus.log.file.path=${stackDir}/logs/registry.log`,
    "-Dapicurio.storage.kind=kafkasql",
    `-Dapicurio.kafkasql.bootstrap.servers=${brokers.join(",")}`,
    `-Dapicurio.kafkasql.topic=${REGISTRY_JOURNAL_TOPIC}`,
    "-jar",
    registryJar(stackDir),
  ];
}

/**
 * A KRaft cluster id from 16 bytes: base64url without padding.
 *
 * @param bytes 16 random bytes.
 * @returns The id, 22 characters.
 *
 * @example
 * ```ts
 * import { clusterIdFrom } from "@cryptocandles/launch";
 * console.log(clusterIdFrom(new Uint8Array(16))); // "AAAAAAAAAAAAAAAAAAAAAA"
 * ```
 */
export function clusterIdFrom(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-")
    .replaceAll("/", "_").replace(/=+$/, "");
}
