/**
 * The one table of permissions: Deno's permission sets in the root
 * `deno.json` (`"permissions": { "producer": { … } }`, run with
 * `deno run -P=producer`), read from the file (so a set that calls these
 * must allow reading `deno.json`). Tasks run their set; `launch.ts` runs each child
 * with its set plus the hosts of the configuration; `deno task compile`
 * bakes the same sets into the binaries; `deno task permissions` prints
 * them. Nothing else restates a permission.
 *
 * @module
 */
import type { Config } from "@cryptocandles/config";

/** The scripts launch runs. */
export type ScriptName =
  | "setup-schema"
  | "producer"
  | "consumer"
  | "seed-grafana"
  | "chart";

/** A grant: everything (`true`), nothing (`false`), or these items. */
export type Grant = boolean | string[];

/** One kind of a permission set: a grant, or its allow/deny/ignore parts. */
export type Permission = Grant | {
  allow?: Grant;
  deny?: Grant;
  ignore?: Grant;
};

/** The kinds of permission a set may hold, in the order flags are printed. */
export const PERMISSION_KINDS = [
  "net",
  "env",
  "read",
  "write",
  "run",
  "sys",
  "ffi",
  "import",
] as const;

/** One of {@linkcode PERMISSION_KINDS}. */
export type PermissionKind = typeof PERMISSION_KINDS[number];

/** A permission set of deno.json. */
export type PermissionSet = { [K in PermissionKind]?: Permission } & {
  all?: boolean;
};

/** The project's deno.json: the one table of permissions and the tasks. */
const DENO_JSON = new URL("../../deno.json", import.meta.url);

interface DenoJson {
  permissions: Record<string, PermissionSet>;
  tasks: Record<string, { command: string }>;
}
let denoJson: DenoJson | undefined;

/** deno.json, read once on first use (so that importing this costs no permission). */
function project(): DenoJson {
  denoJson ??= JSON.parse(Deno.readTextFileSync(DENO_JSON));
  return denoJson!;
}

/**
 * Every permission set of deno.json, by name.
 *
 * @returns The sets.
 * @throws {Deno.errors.NotCapable} When reading deno.json is not permitted.
 *
 * @example
 * ```ts
 * import { permissionSets } from "@cryptocandles/launch";
 * console.log(Object.keys(permissionSets()).includes("producer")); // true
 * ```
 */
export function permissionSets(): Readonly<Record<string, PermissionSet>> {
  return project().permissions;
}

/**
 * A permission set of deno.json by name.
 *
 * @param name The set, such as `producer`.
 * @returns The set.
 * @throws {Error} When deno.json has no such set.
 *
 * @example
 * ```ts
 * import { permissionSet } from "@cryptocandles/launch";
 * console.log(permissionSet("consumer").read); // ["schemas"]
 * ```
 */
export function permissionSet(name: string): PermissionSet {
  const set = permissionSets()[name];
  if (!set) {
    throw new Error(
      `deno.json has no permission set "${name}" (it has ${
        Object.keys(permissionSets()).join(", ")
      })`,
    );
  }
  return set;
}

/**
 * The `deno run` flags that grant exactly a permission set, for the places
 * `-P` does not reach (`deno compile`, a printed command line).
 *
 * @param set The set.
 * @returns Flags such as `--allow-net=127.0.0.1,localhost`, `--ignore-env`.
 *
 * @example
 * ```ts
 * import { setFlags } from "@cryptocandles/launch";
 * console.log(setFlags({ env: { allow: ["LOG_FORMAT"], ignore: true }, read: ["schemas"] }));
 * // ["--allow-env=LOG_FORMAT", "--ignore-env", "--allow-read=schemas"]
 * ```
 */
export function setFlags(set: PermissionSet): string[] {
  if (set.all) return ["--allow-all"];
  const flags: string[] = [];
  for (const kind of PERMISSION_KINDS) {
    const permission = set[kind];
    if (permission === undefined) continue;
    const parts = typeof permission === "object" && !Array.isArray(permission)
      ? permission
      : { allow: permission };
    for (const mode of ["allow", "deny", "ignore"] as const) {
      const grant = parts[mode];
      if (grant === true) flags.push(`--${mode}-${kind}`);
      else if (Array.isArray(grant) && grant.length > 0) {
        flags.push(`--${mode}-${kind}=${grant.join(",")}`);
      }
    }
  }
  return flags;
}

/**
 * What a set allows of one kind: `true` (everything) or the list of items.
 *
 * @param set The set.
 * @param kind The kind, such as `net`.
 * @returns `true`, or the items (empty when nothing).
 *
 * @example
 * ```ts
 * import { allowed } from "@cryptocandles/launch";
 * console.log(allowed({ env: { allow: ["LOG_FORMAT"], ignore: true } }, "env")); // ["LOG_FORMAT"]
 * ```
 */
export function allowed(
  set: PermissionSet,
  kind: PermissionKind,
): true | string[] {
  const permission = set[kind];
  const grant = typeof permission === "object" && !Array.isArray(permission)
    ? permission.allow
    : permission;
  return grant === true ? true : Array.isArray(grant) ? grant : [];
}

/**
 * A task's command line in deno.json.
 *
 * @param name The task, such as `producer`.
 * @returns Its command, or undefined when there is no such task.
 *
 * @example
 * ```ts
 * import { taskCommand } from "@cryptocandles/launch";
 * console.log(taskCommand("stack")); // "deno run -q -P=stack --env-file=.env scripts/stack.ts"
 * ```
 */
export function taskCommand(name: string): string | undefined {
  return project().tasks[name]?.command;
}

