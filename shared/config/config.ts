/**
 * The project's configuration: every variable of the interface contract,
 * read once from the environment (or `.env` through Deno's `--env-file`)
 * and from a script's flags, checked, and returned typed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { LogFormat } from "@cryptocandles/runtime";

/** Where the producer's ticks come from. */
export type Source = "bitfinex-ws" | "bitfinex-rest" | "synthetic" | "replay";
/** Consumer-group partition assignment strategy. */
export type AssignorName = "range" | "roundrobin" | "sticky";
/** SASL mechanisms kafkajs supports. */
export type SaslMechanism = "plain" | "scram-sha-256" | "scram-sha-512";

/** The whole configuration, typed. */
export interface Config {
  kafka: {
    brokers: string[];
    topic: string;
    partitions: number;
    replication: number;
    minIsr: number;
    ssl: boolean;
    sasl?: { mechanism: SaslMechanism; username: string; password: string };
  };
  registryUrl: string;
  coins: string[];
  source: Source;
  bitfinex: { wsUrl: string; restUrl: string; pollMs: number };
  synthetic: { rate: number; seed: number };
  replay: { file?: string; speed: number };
  recordFile?: string;
  consumer: { group: string; assignor: AssignorName; dlqTopic: string };
  influx: {
    host: string;
    token?: string;
    database: string;
    measurement: string;
  };
  grafana: { url: string; token?: string; user?: string; password?: string };
  chart: { host: string; port: number };
  logFormat: LogFormat;
}

/** Something that answers `get(name)`, such as `Deno.env` or a `Map`. */
export interface EnvSource {
  get(name: string): string | undefined;
}

interface Spec {
  name: string;
  default?: string;
  help: string;
}

/** Every variable this project reads, with its default and meaning. */
export const VARIABLES: readonly Spec[] = [
  {
    name: "KAFKA_BROKERS",
    default: "127.0.0.1:19090,127.0.0.1:19091,127.0.0.1:19092",
    help: "bootstrap list host:port,…",
  },
  { name: "KAFKA_TOPIC", default: "CRIPTOMONEDAS", help: "ticker topic" },
  { name: "KAFKA_PARTITIONS", default: "2", help: "partitions of the topic" },
  {
    name: "KAFKA_REPLICATION",
    default: "3",
    help: "replication factor of the topic",
  },
  {
    name: "KAFKA_MIN_ISR",
    default: "2",
    help: "min.insync.replicas of the topic",
  },
  {
    name: "KAFKA_SSL",
    default: "false",
    help: "TLS to the brokers (true/false)",
  },
  {
    name: "KAFKA_SASL_MECHANISM",
    help: "plain, scram-sha-256 or scram-sha-512",
  },
  { name: "KAFKA_SASL_USERNAME", help: "SASL user" },
  { name: "KAFKA_SASL_PASSWORD", help: "SASL password (never printed)" },
  {
    name: "SCHEMA_REGISTRY_URL",
    default: "http://127.0.0.1:8081/apis/ccompat/v7",
    help: "Confluent-compatible API base",
  },
  {
    name: "COINS",
    default: "tBTCUSD,tETHUSD,tSOLUSD,tXRPUSD",
    help: "Bitfinex trading pairs",
  },
  {
    name: "SOURCE",
    default: "bitfinex-ws",
    help: "bitfinex-ws, bitfinex-rest, synthetic or replay",
  },
  {
    name: "BITFINEX_WS_URL",
    default: "wss://api-pub.bitfinex.com/ws/2",
    help: "Bitfinex v2 WebSocket",
  },
  {
    name: "BITFINEX_REST_URL",
    default: "https://api-pub.bitfinex.com/v2",
    help: "Bitfinex v2 REST base",
  },
  {
    name: "BITFINEX_POLL_MS",
    default: "5000",
    help: "REST polling interval in ms",
  },
  {
    name: "SYNTHETIC_RATE",
    default: "1",
    help: "synthetic ticks per second per coin (0 = as fast as possible)",
  },
  {
    name: "SYNTHETIC_SEED",
    default: "42",
    help: "seed of the synthetic prices",
  },
  { name: "REPLAY_FILE", help: "JSON-lines ticks to replay (SOURCE=replay)" },
  {
    name: "REPLAY_SPEED",
    default: "1",
    help: "replay speed factor (0 = as fast as possible)",
  },
  {
    name: "RECORD_FILE",
    help: "record every tick of any source to this JSON-lines file",
  },
  { name: "CONSUMER_GROUP", default: "Coins", help: "consumer group" },
  { name: "ASSIGNOR", default: "range", help: "range, roundrobin or sticky" },
  { name: "DLQ_TOPIC", help: "dead-letter topic (default <KAFKA_TOPIC>.dlq)" },
  {
    name: "INFLUX_HOST",
    default: "http://127.0.0.1:8181",
    help: "InfluxDB 3 URL",
  },
  { name: "INFLUX_TOKEN", help: "InfluxDB 3 token (never printed)" },
  {
    name: "INFLUX_DATABASE",
    default: "criptomonedas",
    help: "InfluxDB 3 database",
  },
  { name: "INFLUX_MEASUREMENT", default: "criptomonedas", help: "table name" },
  {
    name: "GRAFANA_URL",
    default: "http://127.0.0.1:3000",
    help: "Grafana URL",
  },
  {
    name: "GRAFANA_TOKEN",
    help: "Grafana service-account token (never printed)",
  },
  {
    name: "GRAFANA_USER",
    help: "Grafana basic-auth user (with GRAFANA_PASSWORD)",
  },
  {
    name: "GRAFANA_PASSWORD",
    help: "Grafana basic-auth password (never printed)",
  },
  {
    name: "CHART_HOST",
    default: "127.0.0.1",
    help: "address the chart page listens on",
  },
  { name: "CHART_PORT", default: "8000", help: "port of the chart page" },
  { name: "LOG_FORMAT", default: "text", help: "text or json" },
];

