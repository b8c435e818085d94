/**
 * A local double of the parts of Grafana that seed-grafana touches, for the
 * tests: the HTTP API of data sources and dashboards with its auth, and the
 * way Grafana expands a query of the InfluxDB data source in SQL mode
 * ({@linkcode interpolateSql}).
 *
 * What it answers, after Grafana's docs (docs/sources/developers/http_api/
 * data_source.md, dashboard.md, auth.md) and its code where the docs say
 * nothing:
 * - `GET /api/health` (no auth): `{"database":"ok","version":…}`.
 * - `GET /api/datasources`, `GET /api/datasources/uid/:uid`,
 *   `GET /api/datasources/name/:name`: the data source without its secrets
 *   (`secureJsonFields` names them), or 404 `{"message":"Data source not found"}`.
 * - `POST /api/datasources`: 200 `{datasource, id, message: "Datasource added", name}`;
 *   409 `{"message":"data source with the same name already exists"}` (or uid).
 * - `PUT /api/datasources/uid/:uid`: 200 `{datasource, id, message: "Datasource updated", name}`,
 *   `version` + 1; secrets not sent are kept.
 * - `GET /api/datasources/uid/:uid/health`: 200 `{"status":"OK","message":…}`, or 400
 *   `{"status":"ERROR","message":…}` as `dataSourceHealth` decides.
 * - `DELETE /api/datasources/uid/:uid`: `{"message":"Data source deleted","id":…}`.
 * - `POST /api/dashboards/db` `{dashboard, folderUid, message, overwrite}`: 200
 *   `{id, uid, url: "/d/<uid>/<slug>", status: "success", version, slug}`; 400 without
 *   a title; 412 `{"message":…,"status":"name-exists"}` when the uid (or the title in
 *   the folder) is taken and `overwrite` is false, `version-mismatch` when
 *   `dashboard.version` is stale.
 * - `GET /api/dashboards/uid/:uid`: `{dashboard, meta: {url, slug, version, folderUid}}`, or 404.
 * - Auth: `Authorization: Bearer <token>` or `Basic <user:password>`; a missing
 *   or wrong one gets 401 (`{"message":"Unauthorized"}`, `"Invalid API key"`,
 *   `"Invalid username or password"`); a `Viewer` gets 403 on writes
 *   (`{"message":"You'll need additional permissions …","title":"Access denied"}`).
 *
 * @module
 */

/** Options for {@linkcode startGrafanaDouble}. */
export interface GrafanaDoubleOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @default {0} */
  port?: number;
  /** Service-account token accepted as Bearer. */
  token?: string;
  /** Basic-auth user accepted (with `password`). */
  user?: string;
  /** Basic-auth password accepted (with `user`). */
  password?: string;
  /** Role of whoever signs in: a Viewer may read, not write. @default {"Admin"} */
  role?: "Admin" | "Viewer";
  /** Version `GET /api/health` reports. @default {"13.2.3"} */
  version?: string;
  /** The answer of a data source's health check: an error message, or undefined when healthy. @default {() => undefined} */
  dataSourceHealth?: (dataSource: StoredDataSource) => string | undefined;
}

/** One request the double received. */
export interface RecordedRequest {
  method: string;
  /** Path and query, such as `/api/datasources/uid/x`. */
  path: string;
  /** The `Authorization` header, as sent. */
  authorization: string | null;
  /** The JSON body, parsed (undefined without one). */
  body: unknown;
  /** The status answered. */
  status: number;
}

/** A data source as the double stores it (secrets included, for assertions). */
export interface StoredDataSource {
  id: number;
  uid: string;
  orgId: number;
  name: string;
  type: string;
  url: string;
  access: string;
  isDefault: boolean;
  jsonData: Record<string, unknown>;
  secureJsonData: Record<string, string>;
  version: number;
  readOnly: boolean;
}

/** A dashboard as the double stores it. */
export interface StoredDashboard {
  id: number;
  uid: string;
  title: string;
  slug: string;
  folderUid: string;
  version: number;
  /** The model as saved (id and version set by the double). */
  dashboard: Record<string, unknown>;
  /** Version-history messages, oldest first. */
  messages: string[];
}

