/**
 * Every variable of the interface contract, once: the table {@linkcode SPEC}
 * has the shape of {@linkcode Config}, and each of its rows names the
 * variable, its parser, default and help. {@linkcode RULES} are the checks
 * that span variables.
 *
 * @module
 */
import type { LogFormat } from "@cryptocandles/runtime";
import {
  bool,
  fail,
  type Field,
  hostPort,
  int,
  list,
  matching,
  name,
  num,
  oneOf,
  optional,
  url,
  type Variable,
  variable,
} from "./parse.ts";

/**
 * Where the producer's ticks come from.
 *
 * @example
 * ```ts
 * import { SOURCES } from "@cryptocandles/config";
 * console.log(SOURCES.includes("synthetic")); // true
 * ```
 */
export const SOURCES = [
  "bitfinex-ws",
  "bitfinex-rest",
  "synthetic",
  "replay",
] as const;
/** One of {@linkcode SOURCES}. */
export type Source = typeof SOURCES[number];

/**
 * Consumer-group partition assignment strategies.
 *
 * @example
 * ```ts
 * import { ASSIGNORS } from "@cryptocandles/config";
 * console.log(ASSIGNORS.join(", ")); // "range, roundrobin, sticky"
 * ```
 */
export const ASSIGNORS = ["range", "roundrobin", "sticky"] as const;
/** One of {@linkcode ASSIGNORS}. */
export type AssignorName = typeof ASSIGNORS[number];

/**
 * SASL mechanisms kafkajs supports.
 *
 * @example
 * ```ts
 * import { SASL_MECHANISMS } from "@cryptocandles/config";
 * console.log(SASL_MECHANISMS[0]); // "plain"
 * ```
 */
export const SASL_MECHANISMS = [
  "plain",
  "scram-sha-256",
  "scram-sha-512",
] as const;
/** One of {@linkcode SASL_MECHANISMS}. */
export type SaslMechanism = typeof SASL_MECHANISMS[number];

/**
 * Log formats of `LOG_FORMAT`.
 *
 * @example
 * ```ts
 * import { LOG_FORMATS } from "@cryptocandles/config";
 * console.log(LOG_FORMATS.join(" or ")); // "text or json"
 * ```
 */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** The whole configuration, typed. */
export interface Config {
  kafka: {
    brokers: string[];
    topic: string;
    partitions: number;
    replication: number;
    minIsr: number;
    ssl: boolean;
    /** Path of a PEM file with the CA certificate(s) to trust instead of the system's (`KAFKA_SSL_CA`). */
    sslCa?: string;
    sasl?: { mechanism: SaslMechanism; username: string; password: string };
  };
  registryUrl: string;
  coins: string[];
  source: Source;
  bitfinex: { wsUrl: string; restUrl: string; pollMs: number };
  synthetic: { rate: number; seed: number };
  replay: { file?: string; speed: number };
  recordFile?: string;
  /**
   * Ticks the producer holds while Kafka does not acknowledge them, and how
   * much history (ms, 0 = none) it backfills before the first live tick.
   */
  producer: { buffer: number; backfillMs: number };
  consumer: { group: string; assignor: AssignorName; dlqTopic: string };
  influx: {
    host: string;
    token?: string;
    database: string;
    measurement: string;
    /** Write with `no_sync=true` (answered before the WAL flush). */
    noSync?: boolean;
    /** The `influxdb3` binary the local stack runs (`INFLUXDB3_BIN`). */
    bin?: string;
  };
  grafana: {
    url: string;
    token?: string;
    user?: string;
    password?: string;
    /** The Grafana folder the local stack runs (`GRAFANA_HOME`). */
    home?: string;
    /** Anonymous viewing in the local stack's Grafana. */
    anonymous?: boolean;
  };
  chart: { host: string; port: number };
  logFormat: LogFormat;
}

/**
 * A table with the shape of `T`: a {@linkcode Field} for every value (an
 * optional one may read as undefined), a nested table for every section.
 */
export type Spec<T> = {
  readonly [K in keyof T]-?: T[K] extends string | number | boolean | unknown[]
    ? Field<T[K] | OptionalOf<T, K>>
    : Field<T[K] | OptionalOf<T, K>> | Spec<NonNullable<T[K]>>;
};
/** `undefined` when `K` is an optional key of `T`, else `never`. */
type OptionalOf<T, K extends keyof T> = Record<never, never> extends Pick<T, K>
  ? undefined
  : never;

const HTTP = ["http:", "https:"];

