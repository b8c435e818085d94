/**
 * `deno task stack up|down|status`: the local stack without Docker (see
 * `@cryptocandles/launch`): Kafka + schema registry on the ports of
 * `KAFKA_BROKERS` and `SCHEMA_REGISTRY_URL`, on the JDK 21+ it finds (linked
 * as `.stack/jdk`), and InfluxDB 3 Core and Grafana on the ports of
 * `INFLUX_HOST` and `GRAFANA_URL` when their programs can be provided
 * (`INFLUXDB3_BIN` / `GRAFANA_HOME`, PATH, or the pinned release).
 *
 *     deno task stack up             # start what is not running, wait until ready
 *     deno task stack up --sasl-ssl  # … the brokers also with SASL_SSL listeners (a private CA, a SCRAM user)
 *     deno task stack status         # what runs where (exit 3 when something is down)
 *     deno task stack down [--clean] # stop what the stack started; --clean removes data
 *
 * @module
 */
import { type Config, loadConfig } from "@cryptocandles/config";
import {
  serversDown,
  serversStatus,
  serversUp,
  stackDown,
  type StackOptions,
  stackPorts,
  stackStatus,
  stackUp,
} from "@cryptocandles/launch";
import { createLogger } from "@cryptocandles/runtime";

const USAGE =
  "usage: deno task stack up [--sasl-ssl] | down [--clean] | status";
const [command, ...rest] = Deno.args;
const only = (flag: string) =>
  rest.length === 0 || (rest.length === 1 && rest[0] === flag);
const usage = command === "status"
  ? rest.length === 0
  : command === "up"
  ? only("--sasl-ssl")
  : command === "down" && only("--clean");
if (!usage) {
  const help = command === "--help" || command === "-h";
  console.error(
    help || command === undefined
      ? USAGE
      : `stack: unknown arguments: ${Deno.args.join(" ")}\n${USAGE}`,
  );
  Deno.exit(help ? 0 : 2);
}

let config: Config;
let options: StackOptions;
try {
  config = loadConfig(Deno.env);
  options = stackPorts(config);
} catch (error) {
  console.error(`stack: ${(error as Error).message}`);
  Deno.exit(2);
}
const log = createLogger("stack", { format: config.logFormat });

try {
  if (command === "up") {
    const saslSsl = rest[0] === "--sasl-ssl";
    const started = await stackUp({ ...options, log, saslSsl });
    const servers = await serversUp({ config, log });
    started.push(...servers.started);
    if (servers.dashboard) log.info(`dashboard: ${servers.dashboard}`);
    log.info(
      started.length
        ? `up (started ${started.join(", ")})`
        : "up (reused the running stack)",
    );
    await printStatus();
  } else if (command === "down") {
    const clean = rest[0] === "--clean";
    const stopped = [
      ...await serversDown({ config, log, clean }),
      ...await stackDown({ ...options, log, clean }),
    ];
    log.info(
      stopped.length
        ? `down (stopped ${stopped.join(", ")})`
        : "down (nothing of ours was running)",
    );
  } else {
    Deno.exitCode = (await printStatus()) ? 0 : 3;
  }
} catch (error) {
  log.error((error as Error).message);
  Deno.exitCode = 1;
}

/** Prints one line per service; returns true when all run. */
async function printStatus(): Promise<boolean> {
  const status = await stackStatus(options);
  const servers = await serversStatus({ config });
  for (const s of [...status, ...servers]) {
    const ports = "ports" in s ? s.ports : [s.port];
    const where = ports.map((p) => `127.0.0.1:${p}`).join(" ");
    const state = s.running ? `up   pid ${s.pid}` : "down";
    console.log(`${s.name.padEnd(9)} ${state}  ${where}`);
  }
  console.log(`Kafka bootstrap: ${config.kafka.brokers.join(",")}`);
  console.log(`Schema registry: ${config.registryUrl}`);
  console.log(
    `InfluxDB 3: ${config.influx.host}  Grafana: ${config.grafana.url}`,
  );
  // InfluxDB and Grafana are optional parts: only Kafka and the registry decide the exit code.
  return status.every((s) => s.running);
}
