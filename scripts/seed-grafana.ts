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
import { runScript, UsageError } from "@cryptocandles/config";
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
import { type Logger, retry } from "@cryptocandles/runtime";

await runScript({
  name: "seed-grafana",
  flags: { "datasource-url": "string" },
  help: [
    "--datasource-url URL    where Grafana's server reaches InfluxDB (default INFLUX_HOST;",
    "                        with Docker Compose: http://influxdb:8181)",
  ],
  async main({ config, log, signal, flags }) {
    const datasourceUrl = checkUrl(
      String(flags.extra["datasource-url"] ?? config.influx.host),
    );
    if (!config.grafana.token && config.grafana.user === undefined) {
      throw new UsageError(
        "Cannot seed Grafana as neither GRAFANA_TOKEN nor GRAFANA_USER/GRAFANA_PASSWORD is set",
      );
    }
    const grafana = { ...grafanaOptions(config.grafana), signal };
    const policy = retryPolicy(log, signal);
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
      const saved = await retry(
        () => saveDashboard(grafana, dashboard),
        policy,
      );
      log.info("dashboard saved", { uid: saved.uid, version: saved.version });
      console.log(dashboardUrl(grafana, saved));
    } catch (error) {
      if (signal.aborted) {
        log.info("interrupted: stopped before finishing");
        return 0;
      }
      if (!refused(error)) throw error;
      log.error((error as Error).message);
      return 2;
    }
  },
});

/** A few quick retries of what Grafana may answer later (5xx, network). */
function retryPolicy(log: Logger, signal: AbortSignal) {
  return {
    maxAttempts: 5,
    minTimeout: 250,
    maxTimeout: 2_000,
    signal,
    isRetriable: (e: unknown) => e instanceof GrafanaError && e.retriable,
    onRetry: (e: unknown, attempt: number, delayMs: number) =>
      log.warn(`${(e as Error).message}; retrying`, { attempt, delayMs }),
  };
}

/** Grafana refused the credentials (401) or their role (403): a configuration error. */
function refused(error: unknown): boolean {
  return error instanceof GrafanaError &&
    (error.status === 401 || error.status === 403);
}

function checkUrl(value: string): string {
  const { protocol } = URL.parse(value) ?? {};
  if (protocol !== "http:" && protocol !== "https:") {
    throw new UsageError(
      `--datasource-url must be an http or https URL: current value is ${
        JSON.stringify(value)
      }`,
    );
  }
  return value.replace(/\/+$/, "");
}
