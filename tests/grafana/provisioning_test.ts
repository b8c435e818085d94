import assert from "node:assert/strict";
import { loadConfig } from "@cryptocandles/config";
import {
  buildDashboard,
  influxDataSource,
  provisioningFiles,
} from "@cryptocandles/grafana";

const config = loadConfig(
  new Map([
    ["INFLUX_HOST", "http://127.0.0.1:18181"],
    ["INFLUX_TOKEN", "apiv3_secret-never-written"],
    ["INFLUX_DATABASE", "candles"],
    ["INFLUX_MEASUREMENT", "ticks"],
  ]),
);

Deno.test("provisioningFiles() renders seed-grafana's data source with the token as $INFLUX_TOKEN, never the token itself", () => {
  const files = provisioningFiles({
    influx: config.influx,
    dir: "/srv/stack/grafana/provisioning",
  });
  assert.deepEqual(Object.keys(files).sort(), [
    "dashboards/cryptocandles.yaml",
    "dashboards/json/cryptocandles.json",
    "datasources/cryptocandles.yaml",
  ]);
  for (const text of Object.values(files)) {
    assert.ok(!text.includes("apiv3_secret-never-written"));
  }
  const { datasources } = JSON.parse(files["datasources/cryptocandles.yaml"]);
  assert.equal(datasources[0].jsonData.dbName, "candles");
  assert.equal(datasources[0].jsonData.version, "SQL");
  const { secureJsonData: _s, ...sent } = influxDataSource(config.influx);
  assert.deepEqual(datasources, [{
    ...sent,
    editable: false,
    secureJsonData: { token: "$INFLUX_TOKEN" },
  }]);
});

Deno.test("provisioningFiles() points the dashboard provider at the JSON of buildDashboard()", () => {
  const files = provisioningFiles({
    influx: config.influx,
    dir: "/srv/p",
    defaultCoin: "tETHUSD",
    withToken: false,
  });
  const { providers } = JSON.parse(files["dashboards/cryptocandles.yaml"]);
  assert.equal(providers[0].type, "file");
  assert.equal(providers[0].options.path, "/srv/p/dashboards/json");
  assert.deepEqual(
    JSON.parse(files["dashboards/json/cryptocandles.json"]),
    JSON.parse(JSON.stringify(
      buildDashboard({ measurement: "ticks", defaultCoin: "tETHUSD" }),
    )),
  );
  const { datasources } = JSON.parse(files["datasources/cryptocandles.yaml"]);
  assert.equal(datasources[0].secureJsonData, undefined);
});
