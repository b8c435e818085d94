/**
 * shared/grafana.ts, shared/dashboard.ts and scripts/seed-grafana.ts against
 * the Grafana double (tests/doubles/grafana_double.ts). The script tests
 * spawn `deno run` and need `--allow-run=deno` (the test task grants it).
 */
import assert from "node:assert/strict";
import type { Panel } from "@grafana/schema";
import { loadConfig } from "@cryptocandles/config";
import {
  buildDashboard,
  DASHBOARD_UID,
  dashboardQueries,
  DATASOURCE_NAME,
  DATASOURCE_UID,
  influxDataSource,
  INTERVALS,
  type SqlTarget,
} from "@cryptocandles/grafana";
import {
  authHeader,
  dashboardUrl,
  dataSourceHealth,
  GrafanaError,
  type GrafanaOptions,
  saveDashboard,
  upsertDataSource,
} from "@cryptocandles/grafana";
import { HttpError } from "@cryptocandles/runtime";
import { startGrafanaDouble } from "../doubles/grafana_double.ts";
import { runScript, waitFor } from "../support.ts";

const TOKEN = "glsa_test_token_1234";
const INFLUX_TOKEN = "apiv3_test_influx_token";
const influx = loadConfig(
  new Map([["INFLUX_TOKEN", INFLUX_TOKEN]]),
).influx;

Deno.test("authHeader() sends Bearer for a token, Basic for user and password, none without", () => {
  const url = "http://127.0.0.1:3000";
  assert.deepEqual(authHeader({ url, token: "t", user: "u", password: "p" }), {
    authorization: "Bearer t",
  });
  assert.deepEqual(authHeader({ url, user: "admin", password: "pässword" }), {
    authorization: `Basic ${
      btoa(String.fromCharCode(...new TextEncoder().encode("admin:pässword")))
    }`,
  });
  assert.deepEqual(authHeader({ url }), {});
});

Deno.test("influxDataSource() is SQL mode on the database, POST, insecure gRPC only over http, token as a secret", () => {
  const ds = influxDataSource(influx);
  assert.equal(ds.uid, DATASOURCE_UID);
  assert.equal(ds.type, "influxdb");
  assert.equal(ds.access, "proxy");
  assert.equal(ds.url, "http://127.0.0.1:8181");
  assert.deepEqual(ds.jsonData, {
    version: "SQL",
    dbName: "criptomonedas",
    httpMode: "POST",
    insecureGrpc: true,
  });
  assert.deepEqual(ds.secureJsonData, { token: INFLUX_TOKEN });
  const tls = influxDataSource(
    loadConfig(new Map()).influx,
    "https://influx.example.com",
  );
  assert.equal(tls.jsonData?.insecureGrpc, false);
  assert.equal(tls.secureJsonData, undefined);
});

