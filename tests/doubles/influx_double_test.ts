import assert from "node:assert/strict";
import {
  type InfluxDouble,
  type InfluxDoubleOptions,
  startInfluxDouble,
} from "./influx_double.ts";

// Every test starts its own double (about 0.2 s) on a free port. Writes are
// answered after a WAL flush as in InfluxDB 3 Core; a 10 ms interval (Core's
// default is 1 s) keeps the tests that are not about it quick.
const start = (options: InfluxDoubleOptions = {}) =>
  startInfluxDouble({ database: "db", walFlushIntervalMs: 10, ...options });

/** Waits until `condition` holds, polling, or fails after `timeoutMs`. */
async function until(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface WriteOptions {
  db?: string;
  precision?: string;
  v2?: boolean;
  gzip?: boolean;
  params?: Record<string, string>;
  headers?: Record<string, string>;
}

interface Answer {
  status: number;
  text: string;
  headers: Headers;
}

/** POSTs line protocol to /api/v3/write_lp (or /api/v2/write) and reads the answer. */
async function write(
  influx: InfluxDouble,
  body: string,
  options: WriteOptions = {},
): Promise<Answer> {
  const { db = "db", precision, v2 = false, gzip = false, params = {} } =
    options;
  const search = new URLSearchParams(v2 ? { bucket: db } : { db });
  if (precision) search.set("precision", precision);
  for (const [key, value] of Object.entries(params)) search.set(key, value);
  const headers: Record<string, string> = {
    ...auth(influx),
    ...options.headers,
  };
  let payload: BodyInit = body;
  if (gzip) {
    payload = await gzipped(body);
    headers["content-encoding"] = "gzip";
  }
  const path = v2 ? "/api/v2/write" : "/api/v3/write_lp";
  return await answer(
    fetch(`${influx.url}${path}?${search}`, {
      method: "POST",
      headers,
      body: payload,
    }),
  );
}

/** GETs /api/v3/query_sql with the query in the URL. */
function getQuery(
  influx: InfluxDouble,
  q: string,
  format?: string,
  db = "db",
): Promise<Answer> {
  const search = new URLSearchParams({ db, q });
  if (format) search.set("format", format);
  return answer(
    fetch(`${influx.url}/api/v3/query_sql?${search}`, {
      headers: auth(influx),
    }),
  );
}

async function answer(response: Promise<Response>): Promise<Answer> {
  const r = await response;
  return { status: r.status, text: await r.text(), headers: r.headers };
}

function auth(influx: InfluxDouble): Record<string, string> {
  return influx.token ? { authorization: `Bearer ${influx.token}` } : {};
}

async function gzipped(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([text]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("influx double: /health says OK and /ping names the version", async () => {
  await using influx = await start();
  const health = await answer(fetch(`${influx.url}/health`));
  assert.deepEqual([health.status, health.text], [200, "OK"]);
  const ping = await answer(fetch(`${influx.url}/ping`));
  assert.equal(ping.status, 200);
  const body = JSON.parse(ping.text);
  assert.equal(typeof body.version, "string");
  assert.equal(ping.headers.get("x-influxdb-version"), body.version);
  assert.equal(ping.headers.get("x-influxdb-build"), "Core");
});

Deno.test("influx double: a write is a 204 and reads back as typed columns", async () => {
  await using influx = await start();
  const w = await write(
    influx,
    'types,k=a f=1.5,i=-42i,u=42u,s="x",b=true 1718472300',
  );
  assert.equal(w.status, 204);
  const [row] = await influx.query("SELECT * FROM types");
  assert.deepEqual(row, {
    b: true,
    f: 1.5,
    i: -42,
    k: "a",
    s: "x",
    time: "2024-06-15T17:25:00",
    u: 42,
  });
  assert.deepEqual(Object.keys(row), ["b", "f", "i", "k", "s", "time", "u"]);
  const [types] = await influx.query(
    "SELECT arrow_typeof(k) AS k, arrow_typeof(f) AS f, arrow_typeof(i) AS i, " +
      "arrow_typeof(u) AS u, arrow_typeof(s) AS s, arrow_typeof(b) AS b, " +
      "arrow_typeof(time) AS t FROM types",
  );
  assert.deepEqual(types, {
    k: "Dictionary(Int32, Utf8)",
    f: "Float64",
    i: "Int64",
    u: "UInt64",
    s: "Utf8",
    b: "Boolean",
    t: "Timestamp(ns)",
  });
});

Deno.test("influx double: escapes and quoted strings are read as InfluxDB reads them", async () => {
  await using influx = await start();
  const lines = [
    String
      .raw`my\ table,tag\,key=a\ b\=c field\ key="say \"hi\" \\ now",n=1i 1000`,
    String.raw`a\,b,t=x s="commas, spaces and = signs",e=1.5e3 2000`,
    'nl s="line one\nline two" 3000',
  ];
  const w = await write(influx, lines.join("\n"), { precision: "nanosecond" });
  assert.equal(w.status, 204, w.text);
  assert.deepEqual(await influx.query(`SELECT * FROM "my table"`), [{
    "field key": String.raw`say "hi" \ now`,
    n: 1,
    "tag,key": "a b=c",
    time: "1970-01-01T00:00:00.000001",
  }]);
  assert.deepEqual(await influx.query(`SELECT s, e FROM "a,b"`), [{
    s: "commas, spaces and = signs",
    e: 1500,
  }]);
  assert.deepEqual(await influx.query("SELECT s FROM nl"), [{
    s: "line one\nline two",
  }]);
});

Deno.test("influx double: every spelling of true and false is a boolean", async () => {
  await using influx = await start();
  const words = [
    "t",
    "T",
    "true",
    "True",
    "TRUE",
    "f",
    "F",
    "false",
    "False",
    "FALSE",
  ];
  const body = words.map((w, i) => `b v=${w} ${i + 1}`).join("\n");
  assert.equal((await write(influx, body, { precision: "ns" })).status, 204);
  const rows = await influx.query("SELECT v FROM b ORDER BY time");
  assert.deepEqual(rows.map((r) => r.v), words.map((_, i) => i < 5));
});

Deno.test("influx double: precision converts timestamps to nanoseconds", async () => {
  await using influx = await start();
  const cases: [string, string, string, boolean?][] = [
    ["second", "1718472300", "2024-06-15T17:25:00"],
    ["s", "1718472300", "2024-06-15T17:25:00"],
    ["millisecond", "1718472300123", "2024-06-15T17:25:00.123"],
    ["ms", "1718472300123", "2024-06-15T17:25:00.123"],
    ["microsecond", "1718472300123456", "2024-06-15T17:25:00.123456"],
    ["us", "1718472300123456", "2024-06-15T17:25:00.123456"],
    ["nanosecond", "1718472300123456789", "2024-06-15T17:25:00.123456789"],
    ["ns", "1718472300123456789", "2024-06-15T17:25:00.123456789"],
    ["auto", "1718472300", "2024-06-15T17:25:00"],
    ["auto", "1718472300123", "2024-06-15T17:25:00.123"],
    ["ms", "1718472300123", "2024-06-15T17:25:00.123", true],
    ["s", "1718472300", "2024-06-15T17:25:00", true],
  ];
  for (const [i, [precision, ts, expected, v2]] of cases.entries()) {
    const w = await write(influx, `p,case=c${i} v=1 ${ts}`, { precision, v2 });
    assert.equal(w.status, 204, `${precision}: ${w.text}`);
    const [row] = await influx.query(
      `SELECT time FROM p WHERE "case" = 'c${i}'`,
    );
    assert.equal(row.time, expected, `${precision} ${v2 ? "(v2)" : ""}`);
  }
  const bad = await write(influx, "p v=1 1", { precision: "minute" });
  assert.deepEqual(
    [bad.status, bad.text],
    [400, "serde error: unrecognized precision unit: minute"],
  );
});

Deno.test("influx double: a line without a timestamp gets the server's now", async () => {
  await using influx = await start();
  const before = Date.now();
  assert.equal((await write(influx, "now v=1")).status, 204);
  const after = Date.now();
  const [row] = await influx.query("SELECT time FROM now");
  const ms = Date.parse(`${String(row.time).slice(0, 23)}Z`);
  assert.ok(ms >= before - 1 && ms <= after, `${row.time}`);
});

Deno.test("influx double: comments and blank lines are skipped", async () => {
  await using influx = await start();
  const body = "# a comment\n\n   \nm v=1 1\n  # indented\nm v=2 2\n";
  assert.equal((await write(influx, body, { precision: "ns" })).status, 204);
  assert.deepEqual(await influx.query("SELECT count(*) AS n FROM m"), [{
    n: 2,
  }]);
  const empty = await write(influx, "# only a comment\n");
  assert.deepEqual([empty.status, empty.text], [
    400,
    "incoming write was empty",
  ]);
});

Deno.test("influx double: bad lines are a 400 listing each, the good lines are written", async () => {
  await using influx = await start();
  const w = await write(influx, "m v=1 1\nm v=\nm v=3 3\nm,t v=1 4", {
    precision: "ns",
  });
  assert.equal(w.status, 400);
  assert.deepEqual(JSON.parse(w.text), {
    error: "partial write of line protocol occurred",
    data: [
      {
        original_line: "m v=",
        line_number: 2,
        error_message: "No fields were provided",
      },
      {
        original_line: "m,t v=1 4",
        line_number: 4,
        error_message:
          "Tag set malformed: could not find equals sign in `t v=1 4`",
      },
    ],
  });
  assert.deepEqual(await influx.query("SELECT v FROM m ORDER BY time"), [
    { v: 1 },
    { v: 3 },
  ]);
});

Deno.test("influx double: a line the grammar refuses gets InfluxDB 3's message", async () => {
  await using influx = await start();
  const trailing = "Could not parse entire line. Found trailing content: ";
  const cases: [string, string][] = [
    ["m v=1 100 200", `${trailing}\`200\``],
    ["m v=.5 1", "No fields were provided"],
    ["m v=5. 2", `${trailing}\`. 2\``],
    ["m v=1e 5", `${trailing}\`e 5\``],
    ["m v=tRUE 5", `${trailing}\`RUE 5\``],
    ["m v=+5 5", "No fields were provided"],
    ["m v=1 abcdefghijklmnop", `${trailing}\` abcdefghi...\``],
    ["m v=1,w= 5", `${trailing}\`w= 5\``],
    ["m v=1,w=2,x=3,y= 5", `${trailing}\`,y= 5\``],
    [
      "m v=1,v=2 5",
      "invalid line protocol - multiple instances of 'v' field found",
    ],
    ["m,t= v=1 5", "Expected tag value, got ` v=1 5`"],
    ["m,=a v=1 5", "Expected tag key, got `=a v=1 5`"],
    ["m\tv=1 5", "Expected at least one space character, got `\tv=1 5`"],
    ["m", "Expected at least one space character, got end of input"],
    [
      "m v=99999999999999999999i",
      "Unable to parse integer value `99999999999999999999`",
    ],
    [
      String.raw`m\\ v=1`,
      "Measurements, tag keys and values, and field keys may not end with a backslash",
    ],
    ["m v=1 5\r", `${trailing}\`\r\``],
  ];
  for (const [line, message] of cases) {
    const w = await write(influx, line, { precision: "ns" });
    assert.equal(w.status, 400, line);
    assert.equal(JSON.parse(w.text).data[0].error_message, message, line);
  }
});

Deno.test("influx double: accept_partial=false writes nothing from a payload with a bad line", async () => {
  await using influx = await start();
  assert.equal((await write(influx, "other v=1 1")).status, 204);
  const w = await write(influx, "m v=1 1\nm v=\nm v=3 3", {
    precision: "ns",
    params: { accept_partial: "false" },
  });
  assert.equal(w.status, 400);
  assert.deepEqual(JSON.parse(w.text), {
    error: "line protocol parsing error",
    data: {
      original_line: "m v=",
      line_number: 2,
      error_message: "No fields were provided",
    },
  });
  const q = await getQuery(influx, "SELECT * FROM m");
  assert.deepEqual(
    [q.status, q.text],
    [400, "Error during planning: table 'public.iox.m' not found"],
  );
});

Deno.test("influx double: a field written as another type is refused, echoed as parsed", async () => {
  await using influx = await start();
  assert.equal(
    (await write(influx, "c v=1i 1", { precision: "ns" })).status,
    204,
  );
  const w = await write(influx, "c    v=2.50 2", { precision: "ns" });
  assert.equal(w.status, 400);
  assert.deepEqual(JSON.parse(w.text).data, [{
    original_line: "c v=2.5 2",
    line_number: 1,
    error_message:
      "invalid column type for column 'v', expected iox::column_type::field::integer, got iox::column_type::field::float",
  }]);
});

Deno.test("influx double: same table, tags and time overwrites a point", async () => {
  await using influx = await start();
  const t = "1718472300000";
  await write(influx, `o,Coin=tBTCUSD a=1,b=2 ${t}`, { precision: "ms" });
  await write(
    influx,
    `o,Coin=tBTCUSD b=3,c=4 ${t}\no,Coin=tETHUSD a=9 ${t}\no,Coin=tETHUSD a=10 ${t}`,
    { precision: "ms" },
  );
  assert.deepEqual(await influx.query(`SELECT * FROM o ORDER BY "Coin"`), [
    { Coin: "tBTCUSD", a: 1, b: 3, c: 4, time: "2024-06-15T17:25:00" },
    { Coin: "tETHUSD", a: 10, time: "2024-06-15T17:25:00" },
  ]);
  assert.equal((await influx.control("stats")).points, 2);
});

Deno.test("influx double: gzip bodies are read on both write endpoints and counted", async () => {
  await using influx = await start();
  const v3 = await write(influx, "g,api=v3 v=1 1718472300", { gzip: true });
  const v2 = await write(influx, "g,api=v2 v=2 1718472300", {
    gzip: true,
    v2: true,
    precision: "s",
    params: { org: "ignored" },
  });
  assert.deepEqual([v3.status, v2.status], [204, 204]);
  const rows = await influx.query(`SELECT api, v FROM g ORDER BY api`);
  assert.deepEqual(rows, [{ api: "v2", v: 2 }, { api: "v3", v: 1 }]);
  const stats = await influx.control("stats");
  assert.deepEqual(
    [stats.gzip_requests, stats.writes, stats.lines_received],
    [2, 2, 2],
  );
});

Deno.test("influx double: the dashboard's candle SQL gives the OHLC computed here", async () => {
  await using influx = await start({ database: "criptomonedas" });
  const base = Date.UTC(2024, 5, 15, 17, 20, 0);
  const lines: string[] = [];
  const expected = new Map<number, number[]>();
  for (let i = 0; i < 200; i++) {
    const t = base + i * 7_300;
    for (const coin of ["tBTCUSD", "tETHUSD"]) {
      const price = Math.round((60_000 + 500 * Math.sin(i / 7) + i) * 100) /
        100 / (coin === "tBTCUSD" ? 1 : 20);
      lines.push(`criptomonedas,Coin=${coin} close_price=${price} ${t}`);
      if (coin !== "tBTCUSD") continue;
      const bucket = Math.floor(t / 300_000) * 300_000;
      expected.set(bucket, [...(expected.get(bucket) ?? []), price]);
    }
  }
  const recent = Date.now() - 3_600_000;
  lines.push(`criptomonedas,Coin=tBTCUSD close_price=5 ${recent}`);
  const w = await write(influx, lines.join("\n"), {
    db: "criptomonedas",
    precision: "millisecond",
  });
  assert.equal(w.status, 204, w.text);
  const candles = await influx.query(
    `SELECT DATE_BIN(INTERVAL '5 minutes', time, '1970-01-01T00:00:00Z'::TIMESTAMP) AS _time, ` +
      `first_value(close_price ORDER BY time) AS open, MAX(close_price) AS high, ` +
      `MIN(close_price) AS low, last_value(close_price ORDER BY time) AS close ` +
      `FROM "criptomonedas" WHERE "Coin" IN ('tBTCUSD') AND time >= '2024-01-01T00:00:00Z' ` +
      `AND time < '2025-01-01T00:00:00Z' GROUP BY _time ORDER BY _time`,
  );
  assert.deepEqual(
    candles,
    [...expected].map(([bucket, prices]) => ({
      _time: new Date(bucket).toISOString().slice(0, 19),
      open: prices[0],
      high: Math.max(...prices),
      low: Math.min(...prices),
      close: prices.at(-1),
    })),
  );
  assert.deepEqual(
    await influx.query(
      `SELECT DISTINCT "Coin" FROM "criptomonedas" ORDER BY "Coin"`,
    ),
    [{ Coin: "tBTCUSD" }, { Coin: "tETHUSD" }],
  );
  assert.deepEqual(
    await influx.query(
      `SELECT MAX(close_price) AS m FROM "criptomonedas" WHERE time >= now() - INTERVAL '1 day'`,
    ),
    [{ m: 5 }],
  );
});

Deno.test("influx double: json, jsonl, csv and pretty render as InfluxDB 3 does", async () => {
  await using influx = await start();
  await write(influx, "f,k=a v=1.5,n=2i 1718472300\nf,k=b v=2.5 1718472360");
  const sql = "SELECT k, v, n, time FROM f ORDER BY time";
  const json = await getQuery(influx, sql, "json");
  assert.equal(json.headers.get("content-type"), "application/json");
  assert.equal(
    json.text,
    '[{"k":"a","v":1.5,"n":2,"time":"2024-06-15T17:25:00"},{"k":"b","v":2.5,"time":"2024-06-15T17:26:00"}]',
  );
  const jsonl = await getQuery(influx, sql, "jsonl");
  assert.equal(
    jsonl.text,
    '{"k":"a","v":1.5,"n":2,"time":"2024-06-15T17:25:00"}\n{"k":"b","v":2.5,"time":"2024-06-15T17:26:00"}\n',
  );
  const csv = await getQuery(influx, sql, "csv");
  assert.equal(csv.headers.get("content-type"), "text/csv");
  assert.equal(
    csv.text,
    "k,v,n,time\na,1.5,2,2024-06-15T17:25:00\nb,2.5,,2024-06-15T17:26:00\n",
  );
  const pretty = await getQuery(influx, sql, "pretty");
  assert.equal(
    pretty.text,
    [
      "+---+-----+---+---------------------+",
      "| k | v   | n | time                |",
      "+---+-----+---+---------------------+",
      "| a | 1.5 | 2 | 2024-06-15T17:25:00 |",
      "| b | 2.5 |   | 2024-06-15T17:26:00 |",
      "+---+-----+---+---------------------+",
    ].join("\n"),
  );
  const none = "SELECT * FROM f WHERE k = 'zzz'";
  assert.equal((await getQuery(influx, none, "json")).text, "[]");
  assert.equal((await getQuery(influx, none, "csv")).text, "");
});

Deno.test("influx double: an unknown table is a 400, an unknown database a 404", async () => {
  await using influx = await start();
  await write(influx, "m v=1 1");
  const table = await getQuery(influx, "SELECT * FROM nope");
  assert.deepEqual(
    [table.status, table.text],
    [400, "Error during planning: table 'public.iox.nope' not found"],
  );
  const db = await getQuery(influx, "SELECT 1", "json", "nodb");
  assert.deepEqual(
    [db.status, JSON.parse(db.text)],
    [404, { error: "query error: database not found: nodb" }],
  );
});

Deno.test("influx double: with a token, a request without it is a 401", async () => {
  await using influx = await start({ token: "sekret" });
  const url = `${influx.url}/api/v3/write_lp?db=db`;
  const post = (headers: Record<string, string>) =>
    answer(fetch(url, { method: "POST", headers, body: "a v=1 1" }));
  // InfluxDB 3 Core's AuthenticationError::Unauthenticated, as JSON.
  const refused = { error: "the request was not authenticated" };
  const missing = await post({});
  assert.deepEqual([missing.status, JSON.parse(missing.text)], [401, refused]);
  const wrong = await post({ authorization: "Bearer wrong" });
  assert.deepEqual([wrong.status, JSON.parse(wrong.text)], [401, refused]);
  assert.equal((await post({ authorization: "Bearer sekret" })).status, 204);
  assert.equal((await post({ authorization: "Token sekret" })).status, 204);
  const basic = `Basic ${btoa("user:sekret")}`;
  assert.equal((await post({ authorization: basic })).status, 204);
  const malformed = await post({ authorization: "Bearer" });
  assert.equal(malformed.status, 400);
  assert.match(
    JSON.parse(malformed.text).error,
    /Authorization header was malformed/,
  );
  assert.equal((await answer(fetch(`${influx.url}/health`))).status, 401);
  const health = await answer(
    fetch(`${influx.url}/health`, {
      headers: { authorization: "Token sekret" },
    }),
  );
  assert.equal(health.status, 200);
  assert.equal((await influx.control("stats")).writes, 3);
});

Deno.test("influx double: --disable-authz serves /health and /ping without a token", async () => {
  await using influx = await start({
    token: "sekret",
    disableAuthz: ["health", "ping"],
  });
  assert.equal((await answer(fetch(`${influx.url}/health`))).status, 200);
  assert.equal((await answer(fetch(`${influx.url}/ping`))).status, 200);
  const query = await answer(
    fetch(`${influx.url}/api/v3/query_sql?db=db&q=SELECT+1`),
  );
  assert.equal(query.status, 401);
});

Deno.test("influx double: a database is created once, then 409, listed and deleted", async () => {
  await using influx = await start();
  const configure = `${influx.url}/api/v3/configure/database`;
  const create = (db: string, type = "application/json") =>
    answer(fetch(configure, {
      method: "POST",
      headers: { "content-type": type },
      body: JSON.stringify({ db }),
    }));
  assert.equal((await create("alpha")).status, 200);
  const again = await create("alpha");
  assert.deepEqual(
    [again.status, again.text],
    [409, "attempted to create a resource that already exists"],
  );
  assert.equal((await create("beta", "text/plain")).status, 415);
  const bad = await create("_bad");
  assert.deepEqual(
    [bad.status, JSON.parse(bad.text)],
    [400, { error: "db name did not start with a number or letter" }],
  );
  assert.equal((await write(influx, "m v=1 1", { db: "gamma" })).status, 204);
  const list = await answer(fetch(`${configure}?format=json`));
  assert.deepEqual(JSON.parse(list.text), [
    { "iox::database": "_internal" },
    { "iox::database": "alpha" },
    { "iox::database": "gamma" },
  ]);
  const del = () =>
    answer(fetch(`${configure}?db=alpha`, { method: "DELETE" }));
  assert.equal((await del()).status, 200);
  assert.equal((await del()).status, 404);
});

Deno.test("influx double: a database beyond Core's limit is a 422", async () => {
  await using influx = await start({ maxDatabases: 2 });
  assert.equal((await write(influx, "m v=1 1", { db: "one" })).status, 204);
  assert.equal((await write(influx, "m v=1 1", { db: "two" })).status, 204);
  const third = await write(influx, "m v=1 1", { db: "three" });
  assert.deepEqual([third.status, JSON.parse(third.text)], [422, {
    error: "Adding a new database would exceed limit of 2 databases",
  }]);
});

Deno.test("influx double: error500 and error429 switches answer writes and queries", async () => {
  await using influx = await start();
  await influx.control({ mode: "error500" });
  assert.equal((await write(influx, "m v=1 1")).status, 500);
  assert.equal((await getQuery(influx, "SELECT 1")).status, 500);
  assert.equal((await answer(fetch(`${influx.url}/health`))).status, 200);
  await influx.control({ mode: "error429", retryAfter: 7 });
  const limited = await write(influx, "m v=1 1");
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "7");
  await influx.control({ mode: "ok" });
  assert.equal((await write(influx, "m v=1 1")).status, 204);
  const stats = await influx.control("stats");
  assert.deepEqual([stats.rejected, stats.writes], [2, 1]);
});

Deno.test("influx double: the slow switch delays each answer", async () => {
  await using influx = await start();
  await influx.control({ mode: "slow", delayMs: 300 });
  const begun = performance.now();
  assert.equal((await write(influx, "m v=1 1")).status, 204);
  assert.ok(performance.now() - begun >= 280);
});

Deno.test("influx double: the down switch drops connections, and times reverts it", async () => {
  await using influx = await start();
  await influx.control({ mode: "down", times: 1 });
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    await assert.rejects(
      fetch(`${influx.url}/health`, { client }).then((r) => r.text()),
    );
    const after = await answer(fetch(`${influx.url}/health`, { client }));
    assert.equal(after.status, 200);
  } finally {
    client.close();
  }
});

Deno.test("influx double: reset drops the data, the mode and the counters", async () => {
  await using influx = await start();
  await write(influx, "m v=1 1");
  await influx.control({ mode: "error500" });
  await influx.control("reset");
  const stats = await influx.control("stats");
  assert.deepEqual([stats.points, stats.writes, stats.databases], [0, 0, []]);
  assert.equal((await getQuery(influx, "SELECT 1")).status, 404);
  assert.equal((await write(influx, "m v=1 1")).status, 204);
});

Deno.test("influx double: a 5,000-line batch is stored whole, the last duplicate winning", async () => {
  await using influx = await start();
  const coins = ["tBTCUSD", "tETHUSD", "tSOLUSD", "tXRPUSD"];
  const lines = Array.from(
    { length: 5_000 },
    (_, i) =>
      `c,Coin=${coins[i % 4]} close_price=${i + 0.5},volume=${i}i ${
        1718472300000 + Math.floor(i / 4)
      }`,
  );
  lines.push(`c,Coin=tBTCUSD close_price=-1,volume=-1i 1718472300000`);
  const w = await write(influx, lines.join("\n"), { precision: "ms" });
  assert.equal(w.status, 204, w.text);
  assert.deepEqual(
    await influx.query(
      `SELECT count(*) AS n, sum(volume) AS v FROM c`,
    ),
    [{ n: 5_000, v: 4_999 * 5_000 / 2 - 1 }],
  );
  assert.deepEqual(
    await influx.query(
      `SELECT close_price FROM c WHERE "Coin" = 'tBTCUSD' AND time = '2024-06-15T17:25:00'`,
    ),
    [{ close_price: -1 }],
  );
  lines[4_321] = "c,Coin=tBTCUSD close_price=oops 1";
  const bad = await write(influx, lines.join("\n"), { precision: "ms" });
  assert.equal(bad.status, 400);
  assert.deepEqual(
    JSON.parse(bad.text).data.map((d: { line_number: number }) =>
      d.line_number
    ),
    [4_322],
  );
});

// The write-ahead log, as InfluxDB 3 Core's (influxdb3_wal/src/object_store.rs):
// an interval of an hour means the ticks never come during a test, so only
// `control("flush")` flushes, and the order of events is certain.
const NEVER = 3_600_000;

Deno.test("influx double: a write waits in the WAL buffer and is answered by the flush that makes it queryable", async () => {
  await using influx = await start({ walFlushIntervalMs: NEVER });
  let settled = false;
  const pending = write(influx, "w,k=a v=1 1", { precision: "ns" }).finally(
    () => settled = true,
  );
  await until(
    async () => (await influx.control("stats")).wal_pending === 1,
    "the write to reach the WAL buffer",
  );
  // The catalog knows the table at once; its rows wait for the flush.
  assert.deepEqual(await influx.query("SELECT count(*) AS n FROM w"), [{
    n: 0,
  }]);
  assert.equal(settled, false, "answered before the WAL flush");
  assert.equal(await influx.control("flush"), true);
  const answered = await pending;
  assert.equal(answered.status, 204, answered.text);
  assert.deepEqual(await influx.query("SELECT v FROM w"), [{ v: 1 }]);
  assert.equal(await influx.control("flush"), false, "the buffer is empty");
});

Deno.test("influx double: writes are answered no earlier than the next flush tick", async () => {
  await using influx = await start({ walFlushIntervalMs: 200 });
  for (let i = 1; i <= 3; i++) {
    const before = (await influx.control("stats")).wal_flushes;
    const w = await write(influx, `t v=${i} ${i}`, { precision: "ns" });
    assert.equal(w.status, 204, w.text);
    const after = await influx.control("stats");
    assert.ok(after.wal_flushes > before, `write ${i} before its flush`);
    assert.equal(after.wal_pending, 0);
    // Acknowledged means queryable.
    assert.deepEqual(await influx.query("SELECT count(*) AS n FROM t"), [{
      n: i,
    }]);
  }
});

Deno.test("influx double: no_sync=true is answered at once; the points become queryable at the flush", async () => {
  await using influx = await start({ walFlushIntervalMs: NEVER });
  const w = await write(influx, "n v=1 1", {
    precision: "ns",
    params: { no_sync: "true" },
  });
  assert.equal(w.status, 204, w.text);
  const stats = await influx.control("stats");
  assert.deepEqual([stats.wal_pending, stats.wal_flushes], [1, 0]);
  assert.deepEqual(await influx.query("SELECT count(*) AS n FROM n"), [{
    n: 0,
  }]);
  assert.equal(await influx.control("flush"), true);
  assert.deepEqual(await influx.query("SELECT v FROM n"), [{ v: 1 }]);
  const bad = await write(influx, "n v=1 1", {
    params: { no_sync: "maybe" },
  });
  assert.deepEqual([bad.status, bad.text], [
    400,
    "serde error: provided string was not `true` or `false`",
  ]);
});

Deno.test("influx double: a write of only bad lines is refused at once, without waiting for a flush", async () => {
  await using influx = await start({ walFlushIntervalMs: NEVER });
  const w = await write(influx, "x v=\nx v=", { precision: "ns" });
  assert.equal(w.status, 400);
  assert.equal(JSON.parse(w.text).data.length, 2);
  assert.equal((await influx.control("stats")).wal_pending, 0);
});

Deno.test("influx double: every refused line of a write is listed, past a hundred", async () => {
  await using influx = await start();
  const lines: string[] = [];
  const bad: number[] = [];
  for (let i = 1; i <= 400; i++) {
    if (i % 3 === 0) {
      lines.push(`many v=oops${i} ${i}`);
      bad.push(i);
    } else {
      lines.push(`many v=${i} ${i}`);
    }
  }
  assert.ok(bad.length > 100);
  const w = await write(influx, lines.join("\n"), { precision: "ns" });
  assert.equal(w.status, 400);
  const body = JSON.parse(w.text);
  assert.equal(body.error, "partial write of line protocol occurred");
  assert.deepEqual(
    body.data.map((d: { line_number: number }) => d.line_number),
    bad,
  );
  assert.deepEqual(
    await influx.query("SELECT count(*) AS n FROM many"),
    [{ n: 400 - bad.length }],
  );
  assert.equal((await influx.control("stats")).rejected_lines, bad.length);
});

Deno.test("influx double: a query that fails while executing is a 200 whose body is cut off", async () => {
  await using influx = await start();
  assert.equal(
    (await write(influx, 'e s="12" 1\ne s="abc" 2', { precision: "ns" }))
      .status,
    204,
  );
  for (const format of ["json", "jsonl", "csv"]) {
    const response = await fetch(
      `${influx.url}/api/v3/query_sql?${new URLSearchParams({
        db: "db",
        q: "SELECT CAST(s AS BIGINT) AS v FROM e",
        format,
      })}`,
    );
    assert.equal(response.status, 200, format);
    await assert.rejects(response.text(), format);
  }
  // pretty and parquet collect before answering: an error answer.
  const pretty = await getQuery(
    influx,
    "SELECT CAST(s AS BIGINT) AS v FROM e",
    "pretty",
  );
  assert.equal(pretty.status, 500);
  assert.match(pretty.text, /^datafusion error: .*Cannot cast string 'abc'/);
  // A planning error is still a 400 before any body.
  const planned = await getQuery(influx, "SELECT nope FROM e");
  assert.equal(planned.status, 400);
  assert.match(planned.text, /nope/);
  const stats = await influx.control("stats");
  assert.equal(stats.queries_cut, 3);
  // The connection that was cut does not hurt the next request.
  assert.deepEqual(await influx.query("SELECT s FROM e ORDER BY time"), [
    { s: "12" },
    { s: "abc" },
  ]);
});

Deno.test("influx double: an admin token file's apiv3_ token is accepted, another refused at start", async () => {
  const dir = await Deno.makeTempDir({ prefix: "influx-double-" });
  try {
    const good = `${dir}/admin.json`;
    const token = "apiv3_" + "A".repeat(86);
    await Deno.writeTextFile(
      good,
      JSON.stringify({ token, name: "_admin" }),
      { mode: 0o600 },
    );
    {
      await using influx = await start({ adminTokenFile: good });
      const refused = await answer(fetch(`${influx.url}/health`));
      assert.equal(refused.status, 401);
      const health = await answer(
        fetch(`${influx.url}/health`, {
          headers: { authorization: `Bearer ${token}` },
        }),
      );
      assert.equal(health.status, 200);
    }
    const bad = `${dir}/bad.json`;
    await Deno.writeTextFile(
      bad,
      JSON.stringify({ token: "not-apiv3", name: "_admin" }),
      { mode: 0o600 },
    );
    await assert.rejects(
      start({ adminTokenFile: bad }),
      /Invalid token format: must start with 'apiv3_'/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("influx double: reset releases a write waiting for a flush", async () => {
  await using influx = await start({ walFlushIntervalMs: NEVER });
  const pending = write(influx, "r v=1 1", { precision: "ns" });
  await until(
    async () => (await influx.control("stats")).wal_pending === 1,
    "the write to reach the WAL buffer",
  );
  await influx.control("reset");
  assert.equal((await pending).status, 204);
  assert.equal((await influx.control("stats")).points, 0);
});

Deno.test("influx double: a fault switch with only: writes spares the queries", async () => {
  await using influx = await start();
  assert.equal(
    (await write(influx, "o v=1 1", { precision: "ns" })).status,
    204,
  );
  await influx.control({ mode: "error500", only: "writes" });
  assert.equal(
    (await write(influx, "o v=2 2", { precision: "ns" })).status,
    500,
  );
  assert.deepEqual(await influx.query("SELECT v FROM o"), [{ v: 1 }]);
  await influx.control({ mode: "ok" });
  assert.equal(
    (await write(influx, "o v=2 2", { precision: "ns" })).status,
    204,
  );
  const stats = await influx.control("stats");
  assert.deepEqual([stats.rejected, stats.points], [1, 2]);
});
