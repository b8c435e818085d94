/**
 * InfluxDB 3 Core and Grafana OSS as processes of the local stack, beside
 * the brokers and the registry: programs from `programs.ts`, data in
 * `<dir>/influxdb3` and `<dir>/grafana`, pid files in `<dir>/run`,
 * secrets made on first start in `<dir>/secrets` (mode 0600), readiness by
 * HTTP, ports from `INFLUX_HOST` and `GRAFANA_URL`, bound to 127.0.0.1.
 *
 * InfluxDB runs `serve --object-store file` with an admin token file the
 * stack writes (`{"token": "apiv3_…", "name": "_admin"}`, the format
 * `--admin-token-file` reads) and `--wal-flush-interval 200ms`: Core answers
 * a durable write (`no_sync=false`) only after the next WAL flush, so with
 * its default of 1 s a tick reaches the dashboard 1-2 s late and a backfill
 * waits a second per 5,000-line write; 200 ms keeps the tick-to-point time
 * well under the dashboard's 5 s refresh while writing 5 WAL files a second
 * instead of 1 (Core snapshots them to Parquet every 600 files, so every
 * 2 minutes instead of every 10).
 *
 * Grafana runs with a `grafana.ini` and provisioning files rendered by
 * `@cryptocandles/grafana` (the same data source and dashboard seed-grafana
 * sends); the admin password and the InfluxDB token reach it through its
 * environment, never its command line.
 *
 * @module
 */
import type { Config } from "@cryptocandles/config";
import { stopProcesses } from "./stop.ts";
import { provisioningFiles } from "@cryptocandles/grafana";
import { influxHealthy } from "@cryptocandles/influx";
import { delay, describeProcess, type Logger } from "@cryptocandles/runtime";
import {
  ProgramMissingError,
  type ProgramName,
  provideProgram,
  type Release,
} from "./programs.ts";

/** The relay that appends a server's output to its log file. */
const RELAY = new URL("./log_relay.ts", import.meta.url).pathname;

/** The `--wal-flush-interval` the local stack gives InfluxDB 3 Core (its default is 1s). */
export const WAL_FLUSH_INTERVAL = "200ms";

/** Options for the server functions. */
export interface ServersOptions {
  /** The stack folder. @default {".stack"} */
  dir?: string;
  /** Ports, program locations, coins and table, from the configuration. */
  config: Pick<Config, "influx" | "grafana" | "coins">;
  /** Progress lines and the one line when a program is missing. */
  log?: Logger;
  /** Give up waiting for readiness after this many ms. @default {60000} */
  timeoutMs?: number;
  /** Releases to download (tests serve their own); `null` downloads nothing. */
  releases?: Partial<Record<ProgramName, Release | null>>;
  /** PATH to search. @default {Deno.env.get("PATH")} */
  searchPath?: string;
  /** The fetch downloads use. */
  fetch?: typeof fetch;
}

/** One server of the stack and its state. */
export interface ServerStatus {
  name: ProgramName;
  port: number;
  pid?: number;
  running: boolean;
}

/** What {@linkcode serversUp} did. */
export interface ServersUp {
  /** Servers this call started. */
  started: ProgramName[];
  /** Servers that run now (started or reused). */
  running: ProgramName[];
  /** Servers that could not be provided, with the one line saying why. */
  missing: Partial<Record<ProgramName, string>>;
  /** Variables for the scripts: INFLUX_TOKEN, GRAFANA_USER, GRAFANA_PASSWORD (secrets; never print). */
  env: Record<string, string>;
  /** The dashboard's URL, when Grafana runs. */
  dashboard?: string;
}

/**
 * The local ports of InfluxDB and Grafana, or undefined for one whose URL is
 * not a plain-http URL on 127.0.0.1/localhost (the stack leaves that one alone).
 *
 * @param config The `influx` and `grafana` sections.
 * @returns The ports by server.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * import { serverPorts } from "@cryptocandles/launch";
 * console.log(serverPorts(loadConfig(new Map()))); // { influxdb3: 8181, grafana: 3000 }
 * ```
 */
export function serverPorts(
  config: Pick<Config, "influx" | "grafana">,
): Partial<Record<ProgramName, number>> {
  const local = (url: string) => {
    const u = new URL(url);
    const ok = u.protocol === "http:" &&
      (u.hostname === "127.0.0.1" || u.hostname === "localhost");
    return ok ? Number(u.port || 80) : undefined;
  };
  const ports: Partial<Record<ProgramName, number>> = {};
  const influx = local(config.influx.host);
  const grafana = local(config.grafana.url);
  if (influx) ports.influxdb3 = influx;
  if (grafana) ports.grafana = grafana;
  return ports;
}