/**
 * Reads and checks the configuration.
 *
 * Flags given as `--kafka-topic X` (any variable, lower-case with dashes)
 * win over the environment; unset variables take the contract's defaults.
 *
 * @param env Where variables are read from.
 * @param overrides Values that win over `env` (from {@linkcode parseFlags}).
 * @returns The typed configuration.
 * @throws {TypeError} One line naming the variable and what was expected.
 *
 * @example Defaults
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * const config = loadConfig(new Map());
 * console.log(config.kafka.topic); // "CRIPTOMONEDAS"
 * ```
 */
export function loadConfig(
  env: EnvSource = Deno.env,
  overrides: Record<string, string> = {},
): Config {
  const raw = (name: string): string | undefined => {
    const value = overrides[name] ?? env.get(name);
    if (value !== undefined && value.trim() !== "") return value.trim();
    return VARIABLES.find((v) => v.name === name)?.default;
  };
  const str = (name: string) => raw(name) ?? "";
  const opt = (name: string) => raw(name);

  const topic = name(str("KAFKA_TOPIC"), "KAFKA_TOPIC");
  const mechanism = opt("KAFKA_SASL_MECHANISM");
  const config: Config = {
    kafka: {
      brokers: list(
        str("KAFKA_BROKERS"),
        "KAFKA_BROKERS",
        hostPort,
        "host:port",
      ),
      topic,
      partitions: int(str("KAFKA_PARTITIONS"), "KAFKA_PARTITIONS", 1, 1000),
      replication: int(str("KAFKA_REPLICATION"), "KAFKA_REPLICATION", 1, 10),
      minIsr: int(str("KAFKA_MIN_ISR"), "KAFKA_MIN_ISR", 1, 10),
      ssl: bool(str("KAFKA_SSL"), "KAFKA_SSL"),
    },
    registryUrl: url(str("SCHEMA_REGISTRY_URL"), "SCHEMA_REGISTRY_URL", [
      "http:",
      "https:",
    ]),
    coins: list(
      str("COINS"),
      "COINS",
      (c) => /^[tf][A-Z0-9:]{3,20}$/.test(c),
      "Bitfinex pair like tBTCUSD",
    ),
    source: oneOf(str("SOURCE"), "SOURCE", [
      "bitfinex-ws",
      "bitfinex-rest",
      "synthetic",
      "replay",
    ]),
    bitfinex: {
      wsUrl: url(str("BITFINEX_WS_URL"), "BITFINEX_WS_URL", ["ws:", "wss:"]),
      restUrl: url(str("BITFINEX_REST_URL"), "BITFINEX_REST_URL", [
        "http:",
        "https:",
      ]),
      pollMs: int(str("BITFINEX_POLL_MS"), "BITFINEX_POLL_MS", 100, 3_600_000),
    },
    synthetic: {
      rate: num(str("SYNTHETIC_RATE"), "SYNTHETIC_RATE", 0, 100_000),
      seed: int(str("SYNTHETIC_SEED"), "SYNTHETIC_SEED", 0, 2 ** 31 - 1),
    },
    replay: {
      file: opt("REPLAY_FILE"),
      speed: num(str("REPLAY_SPEED"), "REPLAY_SPEED", 0, 1_000_000),
    },
    recordFile: opt("RECORD_FILE"),
    consumer: {
      group: name(str("CONSUMER_GROUP"), "CONSUMER_GROUP"),
      assignor: oneOf(str("ASSIGNOR"), "ASSIGNOR", [
        "range",
        "roundrobin",
        "sticky",
      ]),
      dlqTopic: name(opt("DLQ_TOPIC") ?? `${topic}.dlq`, "DLQ_TOPIC"),
    },
    influx: {
      host: url(str("INFLUX_HOST"), "INFLUX_HOST", ["http:", "https:"]),
      token: opt("INFLUX_TOKEN"),
      database: name(str("INFLUX_DATABASE"), "INFLUX_DATABASE"),
      measurement: name(str("INFLUX_MEASUREMENT"), "INFLUX_MEASUREMENT"),
    },
    grafana: {
      url: url(str("GRAFANA_URL"), "GRAFANA_URL", ["http:", "https:"]),
      token: opt("GRAFANA_TOKEN"),
      user: opt("GRAFANA_USER"),
      password: opt("GRAFANA_PASSWORD"),
    },
    chart: {
      host: check(
        str("CHART_HOST"),
        "CHART_HOST",
        (h) => /^[\w.:-]+$/.test(h),
        "a host name or address",
      ),
      port: int(str("CHART_PORT"), "CHART_PORT", 1, 65535),
    },
    logFormat: oneOf(str("LOG_FORMAT"), "LOG_FORMAT", ["text", "json"]),
  };
  if (config.kafka.minIsr > config.kafka.replication) {
    fail(
      "KAFKA_MIN_ISR",
      String(config.kafka.minIsr),
      `at most KAFKA_REPLICATION (${config.kafka.replication})`,
    );
  }
  if (mechanism !== undefined) {
    const user = opt("KAFKA_SASL_USERNAME");
    const password = opt("KAFKA_SASL_PASSWORD");
    if (!user) {
      fail(
        "KAFKA_SASL_USERNAME",
        "",
        "a user name when KAFKA_SASL_MECHANISM is set",
      );
    }
    if (!password) {
      throw new TypeError(
        "KAFKA_SASL_PASSWORD must be set when KAFKA_SASL_MECHANISM is set",
      );
    }
    config.kafka.sasl = {
      mechanism: oneOf(mechanism, "KAFKA_SASL_MECHANISM", [
        "plain",
        "scram-sha-256",
        "scram-sha-512",
      ]),
      username: user!,
      password: password!,
    };
  }
  if (config.source === "replay" && !config.replay.file) {
    throw new TypeError(
      "REPLAY_FILE must name a JSON-lines file when SOURCE is replay",
    );
  }
  if (
    (config.grafana.user === undefined) !==
      (config.grafana.password === undefined)
  ) {
    throw new TypeError(
      "GRAFANA_USER and GRAFANA_PASSWORD must be set together",
    );
  }
  return config;
}

