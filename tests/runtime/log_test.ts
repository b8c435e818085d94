import assert from "node:assert/strict";
import {
  createLogger,
  type Fields,
  type KafkajsLogEntry,
  kafkaLogCreator,
  type Level,
  type Logger,
  type LoggerOptions,
} from "@cryptocandles/runtime";

const NOW = Date.UTC(2024, 5, 15, 17, 25, 31, 250);

/** A logger whose lines are collected, with a fixed clock. */
function collecting(name: string, options: LoggerOptions = {}) {
  const lines: string[] = [];
  const log = createLogger(name, {
    write: (line) => lines.push(line),
    now: () => NOW,
    ...options,
  });
  return { log, lines };
}

Deno.test("createLogger() writes text lines as name: message key=value", () => {
  const { log, lines } = collecting("producer");
  log.info("sent 500 records", { coin: "tBTCUSD", lag: 3, ok: true });
  assert.deepEqual(lines, [
    "producer: sent 500 records coin=tBTCUSD lag=3 ok=true",
  ]);
});

Deno.test("createLogger() prefixes warn and error text lines with the level", () => {
  const { log, lines } = collecting("consumer");
  log.warn("slow write");
  log.error("write failed", { status: 503 });
  assert.deepEqual(lines, [
    "consumer: warn: slow write",
    "consumer: error: write failed status=503",
  ]);
});

Deno.test("createLogger() quotes text values with spaces, quotes or =, and prints errors by message", () => {
  const { log, lines } = collecting("sink");
  log.info("failed", {
    reason: "no such topic",
    expr: "a=b",
    error: new Error("broker down"),
    list: [1, 2],
    missing: undefined,
  });
  assert.deepEqual(lines, [
    'sink: failed reason="no such topic" expr="a=b" error="broker down" list=[1,2]',
  ]);
});

Deno.test("createLogger() prints debug lines only when debug is on", () => {
  const quiet = collecting("p");
  quiet.log.debug("hidden");
  assert.deepEqual(quiet.lines, []);
  const loud = collecting("p", { debug: true });
  loud.log.debug("shown", { n: 1 });
  assert.deepEqual(loud.lines, ["p: shown n=1"]);
});

Deno.test("createLogger() writes one JSON object per line with the injected time", () => {
  const { log, lines } = collecting("producer", { format: "json" });
  log.info("sent 500 records", { coin: "tBTCUSD", lag: 3 });
  log.error("stopped");
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [
    {
      time: "2024-06-15T17:25:31.250Z",
      level: "info",
      name: "producer",
      msg: "sent 500 records",
      coin: "tBTCUSD",
      lag: 3,
    },
    {
      time: "2024-06-15T17:25:31.250Z",
      level: "error",
      name: "producer",
      msg: "stopped",
    },
  ]);
  assert.ok(lines.every((line) => !line.includes("\n")));
});

Deno.test("createLogger() masks tokens, passwords and other secrets in both formats", () => {
  const secrets = {
    token: "influx-token-123",
    INFLUX_TOKEN: "influx-token-123",
    password: "hunter2",
    saslPassword: "hunter2",
    clientSecret: "s3cr3t",
    Authorization: "Bearer abc",
    sasl: "plain:user:hunter2",
    user: "alice",
  };
  for (const format of ["text", "json"] as const) {
    const { log, lines } = collecting("grafana", { format });
    log.info("connecting", secrets);
    const [line] = lines;
    for (const secret of ["influx-token-123", "hunter2", "s3cr3t", "abc"]) {
      assert.ok(
        !line.includes(secret),
        `${format} line shows ${secret}: ${line}`,
      );
    }
    assert.ok(line.includes("alice"));
  }
  const { log, lines } = collecting("grafana");
  log.info("connecting", { token: "t", user: "alice" });
  assert.deepEqual(lines, ["grafana: connecting token=*** user=alice"]);
});

Deno.test("createLogger() child loggers are named parent.child and keep the options", () => {
  const { log, lines } = collecting("consumer", { format: "json" });
  log.child("sink").warn("lagging");
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2024-06-15T17:25:31.250Z",
    level: "warn",
    name: "consumer.sink",
    msg: "lagging",
  });
});

/** A logger that records each call as [level, message, fields]. */
function recording() {
  const calls: [Level, string, Fields | undefined][] = [];
  const make = (name: string): Logger => ({
    name,
    debug: (m, f) => calls.push(["debug", m, f]),
    info: (m, f) => calls.push(["info", m, f]),
    warn: (m, f) => calls.push(["warn", m, f]),
    error: (m, f) => calls.push(["error", m, f]),
    child: (child) => make(`${name}.${child}`),
  });
  return { log: make("producer"), calls };
}

/** A kafkajs log entry as kafkajs hands it to a log creator. */
function entry(
  namespace: string,
  level: number,
  message: string,
  extra: Record<string, unknown> = {},
): KafkajsLogEntry {
  return {
    namespace,
    level,
    label: ["NOTHING", "ERROR", "WARN", "", "INFO", "DEBUG"][level],
    log: {
      timestamp: "2024-06-15T17:25:31.250Z",
      logger: "kafkajs",
      message,
      ...extra,
    },
  };
}

Deno.test("kafkaLogCreator() demotes kafkajs info lines to debug", () => {
  const { log, calls } = recording();
  const logEntry = kafkaLogCreator(log)(4);
  logEntry(entry("Consumer", 4, "Starting", { groupId: "Coins" }));
  assert.deepEqual(calls, [
    ["debug", "kafkajs Consumer: Starting", { groupId: "Coins" }],
  ]);
});

Deno.test("kafkaLogCreator() demotes Connection errors to warn and keeps other errors", () => {
  const { log, calls } = recording();
  const logEntry = kafkaLogCreator(log)(1);
  logEntry(
    entry("Connection", 1, "Response Metadata(key: 3, version: 6)", {
      broker: "127.0.0.1:19090",
      error: "There is no leader for this topic-partition",
    }),
  );
  logEntry(entry("Producer", 1, "Failed to send messages"));
  assert.deepEqual(calls, [
    ["warn", "kafkajs Connection: Response Metadata(key: 3, version: 6)", {
      broker: "127.0.0.1:19090",
      error: "There is no leader for this topic-partition",
    }],
    ["error", "kafkajs Producer: Failed to send messages", {}],
  ]);
});

Deno.test("kafkaLogCreator() keeps warnings and debug lines at their level", () => {
  const { log, calls } = recording();
  const logEntry = kafkaLogCreator(log)(5);
  logEntry(entry("Cluster", 2, "Topic metadata refresh failed"));
  logEntry(entry("Connection", 5, "Request Produce"));
  assert.deepEqual(calls.map(([level]) => level), ["warn", "debug"]);
});

Deno.test("kafkaLogCreator() lines reach a createLogger() line without kafkajs's timestamp", () => {
  const { log, lines } = collecting("producer");
  const logEntry = kafkaLogCreator(log)(2);
  logEntry(entry("Consumer", 4, "consumer has joined the group"));
  logEntry(
    entry("Connection", 1, "Connection error", { broker: "127.0.0.1:19091" }),
  );
  assert.deepEqual(lines, [
    "producer: warn: kafkajs Connection: Connection error broker=127.0.0.1:19091",
  ]);
});
