/**
 * The Grafana side of the project: the InfluxDB 3 data source (SQL mode) and
 * the live-candles dashboard, typed with `@grafana/schema`, and the SQL of
 * every panel so tests can run it.
 *
 * Queries are written for Grafana's InfluxDB data source in SQL mode:
 * `$coin` and `$interval` are dashboard variables (the front end replaces
 * them, unquoted, before the query leaves the browser) and
 * `$__timeFilter(time)` is a macro the back end expands to
 * `time >= '<from>' AND time <= '<to>'` (RFC 3339, UTC, whole seconds).
 *
 * @module
 */
import type {
  Dashboard,
  DataQuery,
  DataSourceRef,
  Panel,
  VariableModel,
} from "@grafana/schema";
import type { Options as CandlestickOptions } from "@grafana/schema/dist/esm/raw/composable/candlestick/panelcfg/x/CandlestickPanelCfg_types.gen";
import type { Options as StatOptions } from "@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen";
import type { Options as TimeSeriesOptions } from "@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen";
import type { Config } from "@cryptocandles/config";
import type { DataSource } from "./grafana.ts";

/** Uid of the InfluxDB data source seed-grafana creates. */
export const DATASOURCE_UID = "cryptocandles-influxdb3";
/** Name of that data source. */
export const DATASOURCE_NAME = "cryptocandles InfluxDB 3";
/** Uid of the dashboard. */
export const DASHBOARD_UID = "cryptocandles";
/** The candle widths offered by the `interval` variable: label → SQL interval. */
export const INTERVALS: Readonly<Record<string, string>> = Object.freeze({
  "1m": "1 minute",
  "5m": "5 minutes",
  "15m": "15 minutes",
  "1h": "1 hour",
});
/** The `interval` variable's default. */
export const DEFAULT_INTERVAL = "5m";
/** Dashboard JSON schema version of `@grafana/schema` 13.2.3 (its `defaultDashboard`). */
const SCHEMA_VERSION = 42;

/** A query of the InfluxDB data source in SQL mode. */
export interface SqlTarget extends DataQuery {
  datasource: DataSourceRef;
  /** The SQL, with variables and macros. */
  rawSql: string;
  /** `table` as is, or `time_series` (long frames turned wide, one series per tag value). */
  format: "table" | "time_series";
  rawQuery: true;
  editorMode: "code";
}

/** The SQL of every panel and of the `coin` variable, before Grafana expands it. */
export interface PanelSql {
  /**
   * OHLC candles and volume (traded amount, base currency) of `$coin`,
   * `$interval` wide: live ticks and the 1-minute history candles as one
   * series (a minute with ticks is taken from the ticks).
   */
  candles: string;
  /** Last price of `$coin` per `$interval` (the stat shows the last one). */
  lastPrice: string;
  /** Highest price of `$coin` in the panel's range (today, UTC). */
  dailyMax: string;
  /** Points written per minute, per coin. */
  pointsPerMinute: string;
  /** The `coin` variable's values. */
  coins: string;
}

/** Options for {@linkcode buildDashboard}. */
export interface DashboardOptions {
  /** Table of the points (`INFLUX_MEASUREMENT`). */
  measurement: string;
  /** Coin selected when the dashboard opens. @default {"tBTCUSD"} */
  defaultCoin?: string;
  /** Data source uid every query uses. @default {DATASOURCE_UID} */
  datasourceUid?: string;
}

/**
 * The SQL of the panels for a table, as Grafana stores it (variables and
 * macros unexpanded). Tags come back as `Dictionary(Int32, Utf8)` from
 * InfluxDB 3; the casts make them plain strings, which Grafana's Flight SQL
 * frame conversion handles (it has no case for dictionaries).
 *
 * @param measurement The table (`INFLUX_MEASUREMENT`).
 * @returns The SQL of each panel and of the `coin` variable.
 *
 * @example The candles query
 * ```ts
 * import { panelSql } from "@cryptocandles/grafana";
 * console.log(panelSql("criptomonedas").candles);
 * ```
 */
