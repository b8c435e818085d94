import assert from "node:assert/strict";
import { loadConfig } from "@cryptocandles/config";
import {
  ensureSecrets,
  serversDown,
  serversStatus,
  serversUp,
} from "@cryptocandles/launch";
import { createLogger, describeProcess } from "@cryptocandles/runtime";
import { writeStandIns } from "../doubles/standins.ts";
import { freePort, waitFor } from "../support.ts";

// The test permission set may run the stand-ins only through this folder's fixed links.
const DIR = "tests/out/servers-stack";
const ABS = `${Deno.cwd()}/${DIR}`;

Deno.test("the stack runs InfluxDB 3 and Grafana found on PATH: arguments, 0600 apiv3_ token, provisioning, status, down, restart with data kept", async () => {
  await Deno.remove(DIR, { recursive: true }).catch(() => {});
  const work = await Deno.makeTempDir({ prefix: "standins-" });
  const standIns = await writeStandIns(work);
  const influxPort = freePort();
  const grafanaPort = freePort();
  const config = loadConfig(
    new Map([
      ["INFLUX_HOST", `http://127.0.0.1:${influxPort}`],
      ["GRAFANA_URL", `http://127.0.0.1:${grafanaPort}`],
      ["GRAFANA_ANONYMOUS", "true"],
    ]),
  );
  const lines: string[] = [];
  const log = createLogger("stack", { write: (l) => lines.push(l) });
  const options = {
    dir: DIR,
    config,
    log,
    searchPath: standIns.path,
    releases: { influxdb3: null, grafana: null },
  };
  try {
    const up = await serversUp(options);
    assert.deepEqual(up.started, ["influxdb3", "grafana"], lines.join("\n"));
    assert.deepEqual(up.missing, {});
    assert.equal(
      up.dashboard,
      `http://127.0.0.1:${grafanaPort}/d/cryptocandles`,
    );
    assert.ok(
      lines.some((l) =>
        l.includes(`influxdb3: using influxdb3 on PATH (${standIns.influxBin})`)
      ),
      lines.join("\n"),
    );
    const { token, password } = await ensureSecrets(DIR);
    assert.match(token, /^apiv3_[\w-]{80,}$/);
    assert.equal(up.env.INFLUX_TOKEN, token);
    assert.equal(up.env.GRAFANA_PASSWORD, password);
    const tokenFile = `${DIR}/secrets/influxdb3-admin-token.json`;
    assert.equal((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);
    assert.equal(
      (await Deno.stat(`${DIR}/secrets/grafana-admin-password`)).mode! & 0o777,
      0o600,
    );
    assert.deepEqual(JSON.parse(await Deno.readTextFile(tokenFile)), {
      token,
      name: "_admin",
    });
    for (const line of lines) {
      assert.ok(!line.includes(token) && !line.includes(password), line);
    }

    const starts = await Deno.readTextFile(
      `${DIR}/influxdb3/standin-starts.log`,
    );
    assert.equal(
      starts.trim(),
      `serve --node-id cryptocandles --object-store file --data-dir ${ABS}/influxdb3 --http-bind 127.0.0.1:${influxPort} --admin-token-file ${ABS}/secrets/influxdb3-admin-token.json --wal-flush-interval 200ms --disable-telemetry-upload | token-file-mode=600`,
    );
    // InfluxDB logs to stdout only: the stack's relay appends it to its log.
    await waitFor(
      "the stand-in's output in .stack/logs/influxdb3.log",
      async () =>
        (await Deno.readTextFile(`${DIR}/logs/influxdb3.log`).catch(() => ""))
          .includes(`influxdb3 stand-in: serving on 127.0.0.1:${influxPort}`),
      { timeoutMs: 10_000 },
    );
    const influx = `http://127.0.0.1:${influxPort}`;
    const write = await fetch(
      `${influx}/api/v3/write_lp?db=criptomonedas&precision=millisecond&no_sync=true`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: "criptomonedas,Coin=tBTCUSD close_price=1 1718472300000",
      },
    );
    assert.equal(write.status, 204, await write.text());
    const refused = await fetch(`${influx}/health`);
    assert.equal(refused.status, 401, "the token is asked for");
    await refused.body?.cancel();

    const standin = JSON.parse(
      await Deno.readTextFile(`${DIR}/grafana/data/standin.json`),
    );
    assert.deepEqual(standin.args, [
      "server",
      "--homepath",
      `${ABS}/grafana-home`,
      "--config",
      `${ABS}/grafana/grafana.ini`,
    ]);
    assert.deepEqual(standin.env, [
      "GF_SECURITY_ADMIN_PASSWORD",
      "GF_SECURITY_ADMIN_USER",
      "INFLUX_TOKEN",
    ]);
    const [ds] = standin.provisioned.datasources;
    assert.equal(ds.url, influx);
    assert.equal(ds.jsonData.version, "SQL");
    assert.equal(ds.jsonData.insecureGrpc, true);
    assert.equal(ds.secureJsonData.token, token);
    assert.deepEqual(standin.provisioned.dashboards, ["cryptocandles"]);
    const ini = await Deno.readTextFile(`${DIR}/grafana/grafana.ini`);
    assert.match(ini, /^http_addr = 127\.0\.0\.1$/m);
    assert.match(ini, /^\[auth\.anonymous\]\nenabled = true$/m);
    assert.ok(!ini.includes(password) && !ini.includes(token));
    const dashboard = await fetch(
      `http://127.0.0.1:${grafanaPort}/api/dashboards/uid/cryptocandles`,
      { headers: { authorization: `Basic ${btoa(`admin:${password}`)}` } },
    );
    assert.equal(dashboard.status, 200);
    await dashboard.body?.cancel();

    const status = await serversStatus(options);
    assert.deepEqual(status.map((s) => [s.name, s.port, s.running]), [
      ["influxdb3", influxPort, true],
      ["grafana", grafanaPort, true],
    ]);
    const again = await serversUp(options);
    assert.deepEqual(again.started, [], "running servers are reused");
    assert.deepEqual(again.running, ["influxdb3", "grafana"]);

    const pids = status.map((s) => s.pid!);
    assert.deepEqual(await serversDown(options), ["influxdb3", "grafana"]);
    for (const pid of pids) {
      assert.equal(await describeProcess(pid), undefined, `pid ${pid} is gone`);
    }
    assert.ok((await serversStatus(options)).every((s) => !s.running));

    const restarted = await serversUp(options);
    assert.deepEqual(restarted.started, ["influxdb3", "grafana"]);
    assert.equal(restarted.env.INFLUX_TOKEN, token, "the token is kept");
    const log2 = await Deno.readTextFile(`${DIR}/influxdb3/standin-starts.log`);
    assert.equal(log2.trim().split("\n").length, 2, "the data folder is kept");
    await waitFor("InfluxDB to answer with the kept token", async () => {
      const r = await fetch(`${influx}/health`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await r.body?.cancel();
      return r.ok;
    }, { timeoutMs: 10_000 });
  } finally {
    await serversDown({ ...options, clean: true });
    await Deno.remove(DIR, { recursive: true }).catch(() => {});
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("with neither program, serversUp says so in one line each and starts nothing", async () => {
  await Deno.remove(DIR, { recursive: true }).catch(() => {});
  const lines: string[] = [];
  const config = loadConfig(
    new Map([
      ["INFLUX_HOST", `http://127.0.0.1:${freePort()}`],
      ["GRAFANA_URL", `http://127.0.0.1:${freePort()}`],
    ]),
  );
  try {
    const up = await serversUp({
      dir: DIR,
      config,
      log: createLogger("stack", { write: (l) => lines.push(l) }),
      searchPath: "/nonexistent",
      releases: { influxdb3: null, grafana: null },
    });
    assert.deepEqual(up.started, []);
    assert.deepEqual(up.env, {});
    const warnings = lines.filter((l) => l.includes("not started"));
    assert.equal(warnings.length, 2, lines.join("\n"));
    assert.match(
      warnings[0],
      /InfluxDB 3 not started: INFLUXDB3_BIN is not set; no influxdb3 on PATH; no influxdb3 release is pinned for \w+\/\w+\. Set INFLUXDB3_BIN to an influxdb3 binary, put influxdb3 on PATH, or run your own and point INFLUX_HOST at it/,
    );
  } finally {
    await Deno.remove(DIR, { recursive: true }).catch(() => {});
  }
});
