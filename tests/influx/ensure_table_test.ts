/**
 * The history table made before any history arrives: `ensureTable()` and
 * `waitForDatabase({ tables })` against the InfluxDB 3 double, whose
 * `POST /api/v3/configure/table` follows InfluxDB 3 Core
 * (influxdata/influxdb: influxdb3_server/src/http.rs `create_table`,
 * influxdb3_types/src/http.rs `CreateTableRequest`,
 * influxdb3_catalog/src/catalog/update.rs `create_table`).
 *
 * Needs `.venv` (tests/doubles/requirements.txt) for the double.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  candleLine,
  candleTableSchema,
  ensureDatabase,
  ensureTable,
  type InfluxOptions,
  InfluxWriteError,
  querySql,
  tickerLine,
  waitForDatabase,
  writeLines,
} from "@cryptocandles/influx";
import {
  buildDashboard,
  dashboardQueries,
  INTERVALS,
} from "@cryptocandles/grafana";
import { createLogger } from "@cryptocandles/runtime";
import type { Ticker } from "@cryptocandles/ticker";
import { interpolateSql } from "../doubles/grafana_double.ts";
import { startInfluxDouble } from "../doubles/influx_double.ts";

const TOKEN = "apiv3_ensure_table_test";
const DB = "criptomonedas";
const T = Date.UTC(2026, 0, 5, 12, 0);
const TICKER: Ticker = {
  nombre: "tBTCUSD",
  bid: 66_371,
  bid_size: 2.5,
  ask: 66_372,
  ask_size: 6.4,
  daily_change: -644,
  daily_change_percentage: -0.0096,
  precio_ultimo: 66_401,
  volume: 639.7,
  precio_maximo: 67_045,
  precio_minimo: 65_088,
  event_time: T + 5_000,
};

/** POSTs `body` to the double's `/api/v3/configure/table`; the status and text of the answer. */
async function configureTable(
  url: string,
  body: string,
  contentType = "application/json",
) {
  const response = await fetch(`${url}/api/v3/configure/table`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": contentType },
    body,
  });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    text: await response.text(),
  };
}

/** The dashboard's candle panel query, expanded as Grafana expands it. */
function candlePanelSql(measurement: string): string {
  const candles = dashboardQueries(buildDashboard({ measurement })).find((q) =>
    q.source.startsWith("panel $coin – candles")
  );
  assert.ok(candles, "the dashboard has a candle panel");
  return interpolateSql(candles.target.rawSql, {
    from: new Date(T - 3_600_000),
    to: new Date(T + 60_000),
    variables: { coin: "tBTCUSD", interval: INTERVALS["1m"] },
  });
}

Deno.test("the InfluxDB double's POST /api/v3/configure/table answers as Core: 200 created, 409 when the table exists, 400 for a body serde refuses, 415 for one that is not JSON", async () => {
  await using double = await startInfluxDouble({ token: TOKEN });
  const body = JSON.stringify({
    db: DB,
    table: "prices",
    tags: ["Coin"],
    fields: [{ name: "close", type: "float64" }, { name: "ok", type: "bool" }],
  });

  // created: 200, empty body; the database is created along with it
  assert.deepEqual(await configureTable(double.url, body), {
    status: 200,
    type: null,
    text: "",
  });
  assert.deepEqual((await double.control("stats")).databases, [DB]);
  // again: CatalogError::AlreadyExists, 409 with its text and no content type
  assert.deepEqual(await configureTable(double.url, body), {
    status: 409,
    type: null,
    text: "attempted to create a resource that already exists",
  });

  const refused = [
    [{ db: DB, table: "x", fields: [] }, "missing field `tags`"],
    [{ db: DB, table: "x", tags: [] }, "missing field `fields`"],
    [
      { db: DB, table: "x", tags: [], fields: [{ name: "a", type: "float" }] },
      "unknown variant `float`, expected one of `utf8`, `int64`, `uint64`, `float64`, `bool`",
    ],
    [
      { db: DB, table: "x", tags: [], fields: [{ name: "a" }] },
      "missing field `type`",
    ],
  ] as const;
  for (const [request, message] of refused) {
    const answer = await configureTable(double.url, JSON.stringify(request));
    assert.equal(answer.status, 400, JSON.stringify(request));
    assert.equal(answer.text, `serde json error: ${message}`);
  }
  assert.equal((await configureTable(double.url, "{not json")).status, 400);
  // the database name is checked as for writes (no retention policy)
  const badDb = await configureTable(
    double.url,
    JSON.stringify({ db: "_bad", table: "x", tags: [], fields: [] }),
  );
  assert.equal(badDb.status, 400);
  assert.match(badDb.text, /did not start with a number or letter/);
  // read_body_json: a content type other than JSON is refused before the body is read
  const plain = await configureTable(double.url, body, "text/plain");
  assert.deepEqual(plain, {
    status: 415,
    type: null,
    text: "unacceptable content-type, expected: application/json",
  });
});

