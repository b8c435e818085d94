import assert from "node:assert/strict";
import {
  ASSIGNORS,
  helpText,
  loadConfig,
  LOG_FORMATS,
  parseFlags,
  SASL_MECHANISMS,
  SOURCES,
  VARIABLES,
} from "@cryptocandles/config";
import { runScript } from "../support.ts";

const env = (vars: Record<string, string>) => new Map(Object.entries(vars));

Deno.test("loadConfig() gives the contract's defaults", () => {
  const config = loadConfig(env({}));
  assert.deepEqual(config.kafka.brokers, [
    "127.0.0.1:19090",
    "127.0.0.1:19091",
    "127.0.0.1:19092",
  ]);
  assert.equal(config.kafka.topic, "CRIPTOMONEDAS");
  assert.deepEqual([
    config.kafka.partitions,
    config.kafka.replication,
    config.kafka.minIsr,
  ], [2, 3, 2]);
  assert.equal(config.registryUrl, "http://127.0.0.1:8081/apis/ccompat/v7");
  assert.deepEqual(config.coins, ["tBTCUSD", "tETHUSD", "tSOLUSD", "tXRPUSD"]);
  assert.equal(config.source, "bitfinex-ws");
  assert.equal(config.consumer.group, "Coins");
  assert.equal(config.consumer.assignor, "range");
  assert.equal(config.consumer.dlqTopic, "CRIPTOMONEDAS.dlq");
  assert.equal(config.influx.host, "http://127.0.0.1:8181");
  assert.equal(config.influx.database, "criptomonedas");
  assert.equal(config.influx.measurement, "criptomonedas");
  assert.equal(config.grafana.url, "http://127.0.0.1:3000");
  assert.equal(config.chart.port, 8000);
  assert.equal(config.logFormat, "text");
});

Deno.test("loadConfig() lets flags win over the environment", () => {
  const { overrides } = parseFlags([
    "--source",
    "synthetic",
    "--kafka-topic",
    "T2",
  ]);
  const config = loadConfig(
    env({ SOURCE: "bitfinex-rest", KAFKA_TOPIC: "T1" }),
    overrides,
  );
  assert.equal(config.source, "synthetic");
  assert.equal(config.kafka.topic, "T2");
  assert.equal(config.consumer.dlqTopic, "T2.dlq");
});

/** Each invalid value, and the words its one-line error must contain. */
const INVALID: [string, string, RegExp][] = [
  [
    "KAFKA_BROKERS",
    "localhost",
    /KAFKA_BROKERS must be a comma-separated list of host:port/,
  ],
  ["KAFKA_BROKERS", " , ", /KAFKA_BROKERS must be/],
  ["KAFKA_TOPIC", "bad topic", /KAFKA_TOPIC must be a name/],
  [
    "KAFKA_PARTITIONS",
    "two",
    /KAFKA_PARTITIONS must be an integer from 1 to 1000/,
  ],
  ["KAFKA_PARTITIONS", "0", /KAFKA_PARTITIONS must be an integer/],
  ["KAFKA_REPLICATION", "3.5", /KAFKA_REPLICATION must be an integer/],
  ["KAFKA_MIN_ISR", "4", /KAFKA_MIN_ISR must be at most KAFKA_REPLICATION/],
  ["KAFKA_SSL", "maybe", /KAFKA_SSL must be true or false/],
  ["KAFKA_SASL_MECHANISM", "kerberos", /KAFKA_SASL_USERNAME must be/],
  [
    "SCHEMA_REGISTRY_URL",
    "localhost:8081",
    /SCHEMA_REGISTRY_URL must be a http: or https: URL/,
  ],
  ["COINS", "BTCUSD", /COINS must be a comma-separated list of Bitfinex pair/],
  [
    "SOURCE",
    "binance",
    /SOURCE must be one of bitfinex-ws, bitfinex-rest, synthetic, replay/,
  ],
  ["BITFINEX_WS_URL", "http://x", /BITFINEX_WS_URL must be a ws: or wss: URL/],
  [
    "BITFINEX_REST_URL",
    "ftp://x",
    /BITFINEX_REST_URL must be a http: or https: URL/,
  ],
  ["SYNTHETIC_RATE", "-1", /SYNTHETIC_RATE must be a number from 0/],
  ["CONSUMER_GROUP", "a b", /CONSUMER_GROUP must be a name/],
  [
    "ASSIGNOR",
    "cooperative",
    /ASSIGNOR must be one of range, roundrobin, sticky/,
  ],
  ["DLQ_TOPIC", "x/y", /DLQ_TOPIC must be a name/],
  ["INFLUX_HOST", "8181", /INFLUX_HOST must be a http: or https: URL/],
  ["INFLUX_DATABASE", "a;b", /INFLUX_DATABASE must be a name/],
  ["GRAFANA_URL", "grafana", /GRAFANA_URL must be a http: or https: URL/],
  [
    "GRAFANA_USER",
    "admin",
    /GRAFANA_USER and GRAFANA_PASSWORD must be set together/,
  ],
  ["CHART_PORT", "70000", /CHART_PORT must be an integer from 1 to 65535/],
  ["LOG_FORMAT", "xml", /LOG_FORMAT must be one of text, json/],
];