/**
 * The arguments of `influxdb3` in the stack.
 *
 * @param stackDir The absolute stack folder.
 * @param port The HTTP (and Flight) port.
 * @returns `serve --node-id … --object-store file --data-dir … --http-bind 127.0.0.1:<port> …`.
 *
 * @example
 * ```ts
 * import { influxdb3Args } from "@cryptocandles/launch";
 * console.log(influxdb3Args("/srv/.stack", 8181).includes("--http-bind")); // true
 * ```
 */
export function influxdb3Args(stackDir: string, port: number): string[] {
  return [
    "serve",
    "--node-id",
    "cryptocandles",
    "--object-store",
    "file",
    "--data-dir",
    `${stackDir}/influxdb3`,
    "--http-bind",
    `127.0.0.1:${port}`,
    "--admin-token-file",
    tokenFile(stackDir),
    "--wal-flush-interval",
    WAL_FLUSH_INTERVAL,
    "--disable-telemetry-upload",
  ];
}

/**
 * The `grafana.ini` of the stack: 127.0.0.1 and the port, data, logs,
 * plugins and provisioning under the stack folder, no sign-up, no
 * reporting, anonymous viewing when asked.
 *
 * @param stackDir The absolute stack folder.
 * @param options The port and whether anonymous users may view.
 * @returns The file's text (no secrets in it).
 *
 * @example
 * ```ts
 * import { grafanaIni } from "@cryptocandles/launch";
 * console.log(grafanaIni("/srv/.stack", { port: 3000, anonymous: false }).includes("http_addr = 127.0.0.1")); // true
 * ```
 */
export function grafanaIni(
  stackDir: string,
  options: { port: number; anonymous: boolean },
): string {
  const g = `${stackDir}/grafana`;
  return [
    "[server]",
    "http_addr = 127.0.0.1",
    `http_port = ${options.port}`,
    "[paths]",
    `data = ${g}/data`,
    `logs = ${stackDir}/logs/grafana`,
    `plugins = ${g}/plugins`,
    `provisioning = ${g}/provisioning`,
    "[users]",
    "allow_sign_up = false",
    "[auth.anonymous]",
    `enabled = ${options.anonymous}`,
    "org_role = Viewer",
    "[analytics]",
    "reporting_enabled = false",
    "check_for_updates = false",
    "check_for_plugin_updates = false",
    "[dashboards]",
    "min_refresh_interval = 5s",
    "",
  ].join("\n");
}

/**
 * Which of the two servers run, by their pid files (checked against each
 * process's command line).
 *
 * @param options Folder and configuration.
 * @returns One entry per server the stack manages (local URLs only).
 *
 * @example
 * ```ts ignore
 * import { serversStatus } from "@cryptocandles/launch";
 * console.log(await serversStatus({ config }));
 * ```
 */
export async function serversStatus(
  options: ServersOptions,
): Promise<ServerStatus[]> {
  const { dir = ".stack", config } = options;
  const ports = serverPorts(config);
  return await Promise.all(
    (Object.keys(ports) as ProgramName[]).map(async (name) => {
      const pid = await runningPid(dir, name);
      return { name, port: ports[name]!, pid, running: pid !== undefined };
    }),
  );
}

/**
 * Starts InfluxDB 3 Core and Grafana when their programs can be provided,
 * and waits until they answer. A server that runs is reused; one whose
 * port answers without being ours is used as it is; one whose program is
 * missing gets one warning line (what was tried, how to provide it) and is
 * skipped: this never throws for a missing program.
 *
 * @param options Folder, configuration, logger, timeout and releases.
 * @returns What runs, what was started and the variables for the scripts.
 * @throws {Error} When a started server exits or does not answer in time.
 *
 * @example
 * ```ts ignore
 * import { serversUp } from "@cryptocandles/launch";
 * const { env, dashboard } = await serversUp({ config, log });
 * ```
 */
