import assert from "node:assert/strict";
import { loadConfig, parseFlags } from "@cryptocandles/config";
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