/** Every variable, in `--help` order, as the field of {@linkcode Config} it fills. */
export const SPEC: Spec<Config> = {
  kafka: {
    brokers: variable("KAFKA_BROKERS", list(hostPort, "host:port"), {
      default: "127.0.0.1:19090,127.0.0.1:19091,127.0.0.1:19092",
      help: "bootstrap list host:port,…",
    }),
    topic: variable("KAFKA_TOPIC", name, {
      default: "CRIPTOMONEDAS",
      help: "ticker topic",
    }),
    partitions: variable("KAFKA_PARTITIONS", int(1, 1000), {
      default: "2",
      help: "partitions of the topic",
    }),
    replication: variable("KAFKA_REPLICATION", int(1, 10), {
      default: "3",
      help: "replication factor of the topic",
    }),
    minIsr: variable("KAFKA_MIN_ISR", int(1, 10), {
      default: "2",
      help: "min.insync.replicas of the topic",
    }),
    ssl: variable("KAFKA_SSL", bool, {
      default: "false",
      help: "TLS to the brokers (true/false)",
    }),
    sslCa: variable("KAFKA_SSL_CA", optional, {
      help:
        "PEM file of a private CA to trust for TLS to the brokers (with KAFKA_SSL=true)",
    }),
    sasl: saslField(
      { name: "KAFKA_SASL_MECHANISM", help: either(SASL_MECHANISMS) },
      { name: "KAFKA_SASL_USERNAME", help: "SASL user" },
      { name: "KAFKA_SASL_PASSWORD", help: "SASL password (never printed)" },
    ),
  },
  registryUrl: variable("SCHEMA_REGISTRY_URL", url(...HTTP), {
    default: "http://127.0.0.1:8081/apis/ccompat/v7",
    help: "Confluent-compatible API base",
  }),
  coins: variable(
    "COINS",
    // Funding symbols (fUSD…) have a 16-field ticker of another layout:
    // refused here rather than stored as wrong prices.
    list(
      (c) => /^t[A-Z0-9:]{3,20}$/.test(c),
      "Bitfinex pair like tBTCUSD (trading pairs only: funding symbols such as fUSD are not supported)",
    ),
    {
      default: "tBTCUSD,tETHUSD,tSOLUSD,tXRPUSD",
      help: "Bitfinex trading pairs",
    },
  ),
  source: variable("SOURCE", oneOf(SOURCES), {
    default: "bitfinex-ws",
    help: either(SOURCES),
  }),
  bitfinex: {
    wsUrl: variable("BITFINEX_WS_URL", url("ws:", "wss:"), {
      default: "wss://api-pub.bitfinex.com/ws/2",
      help: "Bitfinex v2 WebSocket",
    }),
    restUrl: variable("BITFINEX_REST_URL", url(...HTTP), {
      default: "https://api-pub.bitfinex.com/v2",
      help: "Bitfinex v2 REST base",
    }),
    pollMs: variable("BITFINEX_POLL_MS", int(100, 3_600_000), {
      default: "5000",
      help: "REST polling interval in ms",
    }),
  },
  synthetic: {
    rate: variable("SYNTHETIC_RATE", num(0, 100_000), {
      default: "1",
      help: "synthetic ticks per second per coin (0 = as fast as possible)",
    }),
    seed: variable("SYNTHETIC_SEED", int(0, 2 ** 31 - 1), {
      default: "42",
      help: "seed of the synthetic prices",
    }),
  },
  replay: {
    file: variable("REPLAY_FILE", optional, {
      help: "JSON-lines ticks to replay (SOURCE=replay)",
    }),
    speed: variable("REPLAY_SPEED", num(0, 1_000_000), {
      default: "1",
      help: "replay speed factor (0 = as fast as possible)",
    }),
  },
  recordFile: variable("RECORD_FILE", optional, {
    help: "record every tick of any source to this JSON-lines file",
  }),
  producer: {
    buffer: variable("PRODUCER_BUFFER", int(100, 10_000_000), {
      default: "50000",
      help:
        "ticks held while Kafka does not acknowledge them; when full, a live source drops the oldest",
    }),
    backfillMs: variable("BACKFILL", duration(30), {
      default: "24h",
      help:
        "history loaded before the first live tick, as 90m, 24h or 3d (0 = none)",
    }),
  },
  consumer: {
    group: variable("CONSUMER_GROUP", name, {
      default: "Coins",
      help: "consumer group",
    }),
    assignor: variable("ASSIGNOR", oneOf(ASSIGNORS), {
      default: "range",
      help: either(ASSIGNORS),
    }),
    dlqTopic: variable(
      "DLQ_TOPIC",
      (value, variable, get) =>
        name(value ?? `${get("KAFKA_TOPIC")}.dlq`, variable, get),
      { help: "dead-letter topic (default <KAFKA_TOPIC>.dlq)" },
    ),
  },
  influx: {
    host: variable("INFLUX_HOST", url(...HTTP), {
      default: "http://127.0.0.1:8181",
      help: "InfluxDB 3 URL",
    }),
    token: variable("INFLUX_TOKEN", optional, {
      help: "InfluxDB 3 token (never printed)",
    }),
    database: variable("INFLUX_DATABASE", name, {
      default: "criptomonedas",
      help: "InfluxDB 3 database",
    }),
    measurement: variable("INFLUX_MEASUREMENT", name, {
      default: "criptomonedas",
      help: "table name",
    }),
    noSync: variable("INFLUX_NO_SYNC", bool, {
      default: "false",
      help:
        "write without waiting for InfluxDB's WAL flush (faster; a crash may lose the last flush interval)",
    }),
    bin: variable("INFLUXDB3_BIN", optional, {
      help:
        "local stack: this influxdb3 binary (else influxdb3 on PATH, else the pinned release)",
    }),
  },
  grafana: {
    url: variable("GRAFANA_URL", url(...HTTP), {
      default: "http://127.0.0.1:3000",
      help: "Grafana URL",
    }),
    token: variable("GRAFANA_TOKEN", optional, {
      help: "Grafana service-account token (never printed)",
    }),
    user: variable("GRAFANA_USER", optional, {
      help: "Grafana basic-auth user (with GRAFANA_PASSWORD)",
    }),
    password: variable("GRAFANA_PASSWORD", optional, {
      help: "Grafana basic-auth password (never printed)",
    }),
    home: variable("GRAFANA_HOME", optional, {
      help:
        "local stack: this Grafana folder (else grafana on PATH, else the pinned release)",
    }),
    anonymous: variable("GRAFANA_ANONYMOUS", bool, {
      default: "false",
      help: "local stack: let anyone on this machine view the dashboards",
    }),
  },
  chart: {
    host: variable(
      "CHART_HOST",
      matching((h) => /^[\w.:-]+$/.test(h), "a host name or address"),
      { default: "127.0.0.1", help: "address the chart page listens on" },
    ),
    port: variable("CHART_PORT", int(1, 65535), {
      default: "8000",
      help: "port of the chart page",
    }),
  },
  logFormat: variable("LOG_FORMAT", oneOf(LOG_FORMATS), {
    default: "text",
    help: either(LOG_FORMATS),
  }),
};

