import assert from "node:assert/strict";
import { loadConfig } from "@cryptocandles/config";
import {
  brokerProperties,
  clusterIdFrom,
  formatArgs,
  kafkaArgs,
  log4jConfig,
  registryArgs,
  stackPorts,
} from "@cryptocandles/launch";

const config = (env: Record<string, string>) =>
  loadConfig(new Map(Object.entries(env)));

Deno.test("stackPorts() of the default configuration are the contract's: brokers 19090, controllers 19093, registry 8081", () => {
  assert.deepEqual(stackPorts(config({})), {
    brokerPort: 19090,
    controllerPort: 19093,
    registryPort: 8081,
  });
});

Deno.test("stackPorts() follow KAFKA_BROKERS and SCHEMA_REGISTRY_URL, so a second stack can run beside the first", () => {
  const ports = stackPorts(config({
    KAFKA_BROKERS: "localhost:29090,localhost:29091,localhost:29092",
    SCHEMA_REGISTRY_URL: "http://127.0.0.1:28081/apis/ccompat/v7",
  }));
  assert.deepEqual(ports, {
    brokerPort: 29090,
    controllerPort: 29093,
    registryPort: 28081,
  });
});

Deno.test("stackPorts() refuse brokers that are not 3 consecutive local ports, naming KAFKA_BROKERS", () => {
  for (
    const brokers of [
      "kafka.example.com:9092,kafka.example.com:9093,kafka.example.com:9094",
      "127.0.0.1:19090,127.0.0.1:19091",
      "127.0.0.1:19090,127.0.0.1:19092,127.0.0.1:19094",
    ]
  ) {
    assert.throws(
      () => stackPorts(config({ KAFKA_BROKERS: brokers })),
      (e: Error) =>
        e instanceof TypeError &&
        e.message.includes(`KAFKA_BROKERS is ${brokers}`),
    );
  }
  assert.throws(
    () =>
      stackPorts(
        config({ SCHEMA_REGISTRY_URL: "https://reg.example.com/api" }),
      ),
    /SCHEMA_REGISTRY_URL is https:\/\/reg.example.com\/api/,
  );
});

Deno.test("brokerProperties() make node 2 a broker and controller on its ports, voting with all three", () => {
  const text = brokerProperties(2, {
    ports: { brokerPort: 29090, controllerPort: 29093, registryPort: 28081 },
    dataDir: "/srv/p/.stack/data",
  });
  const lines = text.split("\n");
  for (
    const line of [
      "process.roles=broker,controller",
      "node.id=2",
      "controller.quorum.voters=1@127.0.0.1:29093,2@127.0.0.1:29094,3@127.0.0.1:29095",
      "listeners=PLAINTEXT://127.0.0.1:29091,CONTROLLER://127.0.0.1:29094",
      "advertised.listeners=PLAINTEXT://127.0.0.1:29091",
      "log.dirs=/srv/p/.stack/data/node-2",
      "default.replication.factor=3",
      "min.insync.replicas=2",
      "num.partitions=2",
      "auto.create.topics.enable=false",
    ]
  ) assert.ok(lines.includes(line), `has ${line}`);
  assert.ok(text.endsWith("\n"));
});

Deno.test("kafkaArgs(), formatArgs() and registryArgs() name files under the absolute stack folder; the registry keeps its schemas in the stack's brokers", () => {
  const dir = "/srv/p/.stack";
  const jvm = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-Dlog4j2.configurationFile=/srv/p/.stack/conf/log4j2.yaml",
    "-Dkafka.logs.dir=/srv/p/.stack/logs",
    "-Dstack.node=kafka-3",
    "-cp",
    "/srv/p/.stack/libs/*",
  ];
  assert.deepEqual(kafkaArgs(3, dir), [
    ...jvm,
    "kafka.Kafka",
    "/srv/p/.stack/conf/node-3.properties",
  ]);
  assert.deepEqual(formatArgs(3, dir, "cluster-id"), [
    ...jvm,
    "kafka.tools.StorageTool",
    "format",
    "-t",
    "cluster-id",
    "-c",
    "/srv/p/.stack/conf/node-3.properties",
  ]);
  assert.deepEqual(registryArgs(28081, dir, { brokerPort: 29090 }), [
    "-Xms64m",
    "-Xmx384m",
    "-Dquarkus.http.port=28081",
    "-Dquarkus.http.host=127.0.0.1",
    "-Dquarkus.management.port=28082",
    "-Dquarkus.management.host=127.0.0.1",
    "-Dquarkus.log.console.enable=false",
    "-Dquarkus.log.file.enable=true",
    "-Dquarkus.log.file.path=/srv/p/.stack/logs/registry.log",
    "-Dapicurio.storage.kind=kafkasql",
    "-Dapicurio.kafkasql.bootstrap.servers=127.0.0.1:29090,127.0.0.1:29091,127.0.0.1:29092",
    "-Dapicurio.kafkasql.topic=kafkasql-journal",
    "-jar",
    "/srv/p/.stack/apicurio/quarkus-run.jar",
  ]);
});

Deno.test("log4jConfig() writes each node's log to <kafka.logs.dir>/<stack.node>.log at WARN", () => {
  const text = log4jConfig();
  assert.match(
    text,
    /fileName: "\$\{sys:kafka\.logs\.dir\}\/\$\{sys:stack\.node\}\.log"/,
  );
  assert.match(text, /Root:\n\s+level: WARN/);
});

Deno.test("clusterIdFrom() is base64url of the 16 bytes without padding", () => {
  // Computed with Python: base64.urlsafe_b64encode(bytes(range(16))).rstrip(b"=")
  assert.equal(
    clusterIdFrom(Uint8Array.from({ length: 16 }, (_, i) => i)),
    "AAECAwQFBgcICQoLDA0ODw",
  );
  assert.equal(
    clusterIdFrom(new Uint8Array(16).fill(255)),
    "_____________________w",
  );
});
