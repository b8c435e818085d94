/**
 * `deno task launch`: the whole pipeline from nothing to live candles.
 * Stack (local: also InfluxDB 3 and a provisioned Grafana when their
 * programs are there) → setup-schema → two consumers (when InfluxDB
 * answers) → producer → seed-grafana (other Grafanas) → chart page; each a
 * supervised `deno run` with its own permissions; a live status view.
 *
 * @module
 */
import { type Config, describeError } from "@cryptocandles/config";
import { runScript } from "@cryptocandles/config";
import { influxHealthy, influxOptions } from "@cryptocandles/influx";
import { applyEvent, emptyStatus, type Status } from "@cryptocandles/launch";
import { checkBitfinex, closeStatusAdmin } from "@cryptocandles/launch";
import { describeMembers, httpAnswers } from "@cryptocandles/launch";
import { type PreparedStack, prepareStack } from "@cryptocandles/launch";
import { permissionsFor, type ScriptName } from "@cryptocandles/launch";
import { launchPermissions, relaunch } from "@cryptocandles/launch";
import { type ChildSpec, runOnce, supervise } from "@cryptocandles/launch";
import { parseStackMode, statusLine, statusTable } from "@cryptocandles/launch";
import { stopStack, type Supervised } from "@cryptocandles/launch";

// On a terminal the status table is redrawn; log lines show under it (last 12).
const screen = { tty: false, recent: [] as string[] };
const print = (line: string) =>
  screen.tty
    ? screen.recent.splice(0, screen.recent.push(line) - 12)
    : console.error(line);

await runScript({
  name: "launch",
  flags: { stack: "string", "no-grafana": "boolean", "no-chart": "boolean" },
  help: [
    "--stack auto|local|compose|external  where Kafka comes from (default auto; env STACK)",
    "--source S / --coins A,B             shorthands for SOURCE / COINS (see below)",
    "--no-grafana / --no-chart            skip the dashboards / the chart page",
  ],
  hardExitMs: 60_000,
  logger: (config) => {
    screen.tty = Deno.stderr.isTerminal() && config.logFormat === "text";
    return { write: print };
  },
  async main({ config, log, signal, stopped, flags }) {
    const wider = await launchPermissions(config); // hosted Kafka, a CA file
    if (wider) return await relaunch(wider, { signal, log });
    const mode = parseStackMode(
      String(flags.extra.stack ?? Deno.env.get("STACK") ?? "auto"),
    );
    const status = emptyStatus(config.source, config.coins);
    const env = { ...Deno.env.toObject(), ...flags.overrides };
    const child = (name: ScriptName, extra?: Partial<ChildSpec>) => ({
      name,
      script: `scripts/${name}.ts`,
      permissions: permissionsFor(name, config),
      env,
      ...extra,
    });
    const options = { log, print, onEvent: applyEvent.bind(null, status) };
    const once = (spec: ChildSpec) => runOnce(spec, options);
    const children: Supervised[] = [];
    const start = (spec: ChildSpec) => children.push(supervise(spec, options));
    let stack: PreparedStack | undefined;
    try {
      stack = await prepareStack(mode, config, { log, signal });
      signal.throwIfAborted(); // Ctrl-C while InfluxDB/Grafana started
      if (stack.links) Object.assign(status.links, stack.links);
      Object.assign(env, stack.env); // the local stack's token and Grafana admin
      const influx = { ...config.influx, token: env.INFLUX_TOKEN || undefined };
      const schema = await once(child("setup-schema"));
      if (schema !== 0) {
        if (signal.aborted) return 0;
        log.error(`setup-schema failed (exit ${schema})`);
        return schema === 2 ? 2 : 1;
      }
      if (await influxHealthy(influxOptions(influx))) {
        for (const name of ["consumer-1", "consumer-2"]) {
          start(child("consumer", { name, args: ["--client-id", name] }));
        }
      } else {
        const why = `InfluxDB does not answer at ${config.influx.host}`;
        status.consumersSkipped = why;
        log.warn(`consumers skipped: ${why} (the chart page works without it)`);
      }
      if (config.source === "bitfinex-ws") {
        await checkBitfinex(config.bitfinex.wsUrl);
      }
      start(child("producer"));
      const grafana = config.grafana.url;
      if (status.links.grafana) log.info(`dashboard: ${status.links.grafana}`);
      else if (
        !flags.extra["no-grafana"] && await httpAnswers(`${grafana}/api/health`)
      ) {
        // Grafana in Docker reaches InfluxDB by its service name, not 127.0.0.1.
        const args = stack.mode === "compose"
          ? ["--datasource-url", "http://influxdb:8181"]
          : [];
        if (await once(child("seed-grafana", { args })) === 0) {
          status.links.grafana = `${grafana}/d/cryptocandles`;
        }
      }
      if (!flags.extra["no-chart"]) {
        start(child("chart"));
        const { host, port } = config.chart;
        status.links.chart = `http://${host}:${port}/`;
      }
      const names = children.map((c) => c.spec.name).join(",");
      log.info("pipeline started", { children: names });
      const show = () => showStatus(status, children, config);
      const refresh = setInterval(show, screen.tty ? 2000 : 10_000);
      const ended = await Promise.race([
        ...children.map((c) => c.done.then((code) => ({ child: c, code }))),
        stopped.then(() => undefined),
      ]);
      clearInterval(refresh);
      if (ended && !signal.aborted) {
        log.error(
          `${ended.child.spec.name} stopped for good (exit ${ended.code}); stopping the pipeline`,
        );
        return ended.code === 2 ? 2 : 1;
      }
    } catch (error) {
      if (signal.aborted) return 0;
      log.error(describeError(error, "launch"));
      return 1;
    } finally {
      // Reverse order: chart and producer (no new ticks), then consumers (commit).
      const consumers = children.filter((c) => /^consumer/.test(c.spec.name));
      await Promise.all(
        children.filter((c) => !consumers.includes(c)).map((c) => c.stop()),
      );
      await Promise.all(consumers.map((c) => c.stop()));
      await closeStatusAdmin();
      if (stack) await stopStack(stack, { log, config });
      log.info("stopped");
    }
  },
});

async function showStatus(status: Status, kids: Supervised[], config: Config) {
  status.members = await describeMembers(config).catch(() => status.members);
  for (const kid of kids) status.restarts[kid.spec.name] = kid.restarts;
  if (screen.tty) {
    const lines = [...statusTable(status), "", ...screen.recent];
    const text = `\x1b[H\x1b[2J${lines.join("\n")}\n`;
    await Deno.stderr.write(new TextEncoder().encode(text));
  } else {
    console.error(statusLine(status));
  }
}