/** Checks that span variables, run on the parsed configuration in order. */
export const RULES: readonly ((config: Config) => void)[] = [
  ({ kafka: { minIsr, replication } }) => {
    if (minIsr > replication) {
      fail(
        "KAFKA_MIN_ISR",
        String(minIsr),
        `at most KAFKA_REPLICATION (${replication})`,
      );
    }
  },
  ({ kafka: { ssl, sslCa } }) => {
    if (sslCa !== undefined && !ssl) {
      throw new TypeError(
        "KAFKA_SSL_CA is set but KAFKA_SSL is false: set KAFKA_SSL=true to use TLS, or unset KAFKA_SSL_CA",
      );
    }
  },
  ({ source, replay }) => {
    if (source === "replay" && !replay.file) {
      throw new TypeError(
        "REPLAY_FILE must name a JSON-lines file when SOURCE is replay",
      );
    }
  },
  ({ grafana: { user, password } }) => {
    if ((user === undefined) !== (password === undefined)) {
      throw new TypeError(
        "GRAFANA_USER and GRAFANA_PASSWORD must be set together",
      );
    }
  },
];

/**
 * Every variable this project reads, with its default and meaning, in
 * `--help` order.
 *
 * @example List the names
 * ```ts
 * import { VARIABLES } from "@cryptocandles/config";
 * console.log(VARIABLES.map((v) => v.name).join(","));
 * ```
 */
export const VARIABLES: readonly Variable[] = fieldsOf(SPEC).flatMap((f) =>
  f.variables
);

/** The fields of a table, depth first in its order. */
export function fieldsOf(spec: object): Field<unknown>[] {
  return Object.values(spec).flatMap((node) =>
    isField(node) ? [node] : fieldsOf(node)
  );
}

/** Whether a table node is a field (else it is a nested table). */
export function isField(node: unknown): node is Field<unknown> {
  return typeof (node as Field<unknown>).read === "function";
}

/** `0` or a whole number of minutes, hours or days (at most `maxDays`), in ms. */
function duration(maxDays: number) {
  const unit: Record<string, number> = {
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
  };
  return (value: string | undefined, variable: string): number => {
    const text = value?.trim() ?? "";
    const match = text.match(/^(\d+)([mhd])$/);
    const ms = text === "0"
      ? 0
      : match
      ? Number(match[1]) * unit[match[2]]
      : NaN;
    if (!(ms >= 0 && ms <= maxDays * unit.d)) {
      fail(
        variable,
        text,
        `0 or a duration such as 90m, 24h or 3d (at most ${maxDays}d)`,
      );
    }
    return ms;
  };
}

/** "a, b or c". */
function either(values: readonly string[]): string {
  return `${values.slice(0, -1).join(", ")} or ${values.at(-1)}`;
}

/**
 * SASL: off unless the mechanism is set; then the user and the password
 * must be set too (checked in that order, before the mechanism's value).
 */
function saslField(
  mechanism: Variable,
  username: Variable,
  password: Variable,
): Field<Config["kafka"]["sasl"]> {
  return {
    variables: [mechanism, username, password],
    read(get) {
      const chosen = get(mechanism.name);
      if (chosen === undefined) return undefined;
      const when = `when ${mechanism.name} is set`;
      const user = get(username.name);
      if (!user) fail(username.name, "", `a user name ${when}`);
      const secret = get(password.name);
      if (!secret) throw new TypeError(`${password.name} must be set ${when}`);
      return {
        mechanism: oneOf(SASL_MECHANISMS)(chosen, mechanism.name, get),
        username: user,
        password: secret,
      };
    },
  };
}
