/**
 * A private local stack for tests that must stop, break or reconfigure
 * brokers: a copy of this project in a temporary folder (deno.json,
 * deno.lock and the source folders; node_modules and the already-fetched
 * jars linked), on free ports of its own, driven by its own
 * `scripts/stack.ts`. The shared stack is never touched.
 *
 * @module
 */
import { runCommand } from "@cryptocandles/runtime";
import { waitFor } from "../support.ts";

/** What a command run in the copy printed, and how it ended. */
export interface Output {
  code: number;
  text: string;
}

/** A project copy with its own stack ports. */
export interface PrivateStack extends AsyncDisposable {
  /** The copy's folder. */
  project: string;
  /** Its `.stack` folder. */
  stackDir: string;
  /** First broker port (brokers use 3 from here, controllers the 3 after). */
  brokerPort: number;
  /** The registry's port. */
  registryPort: number;
  /** KAFKA_BROKERS and SCHEMA_REGISTRY_URL for this stack, INFLUX_HOST and GRAFANA_URL off this machine, LOG_FORMAT and NO_COLOR. */
  env: Record<string, string>;
  /** Runs `scripts/<script>.ts` in the copy with its task's permission set. */
  run(
    script: string,
    args?: string[],
    env?: Record<string, string>,
  ): Promise<Output>;
  /** `stack <args>` in the copy. */
  stack(...args: string[]): Promise<Output>;
}

/**
 * Copies the project and picks free ports (13 from the first broker's:
 * brokers, controllers and SASL_SSL listeners; 2 for the registry). Disposing stops the copy's stack and removes the copy.
 *
 * @param prefix The temporary folder's prefix.
 * @returns The private stack (nothing started yet).
 */
export async function privateStack(prefix: string): Promise<PrivateStack> {
  const project = await copyProject(prefix);
  // Brokers, controllers, and the SASL_SSL listeners at +10 (3 each).
  const brokerPort = await freePortRange(13);
  const registryPort = await freePortRange(2, brokerPort + 13);
  const env = {
    KAFKA_BROKERS: [0, 1, 2].map((i) => `127.0.0.1:${brokerPort + i}`).join(
      ",",
    ),
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${registryPort}/apis/ccompat/v7`,
    // Not on this machine: the copy's stack leaves InfluxDB and Grafana alone
    // (neither started nor downloaded); tests give scripts their doubles.
    INFLUX_HOST: "http://influxdb.invalid:8181",
    GRAFANA_URL: "http://grafana.invalid:3000",
    LOG_FORMAT: "text",
    NO_COLOR: "1",
  };
  const run = async (
    script: string,
    args: string[] = [],
    more: Record<string, string> = {},
  ): Promise<Output> => {
    const out = await new Deno.Command("deno", {
      args: ["run", "-q", `-P=${script}`, `scripts/${script}.ts`, ...args],
      cwd: project,
      env: { ...env, ...more },
      stdin: "null",
    }).output();
    return {
      code: out.code,
      text: new TextDecoder().decode(out.stdout) +
        new TextDecoder().decode(out.stderr),
    };
  };
  return {
    project,
    stackDir: `${project}/.stack`,
    brokerPort,
    registryPort,
    env,
    run,
    stack: (...args) => run("stack", args),
    async [Symbol.asyncDispose]() {
      await run("stack", ["down", "--clean"]).catch(() => {});
      // Links first, so that nothing they point at is removed with the copy.
      for (
        const link of [
          "node_modules",
          ".stack/libs",
          ".stack/apicurio",
          ".stack/jdk",
        ]
      ) await Deno.remove(`${project}/${link}`).catch(() => {});
      await Deno.remove(project, { recursive: true });
    },
  };
}

/**
 * A copy of this project in a temporary folder (deno.json, deno.lock and the
 * source folders), with node_modules and the already-fetched jars linked.
 *
 * @param prefix The temporary folder's prefix.
 * @returns The copy's path.
 */
export async function copyProject(prefix: string): Promise<string> {
  const root = Deno.cwd();
  const dir = await Deno.makeTempDir({ prefix });
  for (const f of ["deno.json", "deno.lock"]) {
    await Deno.copyFile(`${root}/${f}`, `${dir}/${f}`);
  }
  for (const folder of ["scripts", "shared", "schemas", "stack"]) {
    await copyFolder(`${root}/${folder}`, `${dir}/${folder}`);
  }
  await Deno.mkdir(`${dir}/.stack`);
  for (const target of ["node_modules", ".stack/libs", ".stack/apicurio"]) {
    await runCommand("ln", ["-s", `${root}/${target}`, `${dir}/${target}`]);
  }
  return dir;
}

async function copyFolder(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.name === "target") continue;
    if (entry.isDirectory) {
      await copyFolder(`${from}/${entry.name}`, `${to}/${entry.name}`);
    } else if (entry.isFile) {
      await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
    }
  }
}

/**
 * The first of `count` consecutive free ports on 127.0.0.1.
 *
 * @param count How many ports in a row.
 * @param after Where to look first; a random start when omitted.
 * @returns The first port.
 */
export async function freePortRange(
  count: number,
  after?: number,
): Promise<number> {
  return await waitFor(`${count} free ports in a row`, () => {
    // Below Linux's ephemeral range (32768-60999 by default), where an
    // outgoing connection can take a port between this check and the bind
    // ("Address already in use" from a broker, seen in a faults run).
    const first = after ?? 20_000 + Math.floor(Math.random() * 12_000);
    after = undefined;
    for (let port = first; port < first + count; port++) {
      try {
        Deno.listen({ hostname: "127.0.0.1", port }).close();
      } catch {
        return undefined;
      }
    }
    return first;
  }, { everyMs: 1 });
}

/**
 * Whether something accepts TCP connections on 127.0.0.1:`port`.
 *
 * @param port The port.
 * @returns True when a connection was accepted.
 */
export async function listening(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}