/** The result of {@linkcode parseFlags}. */
export interface Flags {
  /** Variable values given as flags, keyed by variable name. */
  overrides: Record<string, string>;
  /** `--help` was given. */
  help: boolean;
  /** Flags the script declared itself (see `extra`). */
  extra: Record<string, string | boolean | undefined>;
}

/**
 * Parses a script's flags: `--<variable>` for every variable (for example
 * `--source synthetic`, `--kafka-topic T`), `--help`, and the script's own
 * extra flags.
 *
 * @param args The command-line arguments.
 * @param extra The script's own flags, in `node:util` `parseArgs` form.
 * @returns Overrides for {@linkcode loadConfig}, the help switch and extras.
 * @throws {TypeError} On an unknown flag, naming it.
 *
 * @example Override the source
 * ```ts
 * import { loadConfig, parseFlags } from "@cryptocandles/config";
 * const { overrides } = parseFlags(["--source", "synthetic"]);
 * console.log(loadConfig(new Map(), overrides).source); // "synthetic"
 * ```
 */
export function parseFlags(
  args: string[],
  extra: Record<string, { type: "string" | "boolean" }> = {},
): Flags {
  const options: Record<string, { type: "string" | "boolean" }> = {
    help: { type: "boolean" },
    ...extra,
  };
  for (const v of VARIABLES) options[flagName(v.name)] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new TypeError((error as Error).message.split("\n")[0]);
  }
  const overrides: Record<string, string> = {};
  const extras: Record<string, string | boolean | undefined> = {};
  for (const [key, value] of Object.entries(values)) {
    const variable = VARIABLES.find((v) => flagName(v.name) === key);
    if (variable) overrides[variable.name] = String(value);
    else if (key !== "help") extras[key] = value;
  }
  return { overrides, help: values.help === true, extra: extras };
}

