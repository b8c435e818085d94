/**
 * `deno task seed-grafana`: creates (or updates) the InfluxDB 3 data source
 * in SQL mode and saves the live-candles dashboard, both with fixed uids, so
 * running it again changes them in place. Prints the dashboard's URL.
 *
 *     deno task seed-grafana [--datasource-url http://influxdb:8181]
 *
 * Exit codes: 0 done, 1 Grafana did not answer or failed, 2 bad
 * configuration or credentials Grafana refused (401/403).
 *
 * @module
 */
import {
  type Config,
  helpText,
  loadConfig,
  parseFlags,
} from "@cryptocandles/config";
import {
  buildDashboard,
  DATASOURCE_NAME,
  influxDataSource,
} from "@cryptocandles/grafana";
import {
  dashboardUrl,
  dataSourceHealth,
  GrafanaError,
  grafanaOptions,
  saveDashboard,
  upsertDataSource,
} from "@cryptocandles/grafana";
import { createLogger } from "@cryptocandles/runtime";
import { retry } from "@cryptocandles/runtime";

let config: Config;
let datasourceUrl: string;
try {
  const flags = parseFlags(Deno.args, { "datasource-url": { type: "string" } });
  if (flags.help) {
    console.log(helpText("deno task seed-grafana [flags]", [
      "--datasource-url URL    where Grafana's server reaches InfluxDB (default INFLUX_HOST;",
      "                        with Docker Compose: http://influxdb:8181)",
    ]));
    Deno.exit(0);
  }
  config = loadConfig(Deno.env, flags.overrides);
  datasourceUrl = checkUrl(
    String(flags.extra["datasource-url"] ?? config.influx.host),
  );
  if (!config.grafana.token && config.grafana.user === undefined) {
    throw new TypeError(
      "Cannot seed Grafana as neither GRAFANA_TOKEN nor GRAFANA_USER/GRAFANA_PASSWORD is set",
    );
  }
} catch (error) {
  console.error(`seed-grafana: ${(error as Error).message}`);
  Deno.exit(2);
}

const log = createLogger("seed-grafana", { format: config.logFormat });
const controller = new AbortController();
const stop = () => controller.abort(new Error("interrupted"));
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
const grafana = {
  ...grafanaOptions(config.grafana),
  signal: controller.signal,
};
const policy = {
  maxAttempts: 5,
  minTimeout: 250,
  maxTimeout: 2_000,
  signal: controller.signal,
  isRetriable: (e: unknown) => e instanceof GrafanaError && e.retriable,
  onRetry: (e: unknown, attempt: number, delayMs: number) =>
    log.warn(`${(e as Error).message}; retrying`, { attempt, delayMs }),
};
try {
  log.info("seeding Grafana", { url: grafana.url, datasourceUrl });
  const dataSource = influxDataSource(config.influx, datasourceUrl);
  const upserted = await retry(
    () => upsertDataSource(grafana, dataSource),
    policy,
  );
  log.info(`data source "${DATASOURCE_NAME}" ${upserted.action}`, {
    uid: upserted.uid,
    database: config.influx.database,
  });
  const health = await dataSourceHealth(grafana, upserted.uid);
  if (!health.ok) {
    log.warn(
      `Grafana cannot query InfluxDB at ${datasourceUrl}: ${health.message} (with Docker Compose, use --datasource-url http://influxdb:8181)`,
    );
  }

  const dashboard = buildDashboard({
    measurement: config.influx.measurement,
    defaultCoin: config.coins[0],
    datasourceUid: upserted.uid,
  });
  const saved = await retry(() => saveDashboard(grafana, dashboard), policy);
  log.info("dashboard saved", { uid: saved.uid, version: saved.version });
  console.log(dashboardUrl(grafana, saved));
} catch (error) {
  if (controller.signal.aborted) {
    log.info("interrupted: stopped before finishing");
  } else {
    log.error((error as Error).message);
    const refused = error instanceof GrafanaError &&
      (error.status === 401 || error.status === 403);
    Deno.exitCode = refused ? 2 : 1;
  }
} finally {
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
}

function checkUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    url = new URL("invalid:");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `--datasource-url must be an http or https URL: current value is ${
        JSON.stringify(value)
      }`,
    );
  }
  return value.replace(/\/+$/, "");
}
