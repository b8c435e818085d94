/**
 * Starts and stops the local InfluxDB 3 double (`influxdb3_double.py`) for
 * tests: a Python server that answers InfluxDB 3 Core's HTTP API (writes,
 * SQL through DataFusion, databases, tables, health) and its Flight SQL
 * (gRPC) on the same port, acknowledges writes after a WAL flush as Core
 * does, and has fault switches.
 *
 * The double runs from the project's virtual environment, made with
 * `python3 -m venv .venv && .venv/bin/pip install -r tests/doubles/requirements.txt`.
 *
 * @module
 */

/** Options for {@linkcode startInfluxDouble}. */
export interface InfluxDoubleOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @default {0} */
  port?: number;
  /** Token every request must carry (Bearer, Token or Basic); omitted, none is asked. */
  token?: string;
  /**
   * A file as `influxdb3 serve --admin-token-file` reads it: JSON
   * `{"token": "apiv3_…", "name": "…"}`. Its token is accepted too; one that
   * does not start with `apiv3_` stops the double, as it stops Core.
   */
  adminTokenFile?: string;
  /**
   * Milliseconds between WAL flushes (`--wal-flush-interval`). A write is
   * answered after the next flush, or at once with `no_sync=true`, and its
   * points become queryable at that flush, as in InfluxDB 3 Core, whose
   * default is 1 s. 0 stores and answers every write at once (the double's
   * shortcut, not a Core setting).
   * @default {1000}
   */
  walFlushIntervalMs?: number;
  /**
   * Endpoints served without a token, as `influxdb3 serve --disable-authz`
   * does; InfluxDB 3 Core asks a token for them too by default.
   * @default {[]}
   */
  disableAuthz?: ("health" | "ping" | "metrics")[];
  /** Databases allowed besides `_internal` (InfluxDB 3 Core allows 5). @default {5} */
  maxDatabases?: number;
  /** Database {@linkcode InfluxDouble.query} reads. @default {"criptomonedas"} */
  database?: string;
  /** Milliseconds to wait for the double to listen. @default {15000} */
  startTimeoutMs?: number;
}

/** A fault mode: `down` resets connections, `error500`/`error429` answer `/api/` with that status, `slow` delays answers. */
export type InfluxDoubleMode = "ok" | "down" | "error500" | "error429" | "slow";

/** Switches the double into a fault mode. */
export interface InfluxDoubleModeAction {
  /** The mode. */
  mode: InfluxDoubleMode;
  /** Seconds in the `Retry-After` header of `error429`. @default {1} */
  retryAfter?: number;
  /** Milliseconds `slow` waits before each answer. @default {1000} */
  delayMs?: number;
  /** Requests the mode applies to before it reverts to `ok`; omitted, it stays. */
  times?: number;
  /**
   * `"writes"`: the mode applies to the write endpoints alone, and queries
   * are answered as usual (so a test can read what was stored during an
   * outage of writes). Omitted, it applies to every request.
   */
  only?: "writes";
}

/** What {@linkcode InfluxDouble.control} accepts: a mode, `"reset"`, `"stats"` or `"flush"`. */
export type InfluxDoubleAction =
  | InfluxDoubleModeAction
  | "reset"
  | "stats"
  | "flush";

/** The double's counters (since start or the last reset). */
export interface InfluxDoubleStats {
  /** Requests outside `/__double/`. */
  requests: number;
  /** Write requests that stored at least one point. */
  writes: number;
  /** Points stored now, across databases. */
  points: number;
  /** Lines (not blank, not comments) in write bodies that reached the parser. */
  lines_received: number;
  /** Write requests with `Content-Encoding: gzip`. */
  gzip_requests: number;
  /** Write requests answered with an error (a fault mode, auth, bad lines, ...). */
  rejected: number;
  /** Lines refused inside partial writes. */
  rejected_lines: number;
  /** Requests to `/api/v3/query_sql`, and Flight SQL queries run by `DoGet`. */
  queries: number;
  /** HTTP queries whose answer was cut off by an error while executing. */
  queries_cut: number;
  /** gRPC calls to the Flight SQL service. */
  flight_requests: number;
  /** Writes whose points wait in the WAL buffer for the next flush. */
  wal_pending: number;
  /** WAL flushes that moved points into the tables. */
  wal_flushes: number;
  /** Databases besides `_internal`. */
  databases: string[];
  /** Flight SQL commands received, by name, such as `flight_CommandStatementQuery`. */
  [command: `flight_${string}`]: number;
}