Deno.test("loadConfig() names the variable of each invalid value", () => {
  for (const [name, value, message] of INVALID) {
    assert.throws(
      () => loadConfig(env({ [name]: value })),
      message,
      `${name}=${value}`,
    );
  }
});

Deno.test("SOURCE=replay without REPLAY_FILE is refused", () => {
  assert.throws(
    () => loadConfig(env({ SOURCE: "replay" })),
    /REPLAY_FILE must name a JSON-lines file/,
  );
});

Deno.test("parseFlags() refuses an unknown flag, naming it", () => {
  assert.throws(() => parseFlags(["--sauce", "x"]), /--sauce/);
});

Deno.test("a script given an invalid variable exits 2 with one line naming it", async () => {
  for (const [name, value] of INVALID) {
    const result = await runScript("launch.ts", [], { [name]: value });
    assert.equal(
      result.code,
      2,
      `${name}=${value}: exit ${result.code}\n${result.stderr}`,
    );
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], new RegExp(name.split("_")[0]));
  }
});

Deno.test("VARIABLES names every variable of the contract once, each with a help line", async () => {
  const names = VARIABLES.map((v) => v.name);
  assert.equal(new Set(names).size, names.length, `repeated: ${names}`);
  // Every variable the interface contract names is here (it lists some in
  // pairs or groups: "INFLUX_HOST / INFLUX_TOKEN / …").
  const contract = await Deno.readTextFile(
    new URL("../../../shared/CONTRACT.md", import.meta.url),
  ).catch(() => undefined);
  if (contract !== undefined) {
    const table = contract.slice(
      contract.indexOf("## Configuration"),
      contract.indexOf("\n## ", contract.indexOf("## Configuration") + 5),
    );
    const firstCells = table.split("\n").filter((l) => l.startsWith("| `"))
      .map((l) => l.split("|")[1]);
    const named = firstCells.flatMap((cell) =>
      [...cell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1])
    );
    assert.ok(named.length > 20, "read the contract's table");
    for (const name of named) assert.ok(names.includes(name), name);
  }
  for (const v of VARIABLES) {
    assert.match(v.name, /^[A-Z][A-Z0-9_]+$/);
    assert.ok(v.help.length > 0, `${v.name} has help`);
  }
  assert.deepEqual(names.slice(0, 3), [
    "KAFKA_BROKERS",
    "KAFKA_TOPIC",
    "KAFKA_PARTITIONS",
  ]);
  assert.equal(names.at(-1), "LOG_FORMAT");
});

Deno.test("the enum arrays are the values loadConfig() accepts", () => {
  assert.deepEqual(SOURCES, [
    "bitfinex-ws",
    "bitfinex-rest",
    "synthetic",
    "replay",
  ]);
  assert.deepEqual(ASSIGNORS, ["range", "roundrobin", "sticky"]);
  assert.deepEqual(SASL_MECHANISMS, [
    "plain",
    "scram-sha-256",
    "scram-sha-512",
  ]);
  assert.deepEqual(LOG_FORMATS, ["text", "json"]);
  for (const source of SOURCES) {
    const config = loadConfig(env({ SOURCE: source, REPLAY_FILE: "r.jsonl" }));
    assert.equal(config.source, source);
  }
  for (const assignor of ASSIGNORS) {
    assert.equal(
      loadConfig(env({ ASSIGNOR: assignor })).consumer.assignor,
      assignor,
    );
  }
  for (const format of LOG_FORMATS) {
    assert.equal(loadConfig(env({ LOG_FORMAT: format })).logFormat, format);
  }
});