/** A running double, from {@linkcode startGrafanaDouble}. */
export interface GrafanaDouble extends AsyncDisposable {
  /** Base URL, such as `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Every request so far, oldest first. */
  readonly requests: RecordedRequest[];
  /** The stored data sources. */
  dataSources(): StoredDataSource[];
  /** The stored dashboards. */
  dashboards(): StoredDashboard[];
  /** Answers the next `times` `/api/` requests (health included) with `status`. */
  failNext(status: number, times?: number): void;
  /** Stops the server; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts the Grafana double on 127.0.0.1.
 *
 * @param options Port, accepted credentials and role.
 * @returns The running double; `close()` it (or `await using` it).
 *
 * @example Start, call, stop
 * ```ts ignore
 * await using grafana = await startGrafanaDouble({ token: "glsa_test" });
 * const r = await fetch(`${grafana.url}/api/datasources`, { headers: { authorization: "Bearer glsa_test" } });
 * ```
 */
export function startGrafanaDouble(
  options: GrafanaDoubleOptions = {},
): Promise<GrafanaDouble> {
  const { port = 0, role = "Admin", version = "13.2.3" } = options;
  const requests: RecordedRequest[] = [];
  const dataSources: StoredDataSource[] = [];
  const dashboards: StoredDashboard[] = [];
  let nextDataSourceId = 1;
  let nextDashboardId = 1;
  let failures: { status: number; left: number } | undefined;

  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname;
    const text = await request.text();
    let body: unknown = undefined;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        return reply(400, { message: "bad request data" });
      }
    }
    const record: RecordedRequest = {
      method: request.method,
      path: path + url.search,
      authorization: request.headers.get("authorization"),
      body,
      status: 0,
    };
    requests.push(record);
    const response = route(request.method, path, body, record.authorization);
    record.status = response.status;
    return response;
  };

  const route = (
    method: string,
    path: string,
    body: unknown,
    authorization: string | null,
  ): Response => {
    if (failures && failures.left > 0 && path.startsWith("/api/")) {
      failures.left--;
      return reply(failures.status, { message: "injected failure" });
    }
    if (method === "GET" && path === "/api/health") {
      return reply(200, { database: "ok", version, commit: "d0ub1e" });
    }
    if (!path.startsWith("/api/")) return reply(404, { message: "Not found" });
    const denied = checkAuth(authorization, options);
    if (denied) return denied;
    if (method !== "GET" && role === "Viewer") {
      return reply(403, {
        accessErrorId: "ACE0000000001",
        message:
          "You'll need additional permissions to perform this action. Permissions needed: datasources:write",
        title: "Access denied",
      });
    }
    const parts = path.split("/").slice(2).map(decodeURIComponent);
    if (parts[0] === "datasources") {
      return routeDataSources(method, parts, body);
    }
    if (parts[0] === "dashboards") return routeDashboards(method, parts, body);
    return reply(404, { message: "Not found" });
  };

  const routeDataSources = (
    method: string,
    parts: string[],
    body: unknown,
  ): Response => {
    const [, by, key] = parts;
    if (
      method === "GET" && parts.length === 4 && by === "uid" &&
      parts[3] === "health"
    ) {
      const found = dataSources.find((d) => d.uid === key);
      if (!found) return reply(404, { message: "Data source not found" });
      const error = options.dataSourceHealth?.(found);
      return error === undefined
        ? reply(200, { status: "OK", message: "OK" })
        : reply(400, { status: "ERROR", message: error });
    }
    if (method === "GET" && parts.length === 1) {
      return reply(200, dataSources.map(publicView));
    }
    if (method === "POST" && parts.length === 1) {
      const input = body as Partial<StoredDataSource> | undefined;
      if (!input?.name || !input.type) {
        return reply(400, { message: "Required fields: name, type" });
      }
      if (dataSources.some((d) => d.name === input.name)) {
        return reply(409, {
          message: "data source with the same name already exists",
        });
      }
      if (input.uid && dataSources.some((d) => d.uid === input.uid)) {
        return reply(409, {
          message: "data source with the same uid already exists",
        });
      }
      const stored: StoredDataSource = {
        id: nextDataSourceId++,
        uid: input.uid || crypto.randomUUID().slice(0, 14),
        orgId: 1,
        name: input.name,
        type: input.type,
        url: input.url ?? "",
        access: input.access ?? "proxy",
        isDefault: input.isDefault ?? dataSources.length === 0,
        jsonData: input.jsonData ?? {},
        secureJsonData: input.secureJsonData ?? {},
        version: 1,
        readOnly: false,
      };
      dataSources.push(stored);
      return reply(200, {
        datasource: publicView(stored),
        id: stored.id,
        message: "Datasource added",
        name: stored.name,
      });
    }
    if (parts.length !== 3 || (by !== "uid" && by !== "name")) {
      return reply(404, { message: "Not found" });
    }
    const found = dataSources.find((d) =>
      by === "uid" ? d.uid === key : d.name === key
    );
    if (!found) return reply(404, { message: "Data source not found" });
    if (method === "GET") return reply(200, publicView(found));
    if (method === "DELETE" && by === "uid") {
      dataSources.splice(dataSources.indexOf(found), 1);
      return reply(200, { message: "Data source deleted", id: found.id });
    }
    if (method === "PUT" && by === "uid") {
      const input = body as Partial<StoredDataSource> | undefined;
      if (!input?.name || !input.type) {
        return reply(400, { message: "Required fields: name, type" });
      }
      if (dataSources.some((d) => d !== found && d.name === input.name)) {
        return reply(409, {
          message: "data source with the same name already exists",
        });
      }
      if (input.version !== undefined && input.version !== found.version) {
        return reply(409, {
          message: "Datasource has already been updated by someone else",
        });
      }
      Object.assign(found, {
        uid: input.uid || found.uid,
        name: input.name,
        type: input.type,
        url: input.url ?? found.url,
        access: input.access ?? found.access,
        isDefault: input.isDefault ?? found.isDefault,
        jsonData: input.jsonData ?? {},
        secureJsonData: { ...found.secureJsonData, ...input.secureJsonData },
        version: found.version + 1,
      });
      return reply(200, {
        datasource: publicView(found),
        id: found.id,
        message: "Datasource updated",
        name: found.name,
      });
    }
    return reply(405, { message: "Method not allowed" });
  };

  const routeDashboards = (
    method: string,
    parts: string[],
    body: unknown,
  ): Response => {
    if (method === "POST" && parts[1] === "db" && parts.length === 2) {
      const input = body as {
        dashboard?: Record<string, unknown>;
        folderUid?: string;
        message?: string;
        overwrite?: boolean;
      } | undefined;
      const dashboard = input?.dashboard;
      const title = typeof dashboard?.title === "string"
        ? dashboard.title.trim()
        : "";
      if (!dashboard || title === "") {
        return reply(400, { message: "Dashboard title cannot be empty" });
      }
      const uid = typeof dashboard.uid === "string" && dashboard.uid !== ""
        ? dashboard.uid
        : crypto.randomUUID();
      if (uid.length > 40) {
        return reply(400, { message: "uid too long, max 40 characters" });
      }
      const folderUid = input.folderUid ?? "";
      const overwrite = input.overwrite === true;
      const existing = dashboards.find((d) => d.uid === uid);
      const sameTitle = dashboards.find((d) =>
        d.uid !== uid && d.folderUid === folderUid &&
        d.title.toLowerCase() === title.toLowerCase()
      );
      if (sameTitle && !overwrite) {
        return reply(412, {
          message:
            "A dashboard with the same name in the folder already exists",
          status: "name-exists",
        });
      }
      if (existing && !overwrite) {
        if (dashboard.version !== existing.version) {
          return reply(412, {
            message: dashboard.id == null
              ? "A dashboard with the same uid already exists"
              : "The dashboard has been changed by someone else",
            status: dashboard.id == null ? "name-exists" : "version-mismatch",
          });
        }
      }
      const slug = slugify(title);
      const stored: StoredDashboard = existing ?? {
        id: nextDashboardId++,
        uid,
        title,
        slug,
        folderUid,
        version: 0,
        dashboard: {},
        messages: [],
      };
      stored.version += 1;
      Object.assign(stored, { title, slug, folderUid });
      stored.dashboard = {
        ...dashboard,
        id: stored.id,
        uid,
        version: stored.version,
      };
      stored.messages.push(input.message ?? "");
      if (!existing) dashboards.push(stored);
      return reply(200, {
        id: stored.id,
        uid,
        url: `/d/${uid}/${slug}`,
        status: "success",
        version: stored.version,
        slug,
      });
    }
    if (method === "GET" && parts[1] === "uid" && parts.length === 3) {
      const found = dashboards.find((d) => d.uid === parts[2]);
      if (!found) return reply(404, { message: "Dashboard not found" });
      return reply(200, {
        dashboard: found.dashboard,
        meta: {
          url: `/d/${found.uid}/${found.slug}`,
          slug: found.slug,
          version: found.version,
          folderUid: found.folderUid,
        },
      });
    }
    return reply(404, { message: "Not found" });
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: () => {},
  }, handle);
  let closing: Promise<void> | undefined;
  const double: GrafanaDouble = {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    dataSources: () => dataSources.map((d) => structuredClone(d)),
    dashboards: () => dashboards.map((d) => structuredClone(d)),
    failNext(status, times = 1) {
      failures = { status, left: times };
    },
    close() {
      closing ??= server.shutdown();
      return closing;
    },
    [Symbol.asyncDispose]: () => double.close(),
  };
  return Promise.resolve(double);
}

