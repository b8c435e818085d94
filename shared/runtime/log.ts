/**
 * One-line-per-event logging to stderr, as text or JSON, shared by every
 * script and by kafkajs (through {@linkcode kafkaLogCreator}).
 *
 * @module
 */

/** Severity of a log line. */
export type Level = "debug" | "info" | "warn" | "error";

/** Output format of a {@linkcode Logger}. */
export type LogFormat = "text" | "json";

/** Extra key/value pairs printed after the message. */
export type Fields = Record<string, unknown>;

/** A named logger that writes one line per call. */
export interface Logger {
  /** The name printed before every message, such as `producer`. */
  readonly name: string;
  /** Logs a line at `debug` (printed only when `debug` is enabled). */
  debug(message: string, fields?: Fields): void;
  /** Logs a line at `info`. */
  info(message: string, fields?: Fields): void;
  /** Logs a line at `warn`. */
  warn(message: string, fields?: Fields): void;
  /** Logs a line at `error`. */
  error(message: string, fields?: Fields): void;
  /** Returns a logger whose name is `<name>.<child>`. */
  child(child: string): Logger;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** `text` for people, `json` for machines. @default {"text"} */
  format?: LogFormat;
  /** Print `debug` lines too. @default {false} */
  debug?: boolean;
  /** Where lines go. @default {writing to stderr} */
  write?: (line: string) => void;
  /** Clock for JSON timestamps. @default {Date.now} */
  now?: () => number;
}

/** Keys whose values are never printed. */
const SECRET_KEY = /token|password|secret|authorization|sasl/i;

const encoder = new TextEncoder();

/**
 * Writes one line to stderr, as every {@linkcode Logger} does by default:
 * the sink for lines that are already formatted (a child's prefixed line).
 *
 * @param line The line, without its newline.
 *
 * @example Print a child's line as is
 * ```ts
 * import { writeStderr } from "@cryptocandles/runtime";
 * writeStderr("[producer] sending");
 * ```
 */
export function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/**
 * Creates a logger that prints one line per event to stderr.
 *
 * Text lines read `producer: sent 500 records coin=tBTCUSD`; JSON lines are
 * `{"time":…,"level":"info","name":"producer","msg":"sent 500 records","coin":"tBTCUSD"}`.
 * Fields whose key looks like a secret (token, password, …) are masked.
 *
 * @param name The name printed before every message.
 * @param options Format, debug switch, sink and clock.
 * @returns A {@linkcode Logger}.
 *
 * @example Log a line
 * ```ts
 * import { createLogger } from "@cryptocandles/runtime";
 * const log = createLogger("producer", { format: "text" });
 * log.info("connected", { brokers: 3 });
 * ```
 */
export function createLogger(
  name: string,
  options: LoggerOptions = {},
): Logger {
  const {
    format = "text",
    debug = false,
    write = writeStderr,
    now = Date.now,
  } = options;
  const emit = (level: Level, message: string, fields: Fields = {}) => {
    if (level === "debug" && !debug) return;
    const safe = maskSecrets(fields) as Fields;
    if (format === "json") {
      const head = {
        time: new Date(now()).toISOString(),
        level,
        name,
        msg: message,
      };
      // The fields go after the head but never replace it.
      write(JSON.stringify(Object.assign({ ...head }, safe, head)));
      return;
    }
    const prefix = level === "info" || level === "debug" ? "" : `${level}: `;
    const extra = Object.entries(safe).map(([k, v]) =>
      ` ${k}=${formatValue(v)}`
    ).join("");
    write(`${name}: ${prefix}${message.replaceAll("\n", "\\n")}${extra}`);
  };
  return {
    name,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (child) => createLogger(`${name}.${child}`, options),
  };
}

/** Masks secret-looking keys at any depth; errors become their message. */
function maskSecrets(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return value.message;
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, depth + 1));
  if (value === null || typeof value !== "object" || depth > 8) return value;
  const out: Fields = {};
  for (const [key, inner] of Object.entries(value)) {
    if (inner === undefined) continue;
    out[key] = SECRET_KEY.test(key) ? "***" : maskSecrets(inner, depth + 1);
  }
  return out;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") {
    return /[\s="]/.test(value) ? JSON.stringify(value) : value;
  }
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  return JSON.stringify(value);
}

/** kafkajs numeric log levels (kafkajs `logLevel`). */
const KAFKAJS_LEVELS: Record<number, Level> = {
  1: "error",
  2: "warn",
  4: "info",
  5: "debug",
};

/** The shape of a kafkajs log entry handed to a log creator. */
export interface KafkajsLogEntry {
  namespace: string;
  level: number;
  label: string;
  log: { message: string; [key: string]: unknown };
}

/**
 * Maps kafkajs log entries onto a {@linkcode Logger}, for kafkajs's
 * `logCreator` option. kafkajs `info` lines (joins, rebalances) are
 * demoted to `debug` so the scripts' own lines stay readable; warnings and
 * errors keep their level.
 *
 * @param log The logger to write to.
 * @returns A kafkajs `logCreator`.
 *
 * @example Plug into kafkajs
 * ```ts
 * import { createLogger, kafkaLogCreator } from "@cryptocandles/runtime";
 * const logCreator = kafkaLogCreator(createLogger("producer"));
 * ```
 */
export function kafkaLogCreator(
  log: Logger,
): (level: number) => (entry: KafkajsLogEntry) => void {
  return () => ({ namespace, level, log: entry }) => {
    const { message, timestamp: _t, logger: _l, ...fields } = entry;
    // kafkajs logs every retriable broker answer as a Connection error, then
    // retries; what finally fails reaches the caller, which logs it.
    const ours = KAFKAJS_LEVELS[level] ?? "debug";
    const mapped = ours === "info"
      ? "debug"
      : ours === "error" && namespace === "Connection"
      ? "warn"
      : ours;
    log[mapped](`kafkajs ${namespace}: ${message}`, fields);
  };
}
