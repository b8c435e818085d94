/**
 * A small client for the parts of Grafana's HTTP API that seed-grafana uses:
 * data sources by uid and `POST /api/dashboards/db`, signed in with a
 * service-account token (Bearer) or basic auth, each request timed out.
 *
 * Endpoints, as Grafana documents them (docs/sources/developers/http_api/
 * data_source.md and dashboard.md):
 * - `GET /api/datasources/uid/:uid`: 200 with the data source, 404 when none.
 * - `POST /api/datasources`: 200 `{datasource, id, message: "Datasource added", name}`,
 *   409 when the name (or uid) is taken.
 * - `PUT /api/datasources/uid/:uid`: 200 `{datasource, id, message: "Datasource updated", name}`.
 * - `GET /api/datasources/uid/:uid/health`: 200 `{status: "OK", message}`, or an
 *   error status with `{status: "ERROR", message}` when Grafana cannot query it.
 * - `POST /api/dashboards/db` with `{dashboard, folderUid, message, overwrite}`:
 *   200 `{id, uid, url, status: "success", version, slug}`; 400, 401, 403, 412.
 *
 * @module
 */
import type { Config } from "@cryptocandles/config";

/** Where Grafana is and how to sign in. */
export interface GrafanaOptions {
  /** Base URL, such as `http://127.0.0.1:3000`. */
  url: string;
  /** Service-account token, sent as `Authorization: Bearer …`; wins over user/password. */
  token?: string;
  /** Basic-auth user (with `password`). */
  user?: string;
  /** Basic-auth password (with `user`). */
  password?: string;
  /** Per-request timeout in ms. @default {10000} */
  timeoutMs?: number;
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Aborts requests in flight (on SIGINT, say). */
  signal?: AbortSignal;
}