Deno.test("buildDashboard() has the variables, 5 s refresh, last 6 h, and every query on the data source with $__timeFilter(time)", () => {
  const dashboard = buildDashboard({
    measurement: "criptomonedas",
    defaultCoin: "tETHUSD",
  });
  assert.equal(dashboard.uid, DASHBOARD_UID);
  assert.equal(dashboard.refresh, "5s");
  assert.deepEqual(dashboard.time, { from: "now-6h", to: "now" });
  const [coin, interval] = dashboard.templating?.list ?? [];
  assert.equal(coin.name, "coin");
  assert.equal(coin.type, "query");
  assert.deepEqual(coin.datasource, { type: "influxdb", uid: DATASOURCE_UID });
  assert.match(
    (coin.query as { query: string }).query,
    /^SELECT DISTINCT CAST\("Coin" AS VARCHAR\) AS "Coin"\nFROM "criptomonedas"/,
  );
  assert.deepEqual(coin.current, { text: "tETHUSD", value: "tETHUSD" });
  assert.equal(interval.name, "interval");
  assert.equal(interval.type, "custom");
  assert.equal(
    interval.query,
    "1m : 1 minute,5m : 5 minutes,15m : 15 minutes,1h : 1 hour",
  );
  assert.deepEqual(interval.current, { text: "5m", value: "5 minutes" });
  assert.deepEqual(
    interval.options?.map((o) => [o.text, o.value, o.selected]),
    Object.entries(INTERVALS).map(([t, v]) => [t, v, t === "5m"]),
  );

  const types = (dashboard.panels as Panel[]).map((p) => p.type);
  assert.deepEqual(types, ["stat", "stat", "timeseries", "candlestick"]);
  const queries = dashboardQueries(dashboard);
  assert.equal(queries.length, 5);
  for (const { source, target } of queries) {
    assert.deepEqual(target.datasource, {
      type: "influxdb",
      uid: DATASOURCE_UID,
    }, source);
    assert.match(target.rawSql, /\$__timeFilter\(time\)/, source);
    assert.match(target.rawSql, /FROM "criptomonedas"/, source);
  }
  const candles = (dashboard.panels as Panel[])[3];
  assert.deepEqual(
    (candles.options as Record<string, unknown>).mode,
    "candles+volume",
  );
  assert.match(
    (candles.targets?.[0] as unknown as SqlTarget).rawSql,
    /INTERVAL '\$interval'/,
  );
});

Deno.test("upsertDataSource() creates with Bearer auth, then updates the same data source in place", async () => {
  await using grafana = await startGrafanaDouble({ token: TOKEN });
  const options: GrafanaOptions = { url: grafana.url, token: TOKEN };
  const ds = influxDataSource(influx);

  assert.deepEqual(await upsertDataSource(options, ds), {
    action: "created",
    id: 1,
    uid: DATASOURCE_UID,
  });
  assert.deepEqual(
    await upsertDataSource(options, { ...ds, url: "http://influxdb:8181" }),
    {
      action: "updated",
      id: 1,
      uid: DATASOURCE_UID,
    },
  );

  assert.deepEqual(
    grafana.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
    [
      `GET /api/datasources/uid/${DATASOURCE_UID} 404`,
      "POST /api/datasources 200",
      `GET /api/datasources/uid/${DATASOURCE_UID} 200`,
      `PUT /api/datasources/uid/${DATASOURCE_UID} 200`,
    ],
  );
  for (const r of grafana.requests) {
    assert.equal(r.authorization, `Bearer ${TOKEN}`);
  }
  assert.deepEqual(grafana.requests[1].body, ds);
  assert.equal((grafana.requests[3].body as { id: number }).id, 1);
  const [stored] = grafana.dataSources();
  assert.equal(grafana.dataSources().length, 1);
  assert.equal(stored.version, 2);
  assert.equal(stored.url, "http://influxdb:8181");
  assert.deepEqual(stored.secureJsonData, { token: INFLUX_TOKEN });
});

Deno.test("saveDashboard() overwrites by uid: one dashboard, next version, its URL", async () => {
  await using grafana = await startGrafanaDouble({
    user: "admin",
    password: "s3cret",
  });
  const options: GrafanaOptions = {
    url: grafana.url,
    user: "admin",
    password: "s3cret",
  };
  const dashboard = buildDashboard({ measurement: "criptomonedas" });
  const first = await saveDashboard(options, dashboard);
  const second = await saveDashboard(options, dashboard, { message: "again" });
  assert.equal(first.version, 1);
  assert.equal(second.version, 2);
  assert.equal(second.uid, DASHBOARD_UID);
  assert.equal(
    dashboardUrl(options, second),
    `${grafana.url}/d/${DASHBOARD_UID}/cryptocandles-live-candles`,
  );
  assert.equal(grafana.dashboards().length, 1);
  const body = grafana.requests[1].body as Record<string, unknown>;
  assert.equal(body.overwrite, true);
  assert.equal(body.message, "again");
  assert.equal((body.dashboard as { id: unknown }).id, null);
  assert.equal(
    grafana.requests[0].authorization,
    `Basic ${btoa("admin:s3cret")}`,
  );
});