/** How Grafana's front end and back end expand one SQL query: see {@linkcode interpolateSql}. */
export interface GrafanaQueryContext {
  /** Start of the panel's time range. */
  from: Date;
  /** End of the panel's time range. */
  to: Date;
  /** The query interval (`$__interval`) in ms. @default {60000} */
  intervalMs?: number;
  /** Dashboard variables by name: their current value (a list when several are selected). */
  variables?: Record<string, string | string[]>;
}

/**
 * Expands a query of Grafana's InfluxDB data source in SQL mode the way
 * Grafana does, in its two steps:
 *
 * 1. The front end (public/app/plugins/datasource/influxdb/datasource.ts,
 *    `applyTemplateVariables` → `templateSrv.replace` with
 *    `interpolateQueryExpr`) replaces `$var`, `${var}` and `[[var]]` with the
 *    variable's value: a single value as it is (no quotes, no escaping, so
 *    SQL writes `'$coin'`), several values quoted and comma-joined.
 *    `$__interval` and `$__interval_ms` are left for the back end.
 * 2. The back end (pkg/tsdb/influxdb/fsql/macro.go over the plugin SDK's
 *    data/sqlutil/macros.go) expands the macros:
 *    `$__timeFilter(c)` → `c >= 'FROM' AND c <= 'TO'` (RFC 3339, UTC, whole
 *    seconds), `$__timeFrom` / `$__timeTo` → `cast('FROM' as timestamp)`,
 *    `$__interval` → `interval 'N second'`, `$__dateBin(c)` →
 *    `date_bin(interval 'N second', c, timestamp '1970-01-01T00:00:00Z')`,
 *    `$__dateBinAlias(c)` the same `as c_binned`.
 *
 * @param sql The query as stored in the dashboard.
 * @param context Time range, interval and variable values.
 * @returns The SQL InfluxDB receives.
 *
 * @example Expand a panel query
 * ```ts
 * import { interpolateSql } from "./grafana_double.ts";
 * const sql = interpolateSql(`SELECT * FROM t WHERE "Coin" = '$coin' AND $__timeFilter(time)`, {
 *   from: new Date("2024-06-15T11:30:00.500Z"), to: new Date("2024-06-15T17:30:00Z"),
 *   variables: { coin: "tBTCUSD" },
 * });
 * // SELECT * FROM t WHERE "Coin" = 'tBTCUSD' AND time >= '2024-06-15T11:30:00Z' AND time <= '2024-06-15T17:30:00Z'
 * ```
 */
