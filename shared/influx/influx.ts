/**
 * InfluxDB 3 for the ticker points: line protocol with
 * `@influxdata/influxdb3-client`'s escaping (the same bytes as its `Point`,
 * at several times its speed for this fixed shape), and the HTTP calls
 * around it.
 *
 * The client's own `write()` serves badly here (under Deno it sends no gzip,
 * and it neither retries nor honours Retry-After). InfluxDB 3 Core serves
 * Flight SQL on its HTTP port too (that is how Grafana's SQL data source
 * queries it); this module queries over `/api/v3/query_sql`, which needs no
 * gRPC client. So this one module adds, over the
 * project's HTTP helper (`httpRequest` of `@cryptocandles/runtime`):
 * writes in chunks of at most 5,000 lines, gzip, a request timeout, retries
 * with jittered back-off on network errors, 5xx and 429 (honouring
 * Retry-After), per-line rejections of a 400, SQL queries over
 * `/api/v3/query_sql`, and database and table creation.
 *
 * @module
 */
import { escape } from "@influxdata/influxdb3-client";
import type { Config } from "@cryptocandles/config";
import {
  HttpError,
  type HttpErrorOptions,
  httpRequest,
  type RequestOptions,
  retry,
  type RetryOptions,
} from "@cryptocandles/runtime";
import type { Ticker } from "@cryptocandles/ticker";

/** Where InfluxDB is and how to talk to it. */
export interface InfluxOptions {
  /** Base URL, such as `http://127.0.0.1:8181`. */
  host: string;
  /** Token (sent as `Authorization: Bearer …`), when the server wants one. */
  token?: string;
  /** Database name. */
  database: string;
  /** Per-request timeout in ms. @default {10000} */
  timeoutMs?: number;
  /**
   * Compress request bodies larger than this many bytes (0 = never). Bodies
   * to a loopback host are sent plain: there is no network to save, and on a
   * small machine the CPU is the limit. @default {1000}
   */
  gzipThreshold?: number;
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /**
   * Write with `no_sync=true`: InfluxDB 3 Core answers before its write-ahead
   * log is flushed (every `--wal-flush-interval`), so the consumer commits
   * offsets of points a crash of the server may still lose. Off, a write is
   * answered once the points are in the log. @default {false}
   */
  noSync?: boolean;
}

/**
 * Options for the InfluxDB section of {@linkcode Config}.
 *
 * @param influx The `influx` section of the configuration.
 * @returns {@linkcode InfluxOptions}.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * import { influxOptions } from "@cryptocandles/influx";
 * const options = influxOptions(loadConfig(new Map()).influx);
 * ```
 */
export function influxOptions(influx: Config["influx"]): InfluxOptions {
  return {
    host: influx.host,
    token: influx.token,
    database: influx.database,
    noSync: influx.noSync ?? false,
  };
}

/**
 * A write or query InfluxDB refused or did not answer: an
 * {@linkcode HttpError} (`status`, 0 when there was no answer; `retriable`
 * for no answer, 408, 429 and 5xx; `retryAfterMs`; `cause`).
 *
 * @example Stop on a refused token, wait on an outage
 * ```ts ignore
 * import { InfluxWriteError, writeLines } from "@cryptocandles/influx";
 * try {
 *   await writeLines(lines, influx);
 * } catch (error) {
 *   if (error instanceof InfluxWriteError && !error.retriable) throw error;
 * }
 * ```
 */
export class InfluxWriteError extends HttpError {
  /**
   * @param message What failed, with InfluxDB's own message.
   * @param status HTTP status, or 0.
   * @param options Method, URL, InfluxDB's answer, Retry-After and the cause.
   */
  constructor(
    message: string,
    status: number,
    options: HttpErrorOptions = {},
  ) {
    super(message, status, options);
    this.name = "InfluxWriteError";
  }
}

/**
 * The line of one ticker: tag `Coin`, the contract's ten fields, time in ms.
 *
 * @param measurement The table name.
 * @param ticker The ticker.
 * @param timeMs The point's time, ms since the epoch (the event time).
 * @returns One line of line protocol (millisecond precision).
 * @throws {RangeError} When a field is NaN or infinite, naming it.
 *
 * @example
 * ```ts ignore
 * tickerLine("criptomonedas", ticker, ticker.event_time);
 * // criptomonedas,Coin=tBTCUSD close_price=66401,bid=…,low=65088 1718465131000
 * ```
 */
export function tickerLine(
  measurement: string,
  ticker: Ticker,
  timeMs: number,
): string {
  let fields = "";
  for (const [name, key] of LINE_FIELDS) {
    const value = ticker[key];
    if (!Number.isFinite(value)) {
      throw new RangeError(
        `${ticker.nombre}: field ${key} is ${value}, which InfluxDB cannot store`,
      );
    }
    fields += `${fields ? "," : ""}${name}=${value}`;
  }
  return `${escape.measurement(measurement)},Coin=${
    escape.tag(ticker.nombre)
  } ${fields} ${Math.trunc(timeMs)}`;
}

