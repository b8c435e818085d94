/**
 * Every dashboard query over Arrow Flight SQL, as Grafana's InfluxDB data
 * source sends it in SQL mode (grafana/grafana pkg/tsdb/influxdb/fsql:
 * `database` gRPC header, `authorization: Bearer`, plain TCP for
 * `insecureGrpc`, `CommandStatementQuery` then `DoGet`), gives the rows the
 * HTTP `query_sql` API gives, with the column types the panels map. The
 * Flight SQL client is another make than the double: ADBC's Go driver, on
 * arrow-go's flightsql client as Grafana's (tests/doubles/flight_sql_client.py).
 * The points are written as the consumer writes them (`tickerLine` +
 * `writeLines`), acknowledged after the WAL flush as by InfluxDB 3 Core.
 *
 * Needs `--allow-run=.venv/bin/python` and the venv of
 * tests/doubles/requirements.txt.
 */
import assert from "node:assert/strict";
import type { Panel } from "@grafana/schema";
import { loadConfig } from "@cryptocandles/config";
import {
  buildDashboard,
  dashboardQueries,
  INTERVALS,
} from "@cryptocandles/grafana";
import {
  candleLine,
  type InfluxOptions,
  querySql,
  tickerLine,
  writeLines,
} from "@cryptocandles/influx";
import {
  historyCandles,
  NOW,
  sessionTicks,
  SIX_HOURS,
} from "../fixtures/session.ts";
import { interpolateSql } from "../doubles/grafana_double.ts";
import {
  type InfluxDouble,
  startInfluxDouble,
} from "../doubles/influx_double.ts";

const TOKEN = "apiv3_flight_sql_test";
const config = loadConfig(new Map());
const MEASUREMENT = config.influx.measurement;
const DATABASE = config.influx.database;
/** The moment the dashboard is looked at (not on a whole second, as in life). */

const PYTHON = new URL("../../.venv/bin/python", import.meta.url).pathname;
const CLIENT =
  new URL("../doubles/flight_sql_client.py", import.meta.url).pathname;

/** What the Flight SQL client prints for one query. */
interface FlightAnswer {
  ok: boolean;
  error?: string;
  schema?: { name: string; type: string }[];
  rows?: Record<string, unknown>[];
}