export function interpolateSql(
  sql: string,
  context: GrafanaQueryContext,
): string {
  const { from, to, intervalMs = 60_000, variables = {} } = context;
  // Step 1: templateSrv's variable regex (public/app/features/variables/utils.ts).
  const variableRegex =
    /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?}/g;
  const front = sql.replace(variableRegex, (match, a, b, _f, d) => {
    const name = a ?? b ?? d;
    if (name === "__interval" || name === "__interval_ms") return match;
    const value = variables[name];
    if (value === undefined) return match;
    if (typeof value === "string") return value;
    if (value.length === 1) return value[0];
    return value.map((v) => `'${v.replaceAll("'", "''")}'`).join(", ");
  });
  // Step 2: the back end's macros.
  const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
  const seconds = Math.trunc(intervalMs / 1000);
  const macros: Record<string, (args: string[]) => string> = {
    timeFilter: ([c]) =>
      `${c} >= '${rfc3339(from)}' AND ${c} <= '${rfc3339(to)}'`,
    timeFrom: () => `cast('${rfc3339(from)}' as timestamp)`,
    timeTo: () => `cast('${rfc3339(to)}' as timestamp)`,
    interval: () => `interval '${seconds} second'`,
    dateBin: ([c]) =>
      `date_bin(interval '${seconds} second', ${c}, timestamp '1970-01-01T00:00:00Z')`,
    dateBinAlias: ([c]) =>
      `date_bin(interval '${seconds} second', ${c}, timestamp '1970-01-01T00:00:00Z') as ${c}_binned`,
  };
  let out = front;
  for (const [name, expand] of Object.entries(macros)) {
    const pattern = new RegExp(`\\$__${name}\\b`, "g");
    let match: RegExpExecArray | null;
    while ((match = pattern.exec(out)) !== null) {
      const start = match.index;
      let end = start + match[0].length;
      let args: string[] = [];
      if (out[end] === "(") {
        let depth = 0;
        let i = end;
        for (; i < out.length; i++) {
          if (out[i] === "(") depth++;
          if (out[i] === ")" && --depth === 0) break;
        }
        args = out.slice(end + 1, i).split(",").map((s) => s.trim());
        end = i + 1;
      }
      const replacement = expand(args);
      out = out.slice(0, start) + replacement + out.slice(end);
      pattern.lastIndex = start + replacement.length;
    }
  }
  return out;
}