/**
 * Point fields and the ticker fields they hold, in the order the client's
 * `Point.toLineProtocol()` writes them (sorted by name; a test checks that
 * {@linkcode tickerLine} gives the client's line to the byte).
 */
const LINE_FIELDS: [string, keyof Ticker][] = [
  ["ask", "ask"],
  ["ask_size", "ask_size"],
  ["bid", "bid"],
  ["bid_size", "bid_size"],
  ["close_price", "precio_ultimo"],
  ["daily_change", "daily_change"],
  ["daily_change_percentage", "daily_change_percentage"],
  ["high", "precio_maximo"],
  ["low", "precio_minimo"],
  ["volume", "volume"],
];

/** A line InfluxDB refused, by its index in the `lines` given to {@linkcode writeLines}. */
export interface RejectedLine {
  index: number;
  message: string;
}

/** Options for {@linkcode writeLines}. */
export interface WriteOptions {
  /** Lines per request. @default {5000} */
  chunkLines?: number;
  /** Retry policy for unanswered, 5xx and 429 writes. @default {{ maxAttempts: 5, minTimeout: 200, maxTimeout: 10000 }} */
  retry?: RetryOptions;
  /** Stops retrying. */
  signal?: AbortSignal;
}

/**
 * Writes lines (millisecond timestamps) in chunks of at most 5,000, each
 * chunk gzipped, timed out and retried. A 400 that names bad lines
 * (InfluxDB 3's partial write) does not throw: the good lines are written,
 * and the bad ones come back for a dead-letter queue.
 *
 * @param lines Line protocol, one point per line.
 * @param influx Where to write.
 * @param options Chunk size, retry policy and signal.
 * @returns The lines InfluxDB refused (empty when all were written).
 * @throws {InfluxWriteError} When a chunk still fails after the retries, or is refused as a whole.
 *
 * @example
 * ```ts ignore
 * const rejected = await writeLines(lines, { host, token, database });
 * ```
 */
export async function writeLines(
  lines: string[],
  influx: InfluxOptions,
  options: WriteOptions = {},
): Promise<RejectedLine[]> {
  const { chunkLines = 5000, signal } = options;
  const policy = {
    maxAttempts: 5,
    minTimeout: 200,
    maxTimeout: 10_000,
    ...options.retry,
  };
  const rejected: RejectedLine[] = [];
  for (let start = 0; start < lines.length; start += chunkLines) {
    const chunk = lines.slice(start, start + chunkLines);
    const found = await retry(() => writeChunk(chunk, influx, signal), {
      ...policy,
      signal,
      isRetriable: (e) => e instanceof InfluxWriteError && e.retriable,
      delayFor: (e) => (e as InfluxWriteError).retryAfterMs,
    });
    for (const r of found) {
      rejected.push({ index: start + r.index, message: r.message });
    }
  }
  return rejected;
}

async function writeChunk(
  lines: string[],
  influx: InfluxOptions,
  signal?: AbortSignal,
): Promise<RejectedLine[]> {
  const { host, database, gzipThreshold = 1000 } = influx;
  const url = `${host}/api/v3/write_lp?db=${
    encodeURIComponent(database)
  }&precision=millisecond${influx.noSync ? "&no_sync=true" : ""}`;
  let body: BodyInit = lines.join("\n");
  const headers: Record<string, string> = {
    "content-type": "text/plain; charset=utf-8",
    ...auth(influx),
  };
  if (gzipThreshold > 0 && body.length > gzipThreshold && !isLoopback(host)) {
    body = await gzip(body);
    headers["content-encoding"] = "gzip";
  }
  try {
    await httpRequest(url, {
      ...requestOptions(influx, "write"),
      method: "POST",
      headers,
      body,
      signal,
      parse: "none",
    });
    return [];
  } catch (error) {
    const data = (error as { body?: { data?: unknown } }).body?.data;
    if (
      error instanceof InfluxWriteError && error.status === 400 &&
      Array.isArray(data) && data.length > 0
    ) {
      return data.map((d: { line_number: number; error_message: string }) => ({
        index: d.line_number - 1,
        message: d.error_message,
      }));
    }
    throw error;
  }
}

/**
 * Runs SQL through `POST /api/v3/query_sql` and returns the rows.
 *
 * @param sql The query.
 * @param influx Where to ask.
 * @returns Rows as objects (`format: json`).
 * @throws {InfluxWriteError} With InfluxDB's message when the query fails.
 *
 * @example
 * ```ts ignore
 * const rows = await querySql(`SELECT DISTINCT "Coin" FROM "criptomonedas"`, influx);
 * ```
 */