/** Runs SQL over Flight SQL with ADBC, one process for all the queries. */
async function flightSql(
  uri: string,
  queries: string[],
  { database, token }: { database?: string; token?: string },
): Promise<FlightAnswer[]> {
  const args = [CLIENT, uri];
  if (database !== undefined) args.push("--database", database);
  if (token !== undefined) args.push("--token", token);
  const child = new Deno.Command(PYTHON, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  await stdin.write(new TextEncoder().encode(JSON.stringify(queries)));
  await stdin.close();
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return text.trim().split("\n").map((line) => JSON.parse(line));
}

/** A time as the HTTP API renders it, in nanoseconds (as the client prints them). */
function nanoseconds(text: unknown): string {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?$/.exec(
    String(text),
  );
  assert.ok(match, `not a time: ${text}`);
  const seconds = BigInt(Date.parse(`${match[1]}Z`) / 1000);
  return String(
    seconds * 1_000_000_000n + BigInt((match[2] ?? "").padEnd(9, "0")),
  );
}

/** HTTP rows in the Flight client's terms: times in ns, nulls absent there. */
function httpAsFlight(
  rows: Record<string, unknown>[],
  schema: { name: string; type: string }[],
): Record<string, unknown>[] {
  return rows.map((row) =>
    Object.fromEntries(
      schema.map(({ name, type }) => {
        const value = row[name];
        if (value === undefined) return [name, null];
        return [
          name,
          type.startsWith("timestamp") ? nanoseconds(value) : value,
        ];
      }),
    )
  );
}

/** Every dashboard query, expanded as Grafana expands it, for each coin and interval. */
function expandedQueries(): { source: string; sql: string }[] {
  const range = (panel?: Panel) =>
    panel?.timeFrom === "now/d"
      ? { from: Math.floor(NOW / 86_400_000) * 86_400_000, to: NOW }
      : { from: NOW - SIX_HOURS, to: NOW };
  const out: { source: string; sql: string }[] = [];
  const queries = dashboardQueries(
    buildDashboard({ measurement: MEASUREMENT }),
  );
  for (const { source, panel, target } of queries) {
    const { from, to } = range(panel);
    const uses = (name: string) => target.rawSql.includes(`$${name}`);
    const coins = uses("coin") ? ["tBTCUSD", "tETHUSD"] : [undefined];
    const intervals = uses("interval") ? Object.values(INTERVALS) : [undefined];
    for (const coin of coins) {
      for (const interval of intervals) {
        const variables: Record<string, string> = {};
        if (coin) variables.coin = coin;
        if (interval) variables.interval = interval;
        const sql = interpolateSql(target.rawSql, {
          from: new Date(from),
          to: new Date(to),
          variables,
        });
        assert.doesNotMatch(sql, /\$/, `unexpanded in:\n${sql}`);
        out.push({ source, sql });
      }
    }
  }
  return out;
}

/** The Arrow type of each column a panel maps, as Grafana's frame conversion reads it. */
const COLUMN_TYPES: Record<string, string> = {
  time: "timestamp[ns]",
  open: "double",
  high: "double",
  low: "double",
  close: "double",
  volume: "double",
  price: "double",
  daily_max: "double",
  Coin: "string",
  points: "int64",
};

async function writeTicks(double: InfluxDouble): Promise<InfluxOptions> {
  const influx: InfluxOptions = {
    host: double.url,
    token: TOKEN,
    database: DATABASE,
  };
  const all = sessionTicks();
  const rejected = await writeLines(
    [
      ...all.map((ticker) =>
        tickerLine(MEASUREMENT, ticker, ticker.event_time)
      ),
      ...historyCandles().map((c) => candleLine(MEASUREMENT, c)),
    ],
    influx,
  );
  assert.deepEqual(rejected, []);
  return influx;
}

Deno.test("every dashboard query over Flight SQL, as Grafana sends it, gives the HTTP API's rows and the panels' column types", async () => {
  // Core's default WAL flush interval: each write is answered after a flush.
  await using double = await startInfluxDouble({
    token: TOKEN,
    walFlushIntervalMs: 1000,
  });
  const influx = await writeTicks(double);
  const queries = expandedQueries();
  assert.deepEqual([...new Set(queries.map((q) => q.source))].sort(), [
    "panel $coin – candles ($interval)",
    "panel $coin – daily max price",
    "panel $coin – last price",
    "panel Points per minute",
    "variable coin",
  ]);
  const before = await double.control("stats");
  const answers = await flightSql(
    double.flightUri,
    queries.map((q) => q.sql),
    { database: DATABASE, token: TOKEN },
  );
  assert.equal(answers.length, queries.length);
  for (const [i, { source, sql }] of queries.entries()) {
    const answer = answers[i];
    assert.ok(answer.ok, `${source}: ${answer.error}\n${sql}`);
    const schema = answer.schema ?? [];
    const http = await querySql(sql, influx);
    assert.ok(http.length > 0, `${source} has rows:\n${sql}`);
    assert.deepEqual(
      answer.rows,
      httpAsFlight(http, schema),
      `${source}: Flight SQL and HTTP differ\n${sql}`,
    );
    for (const row of http) {
      assert.deepEqual(
        Object.keys(row),
        schema.map((c) => c.name).filter((name) => row[name] !== undefined),
      );
    }
    for (const { name, type } of schema) {
      assert.equal(type, COLUMN_TYPES[name], `${source}: type of ${name}`);
    }
  }
  // Sent as Grafana sends them: a statement query each, never prepared.
  const after = await double.control("stats");
  assert.equal(
    (after.flight_CommandStatementQuery ?? 0) -
      (before.flight_CommandStatementQuery ?? 0),
    queries.length,
  );
  assert.equal(after.flight_ActionCreatePreparedStatementRequest, undefined);
});

Deno.test("Grafana's data source health check (select 1 over Flight SQL) succeeds, and fails without the token", async () => {
  await using double = await startInfluxDouble({
    token: TOKEN,
    walFlushIntervalMs: 10,
  });
  await writeTicks(double);
  // Flight SQL shares the HTTP API's port, as in InfluxDB 3 Core.
  assert.equal(double.flightUri, `grpc+tcp://127.0.0.1:${double.port}`);
  const [ok] = await flightSql(double.flightUri, ["select 1"], {
    database: DATABASE,
    token: TOKEN,
  });
  assert.deepEqual(ok, {
    ok: true,
    schema: [{ name: "Int64(1)", type: "int64" }],
    rows: [{ "Int64(1)": 1 }],
  });
  // influxdb3/tests/server/auth.rs (auth_grpc): no token is Unauthenticated,
  // a wrong one PermissionDenied (ADBC names it UNAUTHORIZED).
  const [none] = await flightSql(double.flightUri, ["select 1"], {
    database: DATABASE,
  });
  assert.equal(none.ok, false);
  assert.match(none.error ?? "", /^UNAUTHENTICATED: .*Unauthenticated/);
  const [wrong] = await flightSql(double.flightUri, ["select 1"], {
    database: DATABASE,
    token: "apiv3_wrong",
  });
  assert.equal(wrong.ok, false);
  assert.match(wrong.error ?? "", /^UNAUTHORIZED: .*Permission denied/);
});

Deno.test("Flight SQL wants the database header, names an unknown database, and ends the stream on an execution error", async () => {
  await using double = await startInfluxDouble({
    token: TOKEN,
    walFlushIntervalMs: 10,
  });
  await writeTicks(double);
  const [noHeader] = await flightSql(double.flightUri, ["select 1"], {
    token: TOKEN,
  });
  assert.match(
    noHeader.error ?? "",
    /^INVALID_ARGUMENT: .*no 'database' header in request/,
  );
  const [unknown] = await flightSql(double.flightUri, ["select 1"], {
    database: "nodb",
    token: TOKEN,
  });
  assert.match(unknown.error ?? "", /^NOT_FOUND: .*Database 'nodb' not found/);
  const [planning, executing] = await flightSql(double.flightUri, [
    `SELECT nope FROM "${MEASUREMENT}"`,
    `SELECT CAST(CAST("Coin" AS VARCHAR) AS BIGINT) AS n FROM "${MEASUREMENT}"`,
  ], { database: DATABASE, token: TOKEN });
  assert.match(planning.error ?? "", /^INVALID_ARGUMENT: .*planning.*nope/s);
  assert.equal(executing.ok, false);
  assert.match(executing.error ?? "", /Cannot cast string 'tBTCUSD'/);
});