/** A running double, from {@linkcode startInfluxDouble}. */
export interface InfluxDouble extends AsyncDisposable {
  /** Base URL, such as `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** The token it asks for, if any. */
  readonly token: string | undefined;
  /**
   * Flight SQL on the same port, as a gRPC URI over plain TCP, such as
   * `grpc+tcp://127.0.0.1:40123` (Grafana's `insecureGrpc`).
   */
  readonly flightUri: string;
  /** Reads the counters. */
  control(action: "stats"): Promise<InfluxDoubleStats>;
  /** Drops every database, the WAL buffer, the mode and the counters. */
  control(action: "reset"): Promise<void>;
  /** Flushes the WAL buffer now, as the next tick would; true when it held points. */
  control(action: "flush"): Promise<boolean>;
  /** Switches the fault mode. */
  control(action: InfluxDoubleModeAction): Promise<void>;
  /** Runs SQL through `POST /api/v3/query_sql` (json) and returns the rows; throws on any other status. */
  query(
    sql: string,
    options?: { database?: string },
  ): Promise<Record<string, unknown>[]>;
  /** Stops the double (SIGTERM, then SIGKILL after 5 s) and waits for it; safe to call twice. */
  close(): Promise<void>;
}

const SCRIPT = new URL("./influxdb3_double.py", import.meta.url);
const PYTHON = new URL("../../.venv/bin/python", import.meta.url);
const SETUP =
  "python3 -m venv .venv && .venv/bin/pip install -r tests/doubles/requirements.txt";

/**
 * Starts the InfluxDB 3 double on 127.0.0.1 and waits until it listens.
 *
 * @param options Port, token, WAL flush interval and limits.
 * @returns The running double; `close()` it (or `await using` it).
 * @throws {Error} When `.venv` is missing or the double does not start, with the tail of its stderr.
 *
 * @example Write a point and read it back
 * ```ts ignore
 * await using influx = await startInfluxDouble({ token: "t" });
 * await fetch(`${influx.url}/api/v3/write_lp?db=criptomonedas`, {
 *   method: "POST",
 *   headers: { authorization: "Bearer t" },
 *   body: "criptomonedas,Coin=tBTCUSD close_price=1 1718472300",
 * }).then((r) => r.body?.cancel());
 * const rows = await influx.query(`SELECT * FROM "criptomonedas"`);
 * ```
 */
