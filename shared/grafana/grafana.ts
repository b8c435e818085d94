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
import {
  HttpError,
  type HttpErrorOptions,
  httpRequest,
} from "@cryptocandles/runtime";

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

/**
 * A request Grafana refused or did not answer: an {@linkcode HttpError}
 * (`status`, 0 when there was no answer; `retriable` for no answer, 408,
 * 429 and 5xx; `retryAfterMs`; `cause`) whose message ends with advice for
 * 401, 403 and 409.
 *
 * @example Exit 2 on refused credentials
 * ```ts ignore
 * import { GrafanaError, upsertDataSource } from "@cryptocandles/grafana";
 * try {
 *   await upsertDataSource(grafana, dataSource);
 * } catch (error) {
 *   if (error instanceof GrafanaError && error.status === 401) Deno.exitCode = 2;
 * }
 * ```
 */
export class GrafanaError extends HttpError {
  /**
   * @param message What failed, with Grafana's own message.
   * @param status HTTP status, or 0.
   * @param options Method, URL, Grafana's answer and the cause.
   */
  constructor(
    message: string,
    status: number,
    options: HttpErrorOptions = {},
  ) {
    super(message, status, options);
    this.name = "GrafanaError";
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

function call(
  grafana: GrafanaOptions,
  method: string,
  path: string,
  body?: unknown,
  accept: number[] = [],
): Promise<{ status: number; body: Json }> {
  const { url, timeoutMs = 10_000, fetch: doFetch = fetch, signal } = grafana;
  return httpRequest<Json>(`${url}${path}`, {
    method,
    body,
    headers: authHeader(grafana),
    timeoutMs,
    signal,
    expect: accept,
    fetch: doFetch,
    service: "Grafana",
    baseUrl: url,
    hint,
    errorClass: GrafanaError,
  });
}

function hint(status: number): string {
  if (status === 0) return " (is it running, and is GRAFANA_URL right?)";
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