Deno.test("a refused token is a GrafanaError 401 that is not retried, with a hint", async () => {
  await using grafana = await startGrafanaDouble({ token: TOKEN });
  const error = await upsertDataSource(
    { url: grafana.url, token: "wrong" },
    influxDataSource(influx),
  ).catch((e) => e);
  assert.ok(error instanceof GrafanaError);
  assert.ok(error instanceof HttpError);
  assert.equal(error.name, "GrafanaError");
  assert.equal(error.status, 401);
  assert.equal(error.retriable, false);
  assert.match(error.message, /401 Invalid API key/);
  assert.match(error.message, /GRAFANA_TOKEN/);
  assert.doesNotMatch(error.message, /wrong/, "the token is never shown");
});

Deno.test("an unreachable Grafana is a retriable GrafanaError with status 0", async () => {
  const grafana = await startGrafanaDouble({ token: TOKEN });
  await grafana.close();
  const error = await upsertDataSource(
    { url: grafana.url, token: TOKEN, timeoutMs: 2000 },
    influxDataSource(influx),
  ).catch((e) => e);
  assert.ok(error instanceof GrafanaError);
  assert.equal(error.status, 0);
  assert.equal(error.retriable, true);
  assert.match(error.message, /did not answer/);
});

Deno.test("a data source of the same name under another uid is a 409 with advice", async () => {
  await using grafana = await startGrafanaDouble({ token: TOKEN });
  const options = { url: grafana.url, token: TOKEN };
  await upsertDataSource(options, {
    ...influxDataSource(influx),
    uid: "other",
  });
  const error = await upsertDataSource(options, influxDataSource(influx))
    .catch((e) => e);
  assert.ok(error instanceof GrafanaError);
  assert.equal(error.status, 409);
  assert.match(error.message, /same name already exists.*rename or delete/);
});

Deno.test("dataSourceHealth() reports whether Grafana can query the data source", async () => {
  await using grafana = await startGrafanaDouble({
    token: TOKEN,
    dataSourceHealth: (ds) =>
      ds.url.includes("127.0.0.1")
        ? "dial tcp 127.0.0.1:8181: connect: connection refused"
        : undefined,
  });
  const options = { url: grafana.url, token: TOKEN };
  await upsertDataSource(options, influxDataSource(influx));
  assert.deepEqual(await dataSourceHealth(options, DATASOURCE_UID), {
    ok: false,
    message: "dial tcp 127.0.0.1:8181: connect: connection refused",
  });
  await upsertDataSource(
    options,
    influxDataSource(influx, "http://influxdb:8181"),
  );
  assert.deepEqual(await dataSourceHealth(options, DATASOURCE_UID), {
    ok: true,
    message: "OK",
  });
  const missing = await dataSourceHealth(options, "nope").catch((e) => e);
  assert.ok(missing instanceof GrafanaError);
  assert.equal(missing.status, 404);
});

// ---- the script, as a user runs it ----

const canRunDeno =
  (await Deno.permissions.query({ name: "run", command: "deno" })).state ===
    "granted";
const SCRIPT = "scripts/seed-grafana.ts";
/** The permissions of the proposed `seed-grafana` task. */
const PERMISSIONS = [
  "--allow-net=127.0.0.1,localhost",
  "--allow-env=KAFKA_*,SCHEMA_REGISTRY_URL,COINS,SOURCE,BITFINEX_*,SYNTHETIC_*,REPLAY_*,RECORD_FILE,CONSUMER_GROUP,ASSIGNOR,DLQ_TOPIC,INFLUX_*,INFLUXDB3_BIN,PRODUCER_*,BACKFILL,GRAFANA_*,CHART_*,LOG_FORMAT",
];
const seed = (env: Record<string, string>, args: string[] = []) =>
  runScript(SCRIPT, args, env, PERMISSIONS);