/**
 * The V8 flags a task gives its script (`--v8-flags=…`), to run it the same
 * way elsewhere.
 *
 * @param name The task, such as `consumer`.
 * @returns The flag, or nothing.
 *
 * @example
 * ```ts
 * import { v8FlagsOf } from "@cryptocandles/launch";
 * console.log(v8FlagsOf("setup-schema")); // []
 * ```
 */
export function v8FlagsOf(name: string): string[] {
  return project().tasks[name]?.command.match(/--v8-flags=\S+/g) ?? [];
}

/**
 * The hosts a script reaches under `config` (the brokers, the registry,
 * InfluxDB, Grafana, Bitfinex for the configured source, the chart's own
 * address), as `host:port`.
 *
 * @param name The script.
 * @param config The configuration it will run with.
 * @returns The hosts, without repeats.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * import { configuredHosts } from "@cryptocandles/launch";
 * console.log(configuredHosts("seed-grafana", loadConfig(new Map()))); // ["127.0.0.1:3000"]
 * ```
 */
export function configuredHosts(name: ScriptName, config: Config): string[] {
  const kafka = [...config.kafka.brokers, hostOf(config.registryUrl)];
  const hosts: Record<ScriptName, string[]> = {
    "setup-schema": kafka,
    producer: [
      ...kafka,
      ...(config.source === "bitfinex-ws"
        ? [hostOf(config.bitfinex.wsUrl)]
        : config.source === "bitfinex-rest"
        ? [hostOf(config.bitfinex.restUrl)]
        : []),
    ],
    consumer: [...kafka, hostOf(config.influx.host)],
    "seed-grafana": [hostOf(config.grafana.url)],
    chart: [...kafka, `${config.chart.host}:${config.chart.port}`],
  };
  return [...new Set(hosts[name])];
}

/**
 * Files outside the project a script must read under `config`: the
 * private CA of `KAFKA_SSL_CA` for the scripts that connect to Kafka. A
 * permission set in deno.json cannot name a path the user chooses, so
 * {@linkcode permissionsFor} adds them, as it adds the configured hosts.
 *
 * @param name The script.
 * @param config The configuration it will run with.
 * @returns Paths, such as `["/etc/kafka/ca.pem"]` (empty by default).
 *
 * @example
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * import { configuredFiles } from "@cryptocandles/launch";
 * console.log(configuredFiles("producer", loadConfig(new Map()))); // []
 * ```
 */
export function configuredFiles(name: ScriptName, config: Config): string[] {
  const kafka = name !== "seed-grafana";
  return kafka && config.kafka.sslCa ? [config.kafka.sslCa] : [];
}

/**
 * The `deno run` flags of `scripts/<name>.ts` under `config`: its permission
 * set (`-P=<name>`, quietly: `-q` hides Deno's "experimental" note), its
 * task's V8 flags, `--allow-net` with the set's hosts plus the
 * configuration's (a CLI `--allow-net` replaces the set's, so this is the
 * union), and, when the configuration names files outside the project
 * ({@linkcode configuredFiles}: `KAFKA_SSL_CA`), `--allow-read` with the
 * set's folders plus those files.
 *
 * @param name The script.
 * @param config The configuration it will run with.
 * @returns Flags such as `["-q", "-P=consumer", "--allow-net=127.0.0.1,localhost,broker.example.com:9092"]`.
 * @throws {Error} When deno.json has no set of that name.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * import { permissionsFor } from "@cryptocandles/launch";
 * console.log(permissionsFor("setup-schema", loadConfig(new Map())));
 * // ["-q", "-P=setup-schema", "--allow-net=127.0.0.1,localhost"]
 * ```
 */
export function permissionsFor(name: ScriptName, config: Config): string[] {
  const set = permissionSet(name);
  const net = allowed(set, "net");
  const read = allowed(set, "read");
  const files = configuredFiles(name, config);
  const flags = ["-q", `-P=${name}`, ...v8FlagsOf(name)];
  if (net !== true) {
    flags.push(
      `--allow-net=${withHosts(net, configuredHosts(name, config)).join(",")}`,
    );
  }
  if (read !== true && files.length > 0) {
    flags.push(`--allow-read=${[...new Set([...read, ...files])].join(",")}`);
  }
  return flags;
}

/**
 * A net allow-list with hosts added, leaving out a `host:port` whose host
 * the list already allows on every port.
 *
 * @param net The list, such as `["127.0.0.1", "localhost"]`.
 * @param hosts Hosts to add, such as `["127.0.0.1:19090", "kafka.example.com:9092"]`.
 * @returns The union, list first.
 *
 * @example
 * ```ts
 * import { withHosts } from "@cryptocandles/launch";
 * console.log(withHosts(["127.0.0.1"], ["127.0.0.1:8081", "k.example.com:9092"]));
 * // ["127.0.0.1", "k.example.com:9092"]
 * ```
 */
export function withHosts(net: string[], hosts: string[]): string[] {
  const union = [...net];
  for (const host of hosts) {
    const bare = host.replace(/:\d+$/, "");
    if (!union.includes(host) && !net.includes(bare)) union.push(host);
  }
  return union;
}

/**
 * `host:port` of a URL (the default port of its scheme when none is given).
 *
 * @param url An http(s) or ws(s) URL.
 * @returns Such as `127.0.0.1:8081` or `api-pub.bitfinex.com:443`.
 *
 * @example
 * ```ts
 * import { hostOf } from "@cryptocandles/launch";
 * console.log(hostOf("wss://api-pub.bitfinex.com/ws/2")); // "api-pub.bitfinex.com:443"
 * ```
 */
export function hostOf(url: string): string {
  const u = new URL(url);
  const port = u.port ||
    (u.protocol === "https:" || u.protocol === "wss:" ? "443" : "80");
  return `${u.hostname}:${port}`;
}