export async function querySql(
  sql: string,
  influx: InfluxOptions,
): Promise<Record<string, unknown>[]> {
  const { body } = await httpRequest<Record<string, unknown>[] | undefined>(
    `${influx.host}/api/v3/query_sql`,
    {
      ...requestOptions(influx, "query"),
      method: "POST",
      body: { db: influx.database, q: sql, format: "json" },
    },
  );
  return body ?? [];
}

/**
 * Creates the database when it does not exist (`/api/v3/configure/database`).
 *
 * @param influx Where, and which database.
 * @returns `"created"` or `"exists"`.
 * @throws {InfluxWriteError} When InfluxDB refuses or does not answer.
 *
 * @example
 * ```ts ignore
 * await ensureDatabase({ host, token, database: "criptomonedas" });
 * ```
 */
export async function ensureDatabase(
  influx: InfluxOptions,
): Promise<"created" | "exists"> {
  try {
    await httpRequest(`${influx.host}/api/v3/configure/database`, {
      ...requestOptions(influx, "create database"),
      method: "POST",
      body: { db: influx.database },
      parse: "none",
    });
    return "created";
  } catch (error) {
    if (!(error instanceof InfluxWriteError)) throw error;
    const answer = typeof error.body === "string"
      ? error.body
      : JSON.stringify(error.body ?? "");
    if (error.status === 409 || /already exists/i.test(answer)) return "exists";
    throw error;
  }
}

/**
 * A column type of `POST /api/v3/configure/table`: InfluxDB 3 Core's
 * `FieldType` (influxdata/influxdb, influxdb3_types/src/http.rs), serialised
 * in lowercase.
 */
export type FieldType = "utf8" | "int64" | "uint64" | "float64" | "bool";

/** A table as `POST /api/v3/configure/table` declares it. */
export interface TableSchema {
  /** The table's name. */
  table: string;
  /** Its tag columns, in the order of its series key. */
  tags: string[];
  /** Its field columns and their types. */
  fields: { name: string; type: FieldType }[];
}

/**
 * Creates a table with its tags and fields when it does not exist
 * (`POST /api/v3/configure/table`), so queries that name it find it before
 * any point is written: a query of a missing table fails ("table … not
 * found"), one of an empty table returns no rows.
 *
 * InfluxDB 3 Core (influxdata/influxdb, influxdb3_server/src/http.rs
 * `create_table`; influxdb3_catalog/src/catalog/update.rs) answers 200 with
 * an empty body when it made the table (and the database, when missing),
 * and 409 "attempted to create a resource that already exists" when the
 * table is there.
 *
 * @param influx Where, and which database.
 * @param schema The table, its tags and its fields.
 * @returns `"created"` or `"exists"`.
 * @throws {InfluxWriteError} When InfluxDB refuses (a bad body: 400) or does not answer.
 *
 * @example
 * ```ts ignore
 * await ensureTable(influx, { table: "t", tags: ["Coin"], fields: [{ name: "close", type: "float64" }] });
 * ```
 */
export async function ensureTable(
  influx: InfluxOptions,
  schema: TableSchema,
): Promise<"created" | "exists"> {
  const { status } = await httpRequest(
    `${influx.host}/api/v3/configure/table`,
    {
      ...requestOptions(influx, "create table"),
      method: "POST",
      body: { db: influx.database, ...schema },
      expect: [409],
      parse: "none",
    },
  );
  return status === 409 ? "exists" : "created";
}

/**
 * True when `GET /health` answers 200 within 2 s.
 *
 * @param influx Where.
 * @returns Whether InfluxDB is up.
 *
 * @example
 * ```ts ignore
 * if (!(await influxHealthy(influx))) console.log("InfluxDB is down");
 * ```
 */
export async function influxHealthy(influx: InfluxOptions): Promise<boolean> {
  try {
    await httpRequest(`${influx.host}/health`, {
      ...requestOptions(influx, "health"),
      timeoutMs: 2000,
      parse: "none",
    });
    return true;
  } catch {
    return false;
  }
}

/** What every call to InfluxDB shares: auth, timeout, fetch, and how errors name it. */
function requestOptions(influx: InfluxOptions, what: string): RequestOptions {
  const { host, timeoutMs = 10_000, fetch: doFetch = fetch } = influx;
  return {
    headers: auth(influx),
    timeoutMs,
    fetch: doFetch,
    service: `InfluxDB ${what}`,
    baseUrl: host,
    errorClass: InfluxWriteError,
  };
}

function isLoopback(host: string): boolean {
  const { hostname } = new URL(host);
  return hostname === "localhost" || hostname === "[::1]" ||
    hostname.startsWith("127.");
}

function auth(influx: InfluxOptions): Record<string, string> {
  return influx.token ? { authorization: `Bearer ${influx.token}` } : {};
}

async function gzip(text: string): Promise<ArrayBuffer> {
  const stream = new Blob([text]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return await new Response(stream).arrayBuffer();
}