export function panelSql(measurement: string): PanelSql {
  const table = `"${measurement.replaceAll('"', '""')}"`;
  const history = `"${`${measurement}_candles`.replaceAll('"', '""')}"`;
  const bin = (width: string) =>
    `DATE_BIN(INTERVAL '${width}', time, TIMESTAMP '1970-01-01T00:00:00Z')`;
  const coin = `"Coin" = '$coin' AND $__timeFilter(time)`;
  return {
    // Minutes first: a live minute from its ticks (volume = the rises of
    // Bitfinex's rolling 24 h volume between ticks), else the history
    // candle of that minute; then the minutes binned with the same
    // first/max/min/last rules, so history and live make one series.
    candles: [
      "WITH ticks AS (",
      "  SELECT time, close_price,",
      "    GREATEST(COALESCE(volume - LAG(volume) OVER (ORDER BY time), 0), 0) AS traded",
      `  FROM ${table}`,
      `  WHERE ${coin}`,
      "), live AS (",
      "  SELECT",
      `    ${bin("1 minute")} AS minute,`,
      "    first_value(close_price ORDER BY time) AS open,",
      "    MAX(close_price) AS high,",
      "    MIN(close_price) AS low,",
      "    last_value(close_price ORDER BY time) AS close,",
      "    SUM(traded) AS volume",
      "  FROM ticks",
      "  GROUP BY 1",
      "), minutes AS (",
      "  SELECT minute, open, high, low, close, volume FROM live",
      "  UNION ALL",
      "  SELECT time AS minute, open, high, low, close, volume",
      `  FROM ${history}`,
      `  WHERE ${coin} AND "interval" = '1m'`,
      "    AND time NOT IN (SELECT minute FROM live)",
      ")",
      "SELECT",
      `  ${bin("$interval").replace(", time,", ", minute,")} AS time,`,
      "  first_value(open ORDER BY minute) AS open,",
      "  MAX(high) AS high,",
      "  MIN(low) AS low,",
      "  last_value(close ORDER BY minute) AS close,",
      "  SUM(volume) AS volume",
      "FROM minutes",
      "GROUP BY 1",
      "ORDER BY 1",
    ].join("\n"),
    lastPrice: [
      "SELECT",
      `  ${bin("$interval")} AS time,`,
      "  last_value(close_price ORDER BY time) AS price",
      `FROM ${table}`,
      `WHERE ${coin}`,
      "GROUP BY 1",
      "ORDER BY 1",
    ].join("\n"),
    dailyMax: [
      "SELECT MAX(close_price) AS daily_max",
      `FROM ${table}`,
      `WHERE ${coin}`,
    ].join("\n"),
    pointsPerMinute: [
      "SELECT",
      `  ${bin("1 minute")} AS time,`,
      `  CAST("Coin" AS VARCHAR) AS "Coin",`,
      "  COUNT(*) AS points",
      `FROM ${table}`,
      "WHERE $__timeFilter(time)",
      "GROUP BY 1, 2",
      "ORDER BY 1, 2",
    ].join("\n"),
    coins: [
      `SELECT DISTINCT CAST("Coin" AS VARCHAR) AS "Coin"`,
      `FROM ${table}`,
      "WHERE $__timeFilter(time)",
      `ORDER BY "Coin"`,
    ].join("\n"),
  };
}

/**
 * The InfluxDB 3 data source in SQL mode (Flight SQL over gRPC, on the same
 * port as the HTTP API): `jsonData.version: "SQL"`, `dbName`, `httpMode:
 * "POST"`, `insecureGrpc` when the URL is `http:`, and the token in
 * `secureJsonData`.
 *
 * @param influx The `influx` section of the configuration.
 * @param url Where Grafana's server reaches InfluxDB; defaults to `influx.host`
 *   (inside Docker Compose that is `http://influxdb:8181`, not 127.0.0.1).
 * @returns The data source for {@linkcode upsertDataSource}.
 *
 * @example The data source of the defaults
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * import { influxDataSource } from "@cryptocandles/grafana";
 * const ds = influxDataSource(loadConfig(new Map()).influx);
 * console.log(ds.jsonData); // { version: "SQL", dbName: "criptomonedas", httpMode: "POST", insecureGrpc: true }
 * ```
 */
export function influxDataSource(
  influx: Config["influx"],
  url: string = influx.host,
): DataSource {
  return {
    uid: DATASOURCE_UID,
    name: DATASOURCE_NAME,
    type: "influxdb",
    url,
    access: "proxy",
    isDefault: false,
    jsonData: {
      version: "SQL",
      dbName: influx.database,
      httpMode: "POST",
      insecureGrpc: new URL(url).protocol === "http:",
    },
    ...(influx.token ? { secureJsonData: { token: influx.token } } : {}),
  };
}

