/**
 * `deno task permissions [script|launch]`: what each task may do, from the
 * one table (deno.json `"permissions"`). With a name, the `deno run` line
 * that runs it under this configuration: its set plus the hosts the
 * configuration names (what `launch` gives its children), for hosted Kafka,
 * InfluxDB or Grafana.
 *
 *     deno task permissions            # every set
 *     deno task permissions consumer   # deno run -q -P=consumer … --allow-net=… scripts/consumer.ts
 *     deno task permissions launch     # launch itself, reaching every configured host
 *
 * @module
 */
import { loadConfig } from "@cryptocandles/config";
import {
  allowed,
  configuredHosts,
  PERMISSION_KINDS,
  permissionSet,
  permissionSets,
  permissionsFor,
  type ScriptName,
  taskCommand,
  withHosts,
} from "@cryptocandles/launch/permissions";

const SCRIPTS: ScriptName[] = [
  "setup-schema",
  "producer",
  "consumer",
  "seed-grafana",
  "chart",
];
const [name, ...rest] = Deno.args;

if (name === undefined) {
  for (const [set, permissions] of Object.entries(permissionSets())) {
    console.log(`${set}: ${taskCommand(set) ?? `deno run -P=${set}`}`);
    for (const kind of PERMISSION_KINDS) {
      const permission = permissions[kind];
      if (permission !== undefined) {
        console.log(`  ${kind.padEnd(5)} ${describe(permission)}`);
      }
    }
  }
} else if (
  (SCRIPTS.includes(name as ScriptName) || name === "launch") &&
  rest.length === 0
) {
  let line: string[];
  try {
    line = runLine(name);
  } catch (error) {
    console.error(`permissions: ${(error as Error).message}`);
    Deno.exit(2);
  }
  console.log(line.join(" "));
} else {
  const usage = `usage: deno task permissions [${
    [...SCRIPTS, "launch"].join("|")
  }]`;
  const help = name === "--help";
  console.error(
    help
      ? usage
      : `permissions: unknown arguments: ${Deno.args.join(" ")}\n${usage}`,
  );
  Deno.exit(help ? 0 : 2);
}

/** The `deno run` line of a script (or launch) under this configuration. */
function runLine(name: string): string[] {
  const config = loadConfig(Deno.env);
  if (name !== "launch") {
    const flags = permissionsFor(name as ScriptName, config);
    return ["deno", "run", ...flags, "--env-file=.env", `scripts/${name}.ts`];
  }
  // launch itself probes Kafka, InfluxDB, Grafana and Bitfinex.
  const net = allowed(permissionSet("launch"), "net");
  const hosts = SCRIPTS.flatMap((s) => configuredHosts(s, config));
  return [
    "deno",
    "run",
    "-q",
    "-P=launch",
    ...(net === true ? [] : [`--allow-net=${withHosts(net, hosts).join(",")}`]),
    "--env-file=.env",
    "launch.ts",
  ];
}

function describe(permission: unknown): string {
  if (permission === true) return "everything";
  if (Array.isArray(permission)) return permission.join(", ");
  const { allow, deny, ignore } = permission as Record<string, unknown>;
  const list = (grant: unknown) =>
    grant === true ? "everything" : (grant as string[]).join(", ");
  return [
    allow === undefined ? "" : list(allow),
    deny === undefined ? "" : `; denied: ${list(deny)}`,
    ignore === true
      ? "; any other reads as unset"
      : ignore === undefined
      ? ""
      : `; read as unset: ${list(ignore)}`,
  ].join("");
}