Deno.test("ensureTable() makes the candle table: 'created', then 'exists'; a query of it returns no rows until a candle is written, then that candle", async () => {
  await using double = await startInfluxDouble({
    token: TOKEN,
    walFlushIntervalMs: 0,
  });
  const influx: InfluxOptions = {
    host: double.url,
    token: TOKEN,
    database: DB,
  };
  const schema = candleTableSchema("criptomonedas");
  assert.equal(schema.table, "criptomonedas_candles");

  // before: the database is there, the table is not, and a query naming it fails
  assert.equal(await ensureDatabase(influx), "created");
  await assert.rejects(
    () => querySql(`SELECT * FROM "criptomonedas_candles"`, influx),
    (error: InfluxWriteError) =>
      error.status === 400 && /not found/.test(error.message),
  );
  assert.equal(await ensureTable(influx, schema), "created");
  assert.equal(await ensureTable(influx, schema), "exists");
  assert.deepEqual(
    await querySql(`SELECT * FROM "criptomonedas_candles"`, influx),
    [],
  );
  // its columns have the types the candle lines write
  const columns = await querySql(
    `SELECT column_name, data_type FROM information_schema.columns ` +
      `WHERE table_name = 'criptomonedas_candles' ORDER BY column_name`,
    influx,
  );
  const types = Object.fromEntries(
    columns.map((c) => [c.column_name, c.data_type]),
  );
  assert.match(String(types.time), /^Timestamp/);
  delete types.time;
  assert.deepEqual(types, {
    Coin: "Dictionary(Int32, Utf8)",
    interval: "Dictionary(Int32, Utf8)",
    open: "Float64",
    high: "Float64",
    low: "Float64",
    close: "Float64",
    volume: "Float64",
    empty: "Boolean",
  });
  const candle = {
    pair: "tBTCUSD",
    interval: "1m",
    start: T,
    open: 1,
    high: 2,
    low: 0.5,
    close: 1.5,
    volume: 3,
    empty: true,
  };
  assert.deepEqual(
    await writeLines([candleLine("criptomonedas", candle)], influx),
    [],
  );
  assert.deepEqual(
    await querySql(
      `SELECT "Coin", "interval", open, high, low, close, volume, empty FROM "criptomonedas_candles"`,
      influx,
    ),
    [{
      Coin: "tBTCUSD",
      interval: "1m",
      open: 1,
      high: 2,
      low: 0.5,
      close: 1.5,
      volume: 3,
      empty: true,
    }],
  );
});

Deno.test("the dashboard's candle query fails on ticks alone (no history table) and runs once the history table is made, from the ticks", async () => {
  await using double = await startInfluxDouble({
    token: TOKEN,
    walFlushIntervalMs: 0,
  });
  const influx: InfluxOptions = {
    host: double.url,
    token: TOKEN,
    database: DB,
  };
  const lines = [0, 20_000, 40_000].map((ms, i) =>
    tickerLine(
      "criptomonedas",
      { ...TICKER, precio_ultimo: 66_400 + i },
      T + ms,
    )
  );
  assert.deepEqual(await writeLines(lines, influx), []);
  const sql = candlePanelSql("criptomonedas");
  await assert.rejects(
    () => querySql(sql, influx),
    /criptomonedas_candles.*not found|not found.*criptomonedas_candles/s,
  );
  assert.equal(
    await ensureTable(influx, candleTableSchema("criptomonedas")),
    "created",
  );
  const rows = await querySql(sql, influx);
  assert.deepEqual(
    rows.map((r) => [r.open, r.high, r.low, r.close]),
    [[66_400, 66_402, 66_400, 66_402]],
  );
});

Deno.test("waitForDatabase({ tables }) makes the database and each table, saying so; a second start finds them", async () => {
  await using double = await startInfluxDouble({ token: TOKEN });
  const influx: InfluxOptions = {
    host: double.url,
    token: TOKEN,
    database: DB,
  };
  const start = async () => {
    const lines: string[] = [];
    const log = createLogger("test", { write: (l) => lines.push(l) });
    await waitForDatabase(influx, {
      log,
      signal: AbortSignal.timeout(10_000),
      tables: [candleTableSchema("criptomonedas")],
    });
    return lines;
  };
  assert.deepEqual(await start(), [
    `test: database ${DB} created host=${double.url}`,
    "test: table criptomonedas_candles created",
  ]);
  assert.deepEqual(await start(), [
    `test: database ${DB} found host=${double.url}`,
    "test: table criptomonedas_candles found",
  ]);
});

Deno.test("waitForDatabase({ tables }) goes on with a warning when the server has no /api/v3/configure/table (the first write makes the table)", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) =>
      new URL(request.url).pathname === "/api/v3/configure/database"
        ? new Response(null, { status: 200 })
        : new Response("not found", { status: 404 }),
  );
  const lines: string[] = [];
  await waitForDatabase(
    {
      host: `http://127.0.0.1:${server.addr.port}`,
      database: DB,
    },
    {
      log: createLogger("test", { write: (l) => lines.push(l) }),
      signal: AbortSignal.timeout(10_000),
      tables: [candleTableSchema("criptomonedas")],
    },
  );
  assert.equal(lines.length, 2);
  assert.match(
    lines[1],
    /^test: warn: table criptomonedas_candles not created \(.*404 not found\); the first write will make it$/,
  );
});