/**
 * The live-candles dashboard: a `coin` variable (from the table), an
 * `interval` variable (1m, 5m, 15m, 1h; default 5m), a candlestick panel
 * (candles + volume), last-price and daily-max stats, and points per
 * minute; refreshed every 5 s over the last 6 h, in UTC.
 *
 * @param options The table, the default coin and the data source uid.
 * @returns The dashboard model for {@linkcode saveDashboard}.
 *
 * @example The dashboard of the defaults
 * ```ts
 * import { buildDashboard } from "@cryptocandles/grafana";
 * const dashboard = buildDashboard({ measurement: "criptomonedas" });
 * console.log(dashboard.panels?.length); // 4
 * ```
 */
export function buildDashboard(options: DashboardOptions): Dashboard {
  const {
    measurement,
    defaultCoin = "tBTCUSD",
    datasourceUid = DATASOURCE_UID,
  } = options;
  const datasource: DataSourceRef = { type: "influxdb", uid: datasourceUid };
  const sql = panelSql(measurement);
  const target = (
    refId: string,
    rawSql: string,
    format: SqlTarget["format"] = "table",
  ) =>
    json<SqlTarget>({
      refId,
      datasource,
      rawSql,
      format,
      rawQuery: true,
      editorMode: "code",
    });

  const lastPrice: Panel = {
    id: 1,
    type: "stat",
    title: "$coin – last price",
    gridPos: { x: 0, y: 0, w: 8, h: 5 },
    datasource,
    targets: [target("A", sql.lastPrice)],
    fieldConfig: {
      defaults: { unit: "currencyUSD", decimals: 2 },
      overrides: [],
    },
    options: json(statOptions({ percentChange: true })),
  };
  const dailyMax: Panel = {
    id: 2,
    type: "stat",
    title: "$coin – daily max price",
    description:
      'Highest price of the coin today (UTC), as the original\'s "Bitcoin – daily max price".',
    gridPos: { x: 8, y: 0, w: 8, h: 5 },
    timeFrom: "now/d",
    datasource,
    targets: [target("A", sql.dailyMax)],
    fieldConfig: {
      defaults: { unit: "currencyUSD", decimals: 2 },
      overrides: [],
    },
    options: json(statOptions({ percentChange: false })),
  };
  const pointsPerMinute: Panel = {
    id: 3,
    type: "timeseries",
    title: "Points per minute",
    description: "Points written to InfluxDB per minute, per coin.",
    gridPos: { x: 16, y: 0, w: 8, h: 5 },
    datasource,
    targets: [target("A", sql.pointsPerMinute, "time_series")],
    fieldConfig: {
      defaults: { unit: "short", displayName: "${__field.labels.Coin}" },
      overrides: [],
    },
    options: json<TimeSeriesOptions>({ legend: legend(), tooltip: tooltip() }),
  };
  const candles: Panel = {
    id: 4,
    type: "candlestick",
    title: "$coin – candles ($interval)",
    description:
      "Open, high, low and close of the last price per candle: 1-minute history candles (backfilled from Bitfinex, the synthetic walk or a recording) and live ticks as one series. Volume is the amount traded in the candle, in the base currency (BTC for tBTCUSD): Bitfinex's own volume for history, and for live minutes the rises of the ticker's rolling 24 h volume. A flat candle with no volume is a minute without trades; a missing candle is a minute nobody fetched.",
    gridPos: { x: 0, y: 5, w: 24, h: 16 },
    datasource,
    targets: [target("A", sql.candles)],
    fieldConfig: {
      defaults: { unit: "currencyUSD", decimals: 2 },
      overrides: [{
        matcher: { id: "byName", options: "volume" },
        properties: [{ id: "unit", value: "short" }],
      }],
    },
    options: json(candlestickOptions()),
  };

  const coinVariable: VariableModel = {
    type: "query",
    name: "coin",
    label: "Coin",
    datasource,
    query: { refId: "coin", query: sql.coins },
    refresh: 2,
    sort: 1,
    multi: false,
    includeAll: false,
    current: { text: defaultCoin, value: defaultCoin },
    options: [],
  };
  const intervalVariable: VariableModel = {
    type: "custom",
    name: "interval",
    label: "Candle",
    query: Object.entries(INTERVALS).map(([text, value]) =>
      `${text} : ${value}`
    ).join(","),
    multi: false,
    includeAll: false,
    current: {
      text: DEFAULT_INTERVAL,
      value: INTERVALS[DEFAULT_INTERVAL],
    },
    options: Object.entries(INTERVALS).map(([text, value]) => ({
      text,
      value,
      selected: text === DEFAULT_INTERVAL,
    })),
  };

  return {
    uid: DASHBOARD_UID,
    title: "cryptocandles – live candles",
    description:
      "Live Japanese candles of the coins streamed through Kafka into InfluxDB 3.",
    tags: ["cryptocandles", "kafka", "influxdb3"],
    timezone: "utc",
    editable: true,
    graphTooltip: 1,
    refresh: "5s",
    time: { from: "now-6h", to: "now" },
    timepicker: { refresh_intervals: ["5s", "10s", "30s", "1m", "5m"] },
    schemaVersion: SCHEMA_VERSION,
    templating: { list: [coinVariable, intervalVariable] },
    panels: [lastPrice, dailyMax, pointsPerMinute, candles],
  };
}

