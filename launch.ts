/**
 * `deno task launch`: the whole pipeline from nothing to live candles.
 * Stack ready → setup-schema → two consumers (when InfluxDB answers) →
 * producer → seed-grafana (when Grafana answers) → chart page; each a
 * supervised `deno run` with its own permissions; a live status view;
 * Ctrl-C stops everything in reverse order.
 *
 * @module
 */
import {
  type Config,
  helpText,
  loadConfig,
  parseFlags,
} from "@cryptocandles/config";
import { influxHealthy, influxOptions } from "@cryptocandles/influx";
import { createLogger } from "@cryptocandles/runtime";
import { permissionsFor, type ScriptName } from "@cryptocandles/launch";
import {
  checkBitfinex,
  closeStatusAdmin,
  describeMembers,
  httpAnswers,
  prepareStack,
  type StackMode,
  stopStack,
} from "@cryptocandles/launch";
import { onShutdownSignals } from "@cryptocandles/runtime";
import {
  applyEvent,
  emptyStatus,
  statusLine,
  statusTable,
} from "@cryptocandles/launch";
import {
  type ChildSpec,
  runOnce,
  supervise,
  type Supervised,
} from "@cryptocandles/launch";

const OWN_FLAGS = {
  stack: { type: "string" as const },
  "no-grafana": { type: "boolean" as const },
  "no-chart": { type: "boolean" as const },
};
let config: Config;
let mode: StackMode;
let flags: ReturnType<typeof parseFlags>;
try {
  flags = parseFlags(Deno.args, OWN_FLAGS);
  if (flags.help) {
    console.log(helpText("deno task launch [flags]", [
      "--stack auto|local|compose|external  where Kafka comes from (default auto; env STACK)",
      "--source S / --coins A,B             shorthands for SOURCE / COINS (see below)",
      "--no-grafana / --no-chart            skip the dashboards / the chart page",
    ]));
    Deno.exit(0);
  }
  config = loadConfig(Deno.env, flags.overrides);
  mode = String(
    flags.extra.stack ?? Deno.env.get("STACK") ?? "auto",
  ) as StackMode;
  if (!["auto", "local", "compose", "external"].includes(mode)) {
    throw new TypeError(
      `STACK must be one of auto, local, compose, external: current value is "${mode}"`,
    );
  }
} catch (error) {
  console.error(`launch: ${(error as Error).message}`);
  Deno.exit(2);
}

// On a terminal the status table is redrawn; log lines show under it (last 12).
const tty = Deno.stderr.isTerminal() && config.logFormat === "text";
const recent: string[] = [];
const print = (line: string) =>
  tty ? recent.splice(0, recent.push(line) - 12) : console.error(line);
const log = createLogger("launch", { format: config.logFormat, write: print });
const controller = new AbortController();
const release = onShutdownSignals(controller, log, { hardExitMs: 60_000 });
const status = emptyStatus(config.source, config.coins);
const env = { ...Deno.env.toObject(), ...flags.overrides };
const spec = (name: ScriptName, extra: Partial<ChildSpec> = {}): ChildSpec => ({
  name,
  script: `scripts/${name}.ts`,
  permissions: permissionsFor(name, config),
  env,
  ...extra,
});
const childOptions = {
  log,
  print,
  onEvent: (name: string, e: Record<string, unknown>) =>
    applyEvent(status, name, e),
};
const children: Supervised[] = [];
let stack: Awaited<ReturnType<typeof prepareStack>> | undefined;
let exitCode = 0;

try {
  stack = await prepareStack(mode, config, { log, signal: controller.signal });
  if (stack.links) Object.assign(status.links, stack.links);
  const schema = await runOnce(spec("setup-schema"), childOptions);
  if (schema !== 0) {
    throw Object.assign(new Error(`setup-schema failed (exit ${schema})`), {
      exitCode: schema,
    });
  }
  if (await influxHealthy(influxOptions(config.influx))) {
    for (const name of ["consumer-1", "consumer-2"]) {
      const args = ["--client-id", name];
      children.push(supervise(spec("consumer", { name, args }), childOptions));
    }
  } else {
    status.consumersSkipped =
      `InfluxDB does not answer at ${config.influx.host}`;
    log.warn(
      `consumers skipped: ${status.consumersSkipped} (the chart page works without it)`,
    );
  }
  if (config.source === "bitfinex-ws") {
    await checkBitfinex(config.bitfinex.wsUrl);
  }
  children.push(supervise(spec("producer"), childOptions));
  const grafana = `${config.grafana.url}/api/health`;
  if (!flags.extra["no-grafana"] && await httpAnswers(grafana)) {
    // Grafana in Docker reaches InfluxDB by its service name, not 127.0.0.1.
    const args = stack.mode === "compose"
      ? ["--datasource-url", "http://influxdb:8181"]
      : [];
    const seeded = await runOnce(spec("seed-grafana", { args }), childOptions);
    if (seeded === 0) {
      status.links.grafana = `${config.grafana.url}/d/cryptocandles`;
    }
  }
  if (!flags.extra["no-chart"]) {
    children.push(supervise(spec("chart"), childOptions));
    status.links.chart = `http://${config.chart.host}:${config.chart.port}/`;
  }
  log.info("pipeline started", {
    children: children.map((c) => c.spec.name).join(","),
  });
  const fatal = Promise.race(
    children.map((c) => c.done.then((code) => ({ child: c, code }))),
  );
  const refresh = setInterval(showStatus, tty ? 2000 : 10_000);
  const ended = await Promise.race([
    fatal,
    new Promise<undefined>((r) =>
      controller.signal.addEventListener("abort", () => r(undefined))
    ),
  ]);
  clearInterval(refresh);
  if (ended && !controller.signal.aborted) {
    exitCode = ended.code === 2 ? 2 : 1;
    log.error(
      `${ended.child.spec.name} stopped for good (exit ${ended.code}); stopping the pipeline`,
    );
  }
} catch (error) {
  if (!controller.signal.aborted) {
    log.error((error as Error).message);
    exitCode = (error as { exitCode?: number }).exitCode === 2 ? 2 : 1;
  }
} finally {
  // Reverse order: chart and producer first (no new ticks), then the
  // consumers together (they finish their batch and commit).
  const consumers = children.filter((c) => c.spec.name.startsWith("consumer"));
  await Promise.all(
    children.filter((c) => !consumers.includes(c)).map((c) => c.stop()),
  );
  await Promise.all(consumers.map((c) => c.stop()));
  await closeStatusAdmin();
  if (stack) await stopStack(stack, { log });
  log.info("stopped");
  release();
}
Deno.exit(exitCode);

async function showStatus(): Promise<void> {
  status.members = await describeMembers(config).catch(() => status.members);
  for (const child of children) {
    status.restarts[child.spec.name] = child.restarts;
  }
  if (tty) {
    const lines = [...statusTable(status), "", ...recent];
    await Deno.stderr.write(
      new TextEncoder().encode(`\x1b[H\x1b[2J${lines.join("\n")}\n`),
    );
  } else {
    console.error(statusLine(status));
  }
}
