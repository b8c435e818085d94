/**
 * Grafana's provisioning files for the local stack, rendered from the same
 * data source and dashboard that seed-grafana sends over the HTTP API
 * ({@linkcode influxDataSource}, {@linkcode buildDashboard}), so a Grafana
 * the stack starts shows the candles without a seeding step.
 *
 * The files follow Grafana's provisioning format
 * (docs/sources/administration/provisioning/index.md): `apiVersion: 1`,
 * `datasources:` with `uid`, `jsonData` and `secureJsonData`, and a file
 * provider under `providers:` whose `options.path` holds the dashboard JSON.
 * They are written as JSON, which is YAML too. The InfluxDB token is not in
 * them: the data source names `$INFLUX_TOKEN`, which Grafana replaces from
 * its environment when it reads the file.
 *
 * @module
 */
import type { Config } from "@cryptocandles/config";
import {
  buildDashboard,
  DATASOURCE_UID,
  influxDataSource,
} from "./dashboard.ts";

/** Options for {@linkcode provisioningFiles}. */
export interface ProvisioningOptions {
  /** The `influx` section of the configuration (host, database, table; the token is not used). */
  influx: Config["influx"];
  /** Coin selected when the dashboard opens. @default {"tBTCUSD"} */
  defaultCoin?: string;
  /** Absolute folder the provisioning files go to (the dashboard provider names it). */
  dir: string;
  /** Whether Grafana gets an InfluxDB token through `$INFLUX_TOKEN`. @default {true} */
  withToken?: boolean;
}

/**
 * The provisioning files, by path relative to the provisioning folder:
 * `datasources/cryptocandles.yaml`, `dashboards/cryptocandles.yaml` and
 * `dashboards/json/cryptocandles.json`.
 *
 * @param options Influx section, default coin and the absolute folder.
 * @returns File texts by relative path.
 *
 * @example Render the files of the defaults
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * import { provisioningFiles } from "@cryptocandles/grafana";
 * const files = provisioningFiles({ influx: loadConfig(new Map()).influx, dir: "/srv/stack/grafana/provisioning" });
 * console.log(Object.keys(files).length); // 3
 * ```
 */
export function provisioningFiles(
  options: ProvisioningOptions,
): Record<string, string> {
  const { influx, defaultCoin = "tBTCUSD", dir, withToken = true } = options;
  const { secureJsonData: _secret, ...dataSource } = influxDataSource({
    ...influx,
    token: undefined,
  });
  const datasources = {
    apiVersion: 1,
    datasources: [{
      ...dataSource,
      editable: false,
      ...(withToken ? { secureJsonData: { token: "$INFLUX_TOKEN" } } : {}),
    }],
  };
  const providers = {
    apiVersion: 1,
    providers: [{
      name: "cryptocandles",
      type: "file",
      disableDeletion: true,
      allowUiUpdates: false,
      updateIntervalSeconds: 30,
      options: { path: `${dir}/dashboards/json` },
    }],
  };
  const dashboard = buildDashboard({
    measurement: influx.measurement,
    defaultCoin,
    datasourceUid: DATASOURCE_UID,
  });
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  return {
    "datasources/cryptocandles.yaml": json(datasources),
    "dashboards/cryptocandles.yaml": json(providers),
    "dashboards/json/cryptocandles.json": json(dashboard),
  };
}