/**
 * Every query of a dashboard with where it comes from: each panel's targets
 * and each query variable.
 *
 * @param dashboard A dashboard from {@linkcode buildDashboard}.
 * @returns One entry per query, with the panel (if any) it belongs to.
 *
 * @example List the queries
 * ```ts
 * import { buildDashboard, dashboardQueries } from "@cryptocandles/grafana";
 * for (const q of dashboardQueries(buildDashboard({ measurement: "m" }))) console.log(q.source);
 * ```
 */
export function dashboardQueries(
  dashboard: Dashboard,
): { source: string; panel?: Panel; target: SqlTarget }[] {
  const out: { source: string; panel?: Panel; target: SqlTarget }[] = [];
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== "query") continue;
    const query = variable.query as { refId: string; query: string };
    out.push({
      source: `variable ${variable.name}`,
      target: {
        refId: query.refId,
        datasource: variable.datasource ?? {},
        rawSql: query.query,
        format: "table",
        rawQuery: true,
        editorMode: "code",
      },
    });
  }
  for (const panel of dashboard.panels ?? []) {
    if (panel.type === "row") continue;
    const p = panel as Panel;
    for (const target of p.targets ?? []) {
      out.push({
        source: `panel ${p.title}`,
        panel: p,
        target: target as unknown as SqlTarget,
      });
    }
  }
  return out;
}

function statOptions(
  { percentChange }: { percentChange: boolean },
): StatOptions {
  return {
    reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
    orientation: "auto" as StatOptions["orientation"],
    textMode: "value" as StatOptions["textMode"],
    colorMode: "value" as StatOptions["colorMode"],
    graphMode: (percentChange ? "area" : "none") as StatOptions["graphMode"],
    justifyMode: "auto" as StatOptions["justifyMode"],
    showPercentChange: percentChange,
    percentChangeColorMode: "standard" as StatOptions["percentChangeColorMode"],
    wideLayout: true,
  };
}

function candlestickOptions(): CandlestickOptions {
  return {
    mode: "candles+volume" as CandlestickOptions["mode"],
    candleStyle: "candles" as CandlestickOptions["candleStyle"],
    colorStrategy: "open-close" as CandlestickOptions["colorStrategy"],
    colors: { up: "green", down: "red", flat: "gray" },
    fields: {
      open: "open",
      high: "high",
      low: "low",
      close: "close",
      volume: "volume",
    },
    includeAllFields: false,
    legend: legend(),
    tooltip: tooltip(),
  };
}

function legend(): TimeSeriesOptions["legend"] {
  return {
    showLegend: true,
    displayMode: "list" as TimeSeriesOptions["legend"]["displayMode"],
    placement: "bottom" as TimeSeriesOptions["legend"]["placement"],
    calcs: [],
  };
}

function tooltip(): TimeSeriesOptions["tooltip"] {
  return {
    mode: "multi" as TimeSeriesOptions["tooltip"]["mode"],
    sort: "none" as TimeSeriesOptions["tooltip"]["sort"],
  };
}

/** A typed value as the plain JSON record Grafana's schema types take. */
function json<T extends object>(value: T): Record<string, unknown> {
  return value as Record<string, unknown>;
}