export async function serversUp(options: ServersOptions): Promise<ServersUp> {
  const { dir = ".stack", config, log, timeoutMs = 60_000 } = options;
  const stackDir = absolute(dir);
  const ports = serverPorts(config);
  const result: ServersUp = { started: [], running: [], missing: {}, env: {} };
  const secrets = await ensureSecrets(dir);
  const token = config.influx.token ?? secrets.token;
  for (const sub of ["run", "logs", "secrets"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  for (const name of ["influxdb3", "grafana"] as const) {
    const port = ports[name];
    if (!port) continue;
    if (await runningPid(dir, name)) {
      result.running.push(name);
      continue;
    }
    if (!portFree(port)) {
      log?.info(
        `${name}: 127.0.0.1:${port} is taken by a process the stack did not start: using it as it is`,
      );
      continue;
    }
    let program;
    try {
      program = await provideProgram(name, {
        dir,
        explicit: name === "influxdb3"
          ? config.influx.bin
          : config.grafana.home,
        searchPath: options.searchPath,
        release: options.releases?.[name],
        log,
        fetch: options.fetch,
      });
    } catch (error) {
      if (!(error instanceof ProgramMissingError)) throw error;
      result.missing[name] = error.message;
      log?.warn(error.message);
      continue;
    }
    let args: string[];
    let env: Record<string, string>;
    if (name === "influxdb3") {
      await Deno.mkdir(`${dir}/influxdb3`, { recursive: true });
      args = influxdb3Args(stackDir, port);
      env = {};
    } else {
      await writeGrafanaFiles(stackDir, config, port, !!token);
      args = [
        "server",
        "--homepath",
        `${stackDir}/grafana-home`,
        "--config",
        `${stackDir}/grafana/grafana.ini`,
      ];
      env = {
        GF_SECURITY_ADMIN_USER: "admin",
        GF_SECURITY_ADMIN_PASSWORD: secrets.password,
        ...(token ? { INFLUX_TOKEN: token } : {}),
      };
    }
    // InfluxDB logs only to stdout/stderr, and a detached child cannot be
    // given a file: a small relay runs the program and appends its output
    // to .stack/logs/<name>.log (Grafana also writes its own logs there).
    const logFile = `${dir}/logs/${name}.log`;
    const child = new Deno.Command("deno", {
      args: [
        "run",
        "-q",
        "--no-config",
        "--no-lock",
        `--allow-run=${program.path}`,
        `--allow-write=${logFile}`,
        RELAY,
        logFile,
        program.path,
        ...args,
      ],
      env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    child.unref();
    child.status.catch(() => {});
    await Deno.writeTextFile(pidFile(dir, name), String(child.pid));
    log?.info(`started ${name}`, { pid: child.pid, port });
    result.started.push(name);
    result.running.push(name);
  }
  const deadline = Date.now() + timeoutMs;
  for (const name of result.started) {
    const port = ports[name]!;
    while (!(await answers(name, port, token))) {
      if (!(await runningPid(dir, name))) {
        throw new Error(`${name} exited during start-up (see ${dir}/logs)`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${name} did not answer on 127.0.0.1:${port} in ${
            timeoutMs / 1000
          } s`,
        );
      }
      await delay(250);
    }
    log?.info(`${name} ready`, { url: `http://127.0.0.1:${port}` });
  }
  if (result.running.includes("influxdb3") && !config.influx.token) {
    result.env.INFLUX_TOKEN = secrets.token;
  }
  if (result.running.includes("grafana")) {
    if (!config.grafana.token && !config.grafana.user) {
      result.env.GRAFANA_USER = "admin";
      result.env.GRAFANA_PASSWORD = secrets.password;
    }
    result.dashboard = `${
      config.grafana.url.replace(/\/+$/, "")
    }/d/cryptocandles`;
  }
  return result;
}

/**
 * Stops the servers the stack started (SIGTERM, SIGKILL after 20 s); with
 * `clean`, removes their data and secrets too (not the downloaded programs).
 *
 * @param options Folder, configuration, logger, `clean` and `only`.
 * @returns The names of the servers it stopped.
 *
 * @example
 * ```ts ignore
 * import { serversDown } from "@cryptocandles/launch";
 * await serversDown({ config, log });
 * ```
 */
export async function serversDown(
  options: ServersOptions & { clean?: boolean; only?: string[] },
): Promise<string[]> {
  const { dir = ".stack", log, clean = false, only } = options;
  const running = (await serversStatus(options)).filter((s) =>
    s.running && (!only || only.includes(s.name))
  );
  await stopProcesses(running.map((s) => ({ name: s.name, pid: s.pid! })), {
    isOurs: (name, pid) => isOurs(dir, name, pid),
    pidFile: (name) => pidFile(dir, name),
    graceMs: 20_000,
    everyMs: 100,
    log,
  });
  if (clean) {
    for (const sub of ["influxdb3", "grafana", "secrets", "logs/grafana"]) {
      await Deno.remove(`${dir}/${sub}`, { recursive: true }).catch(() => {});
    }
  }
  return running.map((s) => s.name);
}

/**
 * The InfluxDB admin token and Grafana admin password of the stack, made on
 * first use (`apiv3_` + 64 random bytes in base64url; 24 random bytes for
 * the password) and kept in `<dir>/secrets` with mode 0600.
 *
 * @param dir The stack folder.
 * @returns The token and the password (never print them).
 *
 * @example
 * ```ts ignore
 * import { ensureSecrets } from "@cryptocandles/launch";
 * const { token } = await ensureSecrets(".stack");
 * ```
 */
export async function ensureSecrets(
  dir: string,
): Promise<{ token: string; password: string }> {
  await Deno.mkdir(`${dir}/secrets`, { recursive: true, mode: 0o700 });
  const file = tokenFile(dir);
  let token: string;
  try {
    token = JSON.parse(await Deno.readTextFile(file)).token;
  } catch {
    token = `apiv3_${base64url(64)}`;
    await writeSecret(file, JSON.stringify({ token, name: "_admin" }) + "\n");
  }
  const passwordFile = `${dir}/secrets/grafana-admin-password`;
  let password = (await Deno.readTextFile(passwordFile).catch(() => "")).trim();
  if (!password) {
    password = base64url(24);
    await writeSecret(passwordFile, `${password}\n`);
  }
  return { token, password };
}

async function writeSecret(file: string, text: string): Promise<void> {
  await Deno.writeTextFile(file, text, { mode: 0o600, createNew: true });
  await Deno.chmod(file, 0o600);
}

function base64url(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw)).replaceAll("+", "-")
    .replaceAll("/", "_").replace(/=+$/, "");
}

function tokenFile(dir: string): string {
  return `${dir}/secrets/influxdb3-admin-token.json`;
}

async function writeGrafanaFiles(
  stackDir: string,
  config: ServersOptions["config"],
  port: number,
  withToken: boolean,
): Promise<void> {
  const g = `${stackDir}/grafana`;
  const provisioning = `${g}/provisioning`;
  for (const sub of ["data", "plugins", "provisioning/datasources"]) {
    await Deno.mkdir(`${g}/${sub}`, { recursive: true });
  }
  await Deno.mkdir(`${provisioning}/dashboards/json`, { recursive: true });
  await Deno.mkdir(`${stackDir}/logs/grafana`, { recursive: true });
  await Deno.writeTextFile(
    `${g}/grafana.ini`,
    grafanaIni(stackDir, {
      port,
      anonymous: config.grafana.anonymous ?? false,
    }),
  );
  const files = provisioningFiles({
    influx: config.influx,
    defaultCoin: config.coins[0],
    dir: provisioning,
    withToken,
  });
  for (const [path, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${provisioning}/${path}`, text);
  }
}

async function answers(
  name: ProgramName,
  port: number,
  token: string,
): Promise<boolean> {
  const host = `http://127.0.0.1:${port}`;
  if (name === "influxdb3") {
    return await influxHealthy({
      host,
      token,
      database: "_internal",
      timeoutMs: 2000,
    })
      .catch(() => false);
  }
  try {
    const response = await fetch(`${host}/api/health`, {
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

function pidFile(dir: string, name: string): string {
  return `${dir}/run/${name}.pid`;
}

async function runningPid(
  dir: string,
  name: ProgramName,
): Promise<number | undefined> {
  const text = await Deno.readTextFile(pidFile(dir, name)).catch(() => "");
  const pid = Number(text);
  if (!text || !Number.isInteger(pid)) return undefined;
  return (await isOurs(dir, name, pid)) ? pid : undefined;
}

/** True when `pid` is alive and its command line names this stack folder's token file (InfluxDB) or grafana.ini. */
async function isOurs(
  dir: string,
  name: string,
  pid: number,
): Promise<boolean> {
  const info = await describeProcess(pid);
  if (!info) return false;
  const stackDir = absolute(dir);
  const marker = name === "influxdb3"
    ? tokenFile(stackDir)
    : `${stackDir}/grafana/grafana.ini`;
  return info.args.includes(marker);
}

function absolute(dir: string): string {
  return dir.startsWith("/")
    ? dir
    : `${Deno.cwd()}/${dir.replace(/^\.\//, "")}`;
}