Deno.test({
  name:
    "seed-grafana run twice: one data source, one dashboard (version 2), right auth and bodies, URL printed",
  ignore: !canRunDeno,
  async fn() {
    await using grafana = await startGrafanaDouble({ token: TOKEN });
    const env = {
      GRAFANA_URL: grafana.url,
      GRAFANA_TOKEN: TOKEN,
      INFLUX_TOKEN,
      INFLUX_MEASUREMENT: "ticks",
      COINS: "tETHUSD,tBTCUSD",
    };
    const first = await seed(env, ["--datasource-url", "http://influxdb:8181"]);
    assert.equal(first.code, 0, first.stderr);
    const second = await seed(env, [
      "--datasource-url",
      "http://influxdb:8181",
    ]);
    assert.equal(second.code, 0, second.stderr);

    const url = `${grafana.url}/d/${DASHBOARD_UID}/cryptocandles-live-candles`;
    assert.equal(first.stdout.trim(), url);
    assert.equal(second.stdout.trim(), url);
    assert.match(
      first.stderr,
      /data source "cryptocandles InfluxDB 3" created/,
    );
    assert.match(
      second.stderr,
      /data source "cryptocandles InfluxDB 3" updated/,
    );
    assert.ok(!`${first.stderr}${second.stderr}`.includes(TOKEN));
    assert.ok(!`${first.stderr}${second.stderr}`.includes(INFLUX_TOKEN));

    assert.deepEqual(
      grafana.requests.map((r) => `${r.method} ${r.path}`),
      [
        `GET /api/datasources/uid/${DATASOURCE_UID}`,
        "POST /api/datasources",
        `GET /api/datasources/uid/${DATASOURCE_UID}/health`,
        "POST /api/dashboards/db",
        `GET /api/datasources/uid/${DATASOURCE_UID}`,
        `PUT /api/datasources/uid/${DATASOURCE_UID}`,
        `GET /api/datasources/uid/${DATASOURCE_UID}/health`,
        "POST /api/dashboards/db",
      ],
    );
    for (const r of grafana.requests) {
      assert.equal(r.authorization, `Bearer ${TOKEN}`, r.path);
    }
    const expected = influxDataSource(
      loadConfig(new Map([["INFLUX_TOKEN", INFLUX_TOKEN]])).influx,
      "http://influxdb:8181",
    );
    assert.deepEqual(grafana.requests[1].body, expected);
    assert.deepEqual(grafana.requests[5].body, { ...expected, id: 1 });

    const [ds] = grafana.dataSources();
    assert.equal(grafana.dataSources().length, 1);
    assert.equal(ds.name, DATASOURCE_NAME);
    assert.equal(ds.version, 2);
    const [saved] = grafana.dashboards();
    assert.equal(grafana.dashboards().length, 1);
    assert.equal(saved.version, 2);
    const body = grafana.requests[3].body as { overwrite: boolean };
    assert.equal(body.overwrite, true);

    const model = buildDashboard({
      measurement: "ticks",
      defaultCoin: "tETHUSD",
    });
    const { id: _id, version: _version, ...stored } = saved.dashboard;
    assert.deepEqual(stored, JSON.parse(JSON.stringify(model)));
    for (const { source, target } of dashboardQueries(model)) {
      assert.equal(target.datasource.uid, ds.uid, source);
      assert.match(target.rawSql, /FROM "ticks"/, source);
    }
  },
});