/** A request Grafana refused or did not answer. */
export class GrafanaError extends Error {
  /** HTTP status, or 0 when Grafana did not answer. */
  readonly status: number;
  /** True for no answer, 429 and 5xx: worth another attempt. */
  readonly retriable: boolean;
  /**
   * @param message What failed, with Grafana's own message.
   * @param status HTTP status, or 0.
   * @param options The cause.
   */
  constructor(
    message: string,
    status: number,
    options: { cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "GrafanaError";
    this.status = status;
    this.retriable = status === 0 || status === 429 || status >= 500;
  }
}

/** A data source as `POST /api/datasources` takes it. */
export interface DataSource {
  /** Fixed identifier, so dashboards can refer to it. */
  uid: string;
  /** Name shown in Grafana (unique per organisation). */
  name: string;
  /** Plugin id, such as `influxdb`. */
  type: string;
  /** Where Grafana's server reaches the database. */
  url: string;
  /** `proxy`: Grafana's backend makes the queries. */
  access: "proxy";
  /** Whether it is the organisation's default data source. */
  isDefault?: boolean;
  /** Plugin settings. */
  jsonData?: Record<string, unknown>;
  /** Plugin secrets, stored encrypted; Grafana never returns them. */
  secureJsonData?: Record<string, string>;
}

/** What {@linkcode upsertDataSource} did. */
export interface UpsertResult {
  /** `created` on the first run, `updated` after. */
  action: "created" | "updated";
  /** Grafana's numeric id of the data source. */
  id: number;
  /** Its uid. */
  uid: string;
}

/** Options for {@linkcode saveDashboard}. */
export interface SaveDashboardOptions {
  /** Folder to save into; omitted, the General folder. */
  folderUid?: string;
  /** Version-history message. @default {"saved by seed-grafana"} */
  message?: string;
}

/** Grafana's answer to `POST /api/dashboards/db`. */
export interface SavedDashboard {
  /** Grafana's numeric id of the dashboard. */
  id: number;
  /** Its uid. */
  uid: string;
  /** Path of the dashboard, such as `/d/cryptocandles/cryptocandles-live-candles`. */
  url: string;
  /** `success`. */
  status: string;
  /** Version after this save (1 when created). */
  version: number;
  /** The title as a URL segment. */
  slug?: string;
}

/**
 * The Grafana section of the configuration as {@linkcode GrafanaOptions}.
 *
 * @param grafana The `grafana` section of the configuration.
 * @returns Options for the calls of this module.
 *
 * @example Options from the configuration
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * import { grafanaOptions } from "@cryptocandles/grafana";
 * const grafana = grafanaOptions(loadConfig(new Map()).grafana);
 * ```
 */
export function grafanaOptions(grafana: Config["grafana"]): GrafanaOptions {
  const { url, token, user, password } = grafana;
  return { url, token, user, password };
}

/**
 * The `Authorization` header for the configured credentials: Bearer for a
 * token, Basic for user and password, none otherwise.
 *
 * @param grafana Credentials.
 * @returns Headers to add to a request (possibly empty).
 *
 * @example A service-account token
 * ```ts
 * import { authHeader } from "@cryptocandles/grafana";
 * console.log(authHeader({ url: "http://127.0.0.1:3000", token: "glsa_x" }));
 * // { authorization: "Bearer glsa_x" }
 * ```
 */
export function authHeader(grafana: GrafanaOptions): Record<string, string> {
  if (grafana.token) return { authorization: `Bearer ${grafana.token}` };
  if (grafana.user !== undefined && grafana.password !== undefined) {
    const bytes = new TextEncoder().encode(
      `${grafana.user}:${grafana.password}`,
    );
    return {
      authorization: `Basic ${btoa(String.fromCharCode(...bytes))}`,
    };
  }
  return {};
}

/**
 * Creates the data source, or updates it in place when one with its uid
 * exists (`GET` then `PUT /api/datasources/uid/:uid`, else `POST
 * /api/datasources`), so running twice never makes a second one.
 *
 * @param grafana Where Grafana is and how to sign in.
 * @param dataSource The data source, with its fixed uid.
 * @returns Whether it was created or updated, with its id.
 * @throws {GrafanaError} When Grafana refuses (a 409 means another data source has its name) or does not answer.
 *
 * @example Seed the data source
 * ```ts ignore
 * const { action } = await upsertDataSource(grafana, influxDataSource(config.influx));
 * ```
 */
export async function upsertDataSource(
  grafana: GrafanaOptions,
  dataSource: DataSource,
): Promise<UpsertResult> {
  const path = `/api/datasources/uid/${encodeURIComponent(dataSource.uid)}`;
  const found = await call(grafana, "GET", path, undefined, [404]);
  if (found.status === 404) {
    const made = await call(grafana, "POST", "/api/datasources", dataSource);
    return { action: "created", id: made.body.id, uid: dataSource.uid };
  }
  const existing = found.body;
  const updated = await call(grafana, "PUT", path, {
    ...dataSource,
    id: existing.id,
  });
  return { action: "updated", id: updated.body.id, uid: dataSource.uid };
}

/** What {@linkcode dataSourceHealth} found. */
export interface DataSourceHealth {
  /** Grafana could query the data source. */
  ok: boolean;
  /** Grafana's message, such as `OK` or the database's error. */
  message: string;
}

/**
 * Asks Grafana to query the data source once (its "Save & test"), so a URL
 * Grafana's server cannot reach shows up now rather than in empty panels.
 *
 * @param grafana Where Grafana is and how to sign in.
 * @param uid The data source's uid.
 * @returns Whether Grafana reached it, and its message.
 * @throws {GrafanaError} When Grafana itself refuses (401, 403, 404) or does not answer.
 *
 * @example Check Grafana reaches InfluxDB
 * ```ts ignore
 * const health = await dataSourceHealth(grafana, "cryptocandles-influxdb3");
 * if (!health.ok) console.log(health.message);
 * ```
 */
export async function dataSourceHealth(
  grafana: GrafanaOptions,
  uid: string,
): Promise<DataSourceHealth> {
  const { status, body } = await call(
    grafana,
    "GET",
    `/api/datasources/uid/${encodeURIComponent(uid)}/health`,
    undefined,
    [400, 500, 502, 503],
  );
  return {
    ok: status === 200 && body?.status === "OK",
    message: String(body?.message ?? `status ${status}`),
  };
}

/**
 * Saves a dashboard with `overwrite: true`: the first run creates it, later
 * runs replace it (same uid, next version).
 *
 * @param grafana Where Grafana is and how to sign in.
 * @param dashboard The dashboard model, with its fixed uid.
 * @param options Folder and version message.
 * @returns Grafana's answer, with the dashboard's path and version.
 * @throws {GrafanaError} When Grafana refuses or does not answer.
 *
 * @example Save and print the URL
 * ```ts ignore
 * const saved = await saveDashboard(grafana, buildDashboard(options));
 * console.log(dashboardUrl(grafana, saved));
 * ```
 */
export async function saveDashboard(
  grafana: GrafanaOptions,
  dashboard: object,
  options: SaveDashboardOptions = {},
): Promise<SavedDashboard> {
  const { folderUid, message = "saved by seed-grafana" } = options;
  const { body } = await call(grafana, "POST", "/api/dashboards/db", {
    dashboard: { ...dashboard, id: null },
    ...(folderUid ? { folderUid } : {}),
    message,
    overwrite: true,
  });
  return body as SavedDashboard;
}

/**
 * The browser URL of a saved dashboard.
 *
 * @param grafana Where Grafana is.
 * @param saved The answer of {@linkcode saveDashboard}.
 * @returns An absolute URL, such as `http://127.0.0.1:3000/d/cryptocandles/cryptocandles`.
 *
 * @example Absolute URL of a saved dashboard
 * ```ts
 * import { dashboardUrl } from "@cryptocandles/grafana";
 * const saved = { id: 1, uid: "c", url: "/d/c/candles", status: "success", version: 1 };
 * console.log(dashboardUrl({ url: "http://127.0.0.1:3000" }, saved));
 * ```
 */
export function dashboardUrl(
  grafana: GrafanaOptions,
  saved: SavedDashboard,
): string {
  return new URL(saved.url, `${grafana.url}/`).href;
}

// deno-lint-ignore no-explicit-any
type Json = any;

async function call(
  grafana: GrafanaOptions,
  method: string,
  path: string,
  body?: unknown,
  accept: number[] = [],
): Promise<{ status: number; body: Json }> {
  const { timeoutMs = 10_000, fetch: doFetch = fetch, signal } = grafana;
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await doFetch(`${grafana.url}${path}`, {
      method,
      headers: {
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...authHeader(grafana),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (cause) {
    const reason = (cause as Error).name === "TimeoutError"
      ? `no answer in ${timeoutMs} ms`
      : (cause as Error).message;
    throw new GrafanaError(
      `Grafana at ${grafana.url} did not answer ${method} ${path}: ${reason} (is it running, and is GRAFANA_URL right?)`,
      0,
      { cause },
    );
  }
  const text = await response.text();
  const json = parseJson(text);
  if (response.ok || accept.includes(response.status)) {
    return { status: response.status, body: json };
  }
  throw new GrafanaError(
    `Grafana ${method} ${path}: ${response.status} ${
      String(json?.message ?? text).slice(0, 300)
    }${hint(response.status)}`,
    response.status,
  );
}

function hint(status: number): string {
  if (status === 401) {
    return " (check GRAFANA_TOKEN, or GRAFANA_USER and GRAFANA_PASSWORD)";
  }
  if (status === 403) {
    return " (the token or user needs the Admin role: datasources:write, dashboards:write)";
  }
  if (status === 409) {
    return " (another data source has this name or uid: rename or delete it)";
  }
  return "";
}

function parseJson(text: string): Json {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
