/**
 * launch under a configuration its own permission set does not cover. The
 * set in deno.json names local hosts only (a set cannot name the hosts a user
 * configures), but launch itself talks to the configured Kafka, registry,
 * InfluxDB and Grafana before it starts the scripts (and reads a
 * `KAFKA_SSL_CA` outside the project): with a hosted Kafka it would be
 * refused. So launch asks Deno which of those it may not reach and, when
 * any, runs itself again as `deno run -P=launch` plus exactly those hosts
 * and files, the way it runs each script ({@linkcode permissionsFor}).
 *
 * @module
 */
import type { Config } from "@cryptocandles/config";
import type { Logger } from "@cryptocandles/runtime";
import {
  allowed,
  configuredFiles,
  configuredHosts,
  permissionSet,
  type ScriptName,
  withHosts,
} from "./permissions.ts";

const SCRIPTS: ScriptName[] = [
  "setup-schema",
  "producer",
  "consumer",
  "seed-grafana",
  "chart",
];

/**
 * The `deno run` flags launch needs under `config` when this process may
 * not reach a configured host or read a configured file; undefined when it
 * may (the usual case: everything on 127.0.0.1).
 *
 * @param config The configuration.
 * @returns Flags such as `["-q", "-P=launch", "--allow-net=127.0.0.1,…,broker.example.com:9092"]`, or undefined.
 *
 * @example
 * ```ts ignore
 * const flags = await launchPermissions(config);
 * if (flags) Deno.exit(await relaunch(flags, { signal, log }));
 * ```
 */
export async function launchPermissions(
  config: Config,
): Promise<string[] | undefined> {
  // A `deno compile` binary has the permissions it was compiled with.
  if (!/(^|\/)deno(\.exe)?$/.test(Deno.execPath())) return undefined;
  const hosts = [
    ...new Set(SCRIPTS.flatMap((name) => configuredHosts(name, config))),
  ];
  const files = [
    ...new Set(SCRIPTS.flatMap((name) => configuredFiles(name, config))),
  ];
  const granted = async (descriptor: Deno.PermissionDescriptor) =>
    (await Deno.permissions.query(descriptor)).state === "granted";
  const net = [];
  for (const host of hosts) {
    if (!(await granted({ name: "net", host }))) net.push(host);
  }
  const read = [];
  for (const path of files) {
    if (!(await granted({ name: "read", path }))) read.push(path);
  }
  if (net.length === 0 && read.length === 0) return undefined;
  const set = permissionSet("launch");
  const flags = ["-q", "-P=launch"];
  const setNet = allowed(set, "net");
  if (net.length > 0 && setNet !== true) {
    flags.push(`--allow-net=${withHosts(setNet, hosts).join(",")}`);
  }
  const setRead = allowed(set, "read");
  if (read.length > 0 && setRead !== true) {
    flags.push(
      `--allow-read=${[...new Set([...setRead, ...files])].join(",")}`,
    );
  }
  return flags;
}

/**
 * Runs this launch again as `deno run <flags> launch.ts <same arguments>`
 * in a process group of its own (so a Ctrl-C reaches it once, through
 * this process), with the same output; passes a stop on as SIGTERM.
 *
 * @param flags From {@linkcode launchPermissions}.
 * @param options Stops it when aborted; says what it does.
 * @returns Its exit code.
 */
export async function relaunch(
  flags: string[],
  options: { signal: AbortSignal; log: Logger },
): Promise<number> {
  const script = new URL(Deno.mainModule).pathname;
  const added = flags.filter((f) => f.startsWith("--allow-")).join(" ");
  options.log.info(`running again with the configured hosts: ${added}`);
  const child = new Deno.Command("deno", {
    args: ["run", ...flags, script, ...Deno.args],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
    detached: true,
  }).spawn();
  const stop = () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  };
  options.signal.addEventListener("abort", stop, { once: true });
  const { code } = await child.status;
  options.signal.removeEventListener("abort", stop);
  return code;
}