Deno.test({
  name:
    "seed-grafana warns when Grafana cannot reach InfluxDB at the data source URL, and still saves",
  ignore: !canRunDeno,
  async fn() {
    await using grafana = await startGrafanaDouble({
      token: TOKEN,
      dataSourceHealth: () =>
        "dial tcp 127.0.0.1:8181: connect: connection refused",
    });
    const result = await seed({
      GRAFANA_URL: grafana.url,
      GRAFANA_TOKEN: TOKEN,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /warn: Grafana cannot query InfluxDB at http:\/\/127\.0\.0\.1:8181: dial tcp .*--datasource-url http:\/\/influxdb:8181/,
    );
    assert.equal(grafana.dashboards().length, 1);
  },
});

Deno.test({
  name:
    "seed-grafana exits 2 when Grafana refuses the credentials, naming them",
  ignore: !canRunDeno,
  async fn() {
    await using grafana = await startGrafanaDouble({ token: TOKEN });
    const result = await seed({
      GRAFANA_URL: grafana.url,
      GRAFANA_TOKEN: "glsa_wrong",
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /401 Invalid API key/);
    assert.match(result.stderr, /check GRAFANA_TOKEN/);
    assert.ok(!result.stderr.includes("glsa_wrong"));
    assert.equal(grafana.requests.length, 1);
  },
});

Deno.test({
  name:
    "seed-grafana exits 2 for a Viewer (403) and 1 when Grafana keeps failing with 500",
  ignore: !canRunDeno,
  async fn() {
    await using viewer = await startGrafanaDouble({
      user: "v",
      password: "p",
      role: "Viewer",
    });
    const refused = await seed({
      GRAFANA_URL: viewer.url,
      GRAFANA_USER: "v",
      GRAFANA_PASSWORD: "p",
    });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /403 .*Admin role/);

    await using failing = await startGrafanaDouble({ token: TOKEN });
    failing.failNext(500, 100);
    const failed = await seed({
      GRAFANA_URL: failing.url,
      GRAFANA_TOKEN: TOKEN,
    });
    assert.equal(failed.code, 1);
    assert.equal(failing.requests.length, 5, "five attempts");
    assert.match(failed.stderr, /retrying/);
  },
});

Deno.test({
  name: "seed-grafana recovers when Grafana answers 503 at first",
  ignore: !canRunDeno,
  async fn() {
    await using grafana = await startGrafanaDouble({ token: TOKEN });
    grafana.failNext(503, 2);
    const result = await seed({
      GRAFANA_URL: grafana.url,
      GRAFANA_TOKEN: TOKEN,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(grafana.dataSources().length, 1);
    assert.equal(grafana.dashboards().length, 1);
  },
});

Deno.test({
  name:
    "seed-grafana exits 1 when Grafana is unreachable, 2 without credentials or with a bad flag",
  ignore: !canRunDeno,
  async fn() {
    const closed = await startGrafanaDouble();
    await closed.close();
    const unreachable = await seed({
      GRAFANA_URL: closed.url,
      GRAFANA_TOKEN: TOKEN,
    });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /did not answer/);

    const anonymous = await seed({ GRAFANA_URL: closed.url });
    assert.equal(anonymous.code, 2);
    assert.match(
      anonymous.stderr,
      /neither GRAFANA_TOKEN nor GRAFANA_USER\/GRAFANA_PASSWORD is set/,
    );
    const badFlag = await seed({ GRAFANA_TOKEN: TOKEN }, [
      "--datasource-url",
      "influxdb:8181",
    ]);
    assert.equal(badFlag.code, 2);
    assert.match(
      badFlag.stderr,
      /--datasource-url must be an http or https URL/,
    );
    const help = await seed({}, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--datasource-url/);
  },
});

Deno.test({
  name: "seed-grafana stops on SIGTERM while Grafana hangs, and exits 0",
  ignore: !canRunDeno,
  async fn() {
    // A listener that accepts connections and never answers.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of listener) held.push(conn);
    })();
    const child = new Deno.Command("deno", {
      args: ["run", ...PERMISSIONS, SCRIPT],
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        NO_COLOR: "1",
        GRAFANA_URL: `http://127.0.0.1:${listener.addr.port}`,
        GRAFANA_TOKEN: TOKEN,
      },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const started = Date.now();
    await waitFor("the script to connect", () => held.length > 0, {
      timeoutMs: 10_000,
      everyMs: 50,
    });
    child.kill("SIGTERM");
    const { code, stderr } = await child.output();
    listener.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.match(new TextDecoder().decode(stderr), /interrupted/);
    assert.ok(Date.now() - started < 8_000, "stopped before the 10 s timeout");
  },
});