Deno.test("loadConfig() trims values and gives blank ones the default", () => {
  const config = loadConfig(
    env({ KAFKA_TOPIC: "  T1 ", COINS: " ", KAFKA_PARTITIONS: "" }),
  );
  assert.equal(config.kafka.topic, "T1");
  assert.equal(config.consumer.dlqTopic, "T1.dlq");
  assert.deepEqual(config.coins, ["tBTCUSD", "tETHUSD", "tSOLUSD", "tXRPUSD"]);
  assert.equal(config.kafka.partitions, 2);
});

Deno.test("loadConfig() leaves optional variables undefined when unset", () => {
  const config = loadConfig(env({}));
  assert.equal(config.kafka.sasl, undefined);
  assert.equal(config.replay.file, undefined);
  assert.equal(config.recordFile, undefined);
  assert.equal(config.influx.token, undefined);
  assert.equal(config.grafana.token, undefined);
  assert.equal(config.grafana.user, undefined);
  assert.equal(config.grafana.password, undefined);
});

Deno.test("loadConfig() reads the typed values of every kind of row", () => {
  const config = loadConfig(env({
    KAFKA_BROKERS: "b1:9092, b2:9092,b1:9092",
    KAFKA_SSL: "yes",
    SYNTHETIC_RATE: "0.5",
    REPLAY_SPEED: "0",
    DLQ_TOPIC: "dead",
    SCHEMA_REGISTRY_URL: "https://registry.example.com/apis/ccompat/v7/",
    CHART_HOST: "0.0.0.0",
    RECORD_FILE: "recordings/x.jsonl",
  }));
  assert.deepEqual(config.kafka.brokers, ["b1:9092", "b2:9092"]);
  assert.equal(config.kafka.ssl, true);
  assert.equal(config.synthetic.rate, 0.5);
  assert.equal(config.replay.speed, 0);
  assert.equal(config.consumer.dlqTopic, "dead");
  assert.equal(
    config.registryUrl,
    "https://registry.example.com/apis/ccompat/v7",
  );
  assert.equal(config.chart.host, "0.0.0.0");
  assert.equal(config.recordFile, "recordings/x.jsonl");
});

Deno.test("KAFKA_SASL_MECHANISM turns SASL on and wants a user and a password", () => {
  const sasl = {
    KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: "me",
    KAFKA_SASL_PASSWORD: "secret",
  };
  assert.deepEqual(loadConfig(env(sasl)).kafka.sasl, {
    mechanism: "scram-sha-512",
    username: "me",
    password: "secret",
  });
  assert.throws(
    () => loadConfig(env({ ...sasl, KAFKA_SASL_MECHANISM: "kerberos" })),
    /^TypeError: KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512: current value is "kerberos"$/,
  );
  assert.throws(
    () => loadConfig(env({ ...sasl, KAFKA_SASL_PASSWORD: "" })),
    /^TypeError: KAFKA_SASL_PASSWORD must be set when KAFKA_SASL_MECHANISM is set$/,
  );
  assert.equal(
    loadConfig(env({ KAFKA_SASL_USERNAME: "me" })).kafka.sasl,
    undefined,
  );
});

Deno.test("helpText() lists each variable with its flag and default", () => {
  const text = helpText("deno task x [flags]", ["--own X   mine"]);
  const lines = text.split("\n");
  assert.equal(lines[0], "usage: deno task x [flags]");
  assert.equal(lines[1], "  --own X   mine");
  assert.match(
    text,
    /\n {2}--kafka-topic +KAFKA_TOPIC +ticker topic \(default CRIPTOMONEDAS\)\n/,
  );
  assert.match(
    text,
    /\n {2}--replay-file +REPLAY_FILE +JSON-lines ticks to replay \(SOURCE=replay\)\n/,
  );
  // One line for the script's own flag, one per variable.
  assert.equal(
    lines.filter((l) => l.startsWith("  --")).length,
    1 + VARIABLES.length,
  );
});
