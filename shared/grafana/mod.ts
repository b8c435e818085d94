/**
 * Grafana: the typed candlestick dashboard (built with `@grafana/schema`,
 * every panel a SQL query on the InfluxDB 3 data source) and a small client
 * of Grafana's HTTP API to create or update the data source and the
 * dashboard in place.
 *
 * @example Seed a Grafana
 * ```ts ignore
 * import { buildDashboard, grafanaOptions, influxDataSource, saveDashboard, upsertDataSource } from "@cryptocandles/grafana";
 * const grafana = grafanaOptions(config.grafana);
 * await upsertDataSource(grafana, influxDataSource(config.influx));
 * await saveDashboard(grafana, buildDashboard({ coins: config.coins, measurement: config.influx.measurement }));
 * ```
 *
 * @module
 */
export * from "./dashboard.ts";
export * from "./grafana.ts";
export * from "./provisioning.ts";