export async function startInfluxDouble(
  options: InfluxDoubleOptions = {},
): Promise<InfluxDouble> {
  const {
    port = 0,
    token,
    disableAuthz = [],
    maxDatabases = 5,
    database = "criptomonedas",
    startTimeoutMs = 15_000,
    walFlushIntervalMs = 1000,
    adminTokenFile,
  } = options;
  if (!(Number.isFinite(walFlushIntervalMs) && walFlushIntervalMs >= 0)) {
    throw new RangeError(
      `walFlushIntervalMs must be 0 or more, not ${walFlushIntervalMs}`,
    );
  }
  const args = [
    fileUrlToPath(SCRIPT),
    "--port",
    String(port),
    "--max-databases",
    String(maxDatabases),
    "--wal-flush-interval",
    `${walFlushIntervalMs}ms`,
  ];
  if (token !== undefined) args.push("--token", token);
  if (adminTokenFile !== undefined) {
    args.push("--admin-token-file", adminTokenFile);
  }
  if (disableAuthz.length > 0) {
    args.push("--disable-authz", disableAuthz.join(","));
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(fileUrlToPath(PYTHON), {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (cause) {
    throw new Error(
      `Cannot start the InfluxDB double as ${
        fileUrlToPath(PYTHON)
      } is missing: run \`${SETUP}\``,
      { cause },
    );
  }
  const stderr = collectTail(child.stderr);
  let address: string;
  try {
    address = await firstLine(child, startTimeoutMs);
  } catch (cause) {
    await stop(child);
    const tail = await stderr;
    throw new Error(
      `Cannot start the InfluxDB double: ${(cause as Error).message}${
        tail ? `\n${tail}` : ""
      }`,
      { cause },
    );
  }
  const match = /^listening (\S+):(\d+)$/.exec(address);
  if (!match) {
    await stop(child);
    await stderr;
    throw new Error(
      `The InfluxDB double printed "${address}", not its address`,
    );
  }
  const url = `http://${match[1]}:${match[2]}`;
  const headers: Record<string, string> = token === undefined
    ? {}
    : { authorization: `Bearer ${token}` };
  let closing: Promise<void> | undefined;

  async function control(action: InfluxDoubleAction): Promise<unknown> {
    if (action === "stats") {
      return await json(await fetch(`${url}/__double/stats`), "stats");
    }
    if (action === "reset") {
      await json(
        await fetch(`${url}/__double/reset`, { method: "POST" }),
        "reset",
      );
      return undefined;
    }
    if (action === "flush") {
      const answer = await json(
        await fetch(`${url}/__double/flush`, { method: "POST" }),
        "flush",
      ) as { flushed: boolean };
      return answer.flushed;
    }
    const { mode, retryAfter, delayMs, times, only } = action;
    await json(
      await fetch(`${url}/__double/mode`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          mode,
          retry_after: retryAfter,
          delay_ms: delayMs,
          times,
          only,
        }),
      }),
      "mode",
    );
    return undefined;
  }

  const double: InfluxDouble = {
    url,
    port: Number(match[2]),
    token,
    flightUri: `grpc+tcp://${match[1]}:${match[2]}`,
    control: control as InfluxDouble["control"],
    async query(sql, queryOptions = {}) {
      const response = await fetch(`${url}/api/v3/query_sql`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({
          db: queryOptions.database ?? database,
          q: sql,
          format: "json",
        }),
      });
      return await json(response, "query") as Record<string, unknown>[];
    },
    close() {
      closing ??= (async () => {
        await stop(child);
        await stderr;
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return double.close();
    },
  };
  return double;
}

async function json(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) {
    throw new Error(
      `InfluxDB double ${what} answered ${response.status}: ${text}`,
    );
  }
  return text === "" ? undefined : JSON.parse(text);
}

/** Reads stdout up to the first newline, then lets the rest go. */
async function firstLine(
  child: Deno.ChildProcess,
  timeoutMs: number,
): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no address within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  const exited = child.status.then((status) => {
    throw new Error(`it exited with code ${status.code} before listening`);
  });
  exited.catch(() => {});
  try {
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await Promise.race([
        reader.read(),
        timeout,
        exited,
      ]);
      if (done) {
        throw new Error("its stdout closed before it printed an address");
      }
      text += value;
    }
    return text.slice(0, text.indexOf("\n")).trim();
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
}

/** Keeps the last 4 KiB of a stream, for error messages. */
async function collectTail(
  stream: ReadableStream<Uint8Array>,
): Promise<string> {
  let tail = "";
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      tail = (tail + text).slice(-4096);
    }
  } catch {
    // The stream ends with the process; what was read is enough.
  }
  return tail.trim();
}

/** SIGTERM, SIGKILL after 5 s, then waits for the exit. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // Already exited.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
      resolve();
    }, 5_000);
  });
  await Promise.race([child.status, killed]);
  clearTimeout(timer);
  await child.status;
}

function fileUrlToPath(url: URL): string {
  return decodeURIComponent(url.pathname);
}