/**
 * Renders the `--help` text: usage, the script's own flags, then every
 * variable with its default.
 *
 * @param usage The first line, such as `deno task producer [flags]`.
 * @param own Lines describing the script's own flags.
 * @returns The help text.
 *
 * @example
 * ```ts
 * import { helpText } from "@cryptocandles/config";
 * console.log(helpText("deno task producer [flags]"));
 * ```
 */
export function helpText(usage: string, own: string[] = []): string {
  const rows = VARIABLES.map((v) =>
    `  --${flagName(v.name).padEnd(22)} ${v.name.padEnd(22)} ${v.help}${
      v.default ? ` (default ${v.default})` : ""
    }`
  );
  return [
    `usage: ${usage}`,
    ...own.map((line) => `  ${line}`),
    "",
    "Every setting is a flag or an environment variable (flags win; .env is read by the deno tasks):",
    ...rows,
  ].join("\n");
}

function flagName(variable: string): string {
  return variable.toLowerCase().replaceAll("_", "-");
}

function fail(variable: string, value: string, expected: string): never {
  throw new TypeError(
    `${variable} must be ${expected}: current value is ${
      JSON.stringify(value)
    }`,
  );
}

function check(
  value: string,
  variable: string,
  ok: (v: string) => boolean,
  expected: string,
): string {
  if (!ok(value)) fail(variable, value, expected);
  return value;
}

function int(
  value: string,
  variable: string,
  min: number,
  max: number,
): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || n < min || n > max) {
    fail(variable, value, `an integer from ${min} to ${max}`);
  }
  return n;
}

function num(
  value: string,
  variable: string,
  min: number,
  max: number,
): number {
  const n = Number(value);
  if (value === "" || !Number.isFinite(n) || n < min || n > max) {
    fail(variable, value, `a number from ${min} to ${max}`);
  }
  return n;
}

function bool(value: string, variable: string): boolean {
  const v = value.toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off"].includes(v)) return false;
  return fail(variable, value, "true or false");
}

function oneOf<T extends string>(
  value: string,
  variable: string,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) {
    fail(variable, value, `one of ${allowed.join(", ")}`);
  }
  return value as T;
}

function url(value: string, variable: string, protocols: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return fail(variable, value, `a ${protocols.join(" or ")} URL`);
  }
  if (!protocols.includes(parsed.protocol)) {
    fail(variable, value, `a ${protocols.join(" or ")} URL`);
  }
  return value.replace(/\/+$/, "");
}

function hostPort(value: string): boolean {
  const match = /^([\w.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(value);
  return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65535;
}

function name(value: string, variable: string): string {
  return check(
    value,
    variable,
    (v) => /^[A-Za-z0-9._-]{1,249}$/.test(v),
    "a name of letters, digits, '.', '_' or '-'",
  );
}

function list(
  value: string,
  variable: string,
  ok: (item: string) => boolean,
  expected: string,
): string[] {
  const items = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0) {
    fail(variable, value, `a comma-separated list of ${expected}`);
  }
  const bad = items.find((item) => !ok(item));
  if (bad !== undefined) {
    fail(
      variable,
      value,
      `a comma-separated list of ${expected} (bad item ${JSON.stringify(bad)})`,
    );
  }
  return [...new Set(items)];
}