function checkAuth(
  authorization: string | null,
  options: GrafanaDoubleOptions,
): Response | undefined {
  if (!authorization) return reply(401, { message: "Unauthorized" });
  const [scheme, credentials = ""] = authorization.split(" ", 2);
  if (scheme.toLowerCase() === "bearer") {
    if (options.token !== undefined && credentials === options.token) return;
    return reply(401, {
      message: "Invalid API key",
      messageId: "api-keys.invalid",
      statusCode: 401,
    });
  }
  if (scheme.toLowerCase() === "basic") {
    let decoded = "";
    try {
      decoded = new TextDecoder().decode(
        Uint8Array.from(atob(credentials), (c) => c.charCodeAt(0)),
      );
    } catch {
      // Falls through to 401.
    }
    if (
      options.user !== undefined &&
      decoded === `${options.user}:${options.password}`
    ) {
      return;
    }
    return reply(401, {
      message: "Invalid username or password",
      messageId: "password-auth.failed",
      statusCode: 401,
    });
  }
  return reply(401, { message: "Unauthorized" });
}

function publicView(d: StoredDataSource): Record<string, unknown> {
  const { secureJsonData, ...rest } = d;
  return {
    ...rest,
    typeLogoUrl: "",
    user: "",
    database: "",
    basicAuth: false,
    withCredentials: false,
    secureJsonFields: Object.fromEntries(
      Object.keys(secureJsonData).map((k) => [k, true]),
    ),
  };
}

/** Grafana's slug: lower case, runs of other characters to one dash. */
function slugify(title: string): string {
  return title.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

function reply(status: number, body: unknown): Response {
  return Response.json(body, { status });
}
