/**
 * The exact Deno permissions of each script, derived from the
 * configuration (hosts from its URLs and broker list), so that `launch.ts`
 * never runs a child with `-A`.
 *
 * @module
 */
import { type Config, VARIABLES } from "@cryptocandles/config";

/** The scripts launch runs. */
export type ScriptName =
  | "setup-schema"
  | "producer"
  | "consumer"
  | "seed-grafana"
  | "chart";

/**
 * V8 flags of the long-running scripts: a small young generation and
 * size-optimised code keep a consumer near 80 MB instead of 130 MB
 * (measured in `deno task bench`, P4).
 */
export const MEMORY_FLAGS =
  "--v8-flags=--optimize-for-size,--max-semi-space-size=1";

/** Variables kafkajs reads at import, beside the project's own. */
const LIBRARY_ENV = ["KAFKAJS_*", "NODE_ENV"];

/**
 * The `deno run` flags of `scripts/<name>.ts` under `config`: its exact
 * permissions, plus {@linkcode MEMORY_FLAGS} for the long-running producer,
 * consumer and chart.
 *
 * @param name The script.
 * @param config The configuration it will run with.
 * @returns Flags such as `--allow-net=127.0.0.1:19090,…`.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * import { permissionsFor } from "@cryptocandles/launch";
 * console.log(permissionsFor("consumer", loadConfig(new Map())));
 * ```
 */
export function permissionsFor(name: ScriptName, config: Config): string[] {
  const kafka = config.kafka.brokers;
  const registry = hostOf(config.registryUrl);
  const env = `--allow-env=${
    [...VARIABLES.map((v) => v.name), ...LIBRARY_ENV].join(",")
  }`;
  const net = (hosts: string[]) =>
    `--allow-net=${[...new Set(hosts)].join(",")}`;
  switch (name) {
    case "setup-schema":
      return [net([...kafka, registry]), env, "--allow-read=schemas"];
    case "producer": {
      const bitfinex = config.source === "bitfinex-ws"
        ? [hostOf(config.bitfinex.wsUrl)]
        : config.source === "bitfinex-rest"
        ? [hostOf(config.bitfinex.restUrl)]
        : [];
      const read = ["schemas", config.replay.file].filter(Boolean).join(",");
      const write = config.recordFile
        ? [`--allow-write=${config.recordFile}`]
        : [];
      return [
        MEMORY_FLAGS,
        net([...kafka, registry, ...bitfinex]),
        env,
        `--allow-read=${read}`,
        ...write,
      ];
    }
    case "consumer":
      return [
        MEMORY_FLAGS,
        net([...kafka, registry, hostOf(config.influx.host)]),
        env,
        "--allow-read=schemas",
      ];
    case "seed-grafana":
      return [
        net([hostOf(config.grafana.url), hostOf(config.influx.host)]),
        env,
      ];
    case "chart":
      return [
        MEMORY_FLAGS,
        net([...kafka, registry, `${config.chart.host}:${config.chart.port}`]),
        env,
        "--allow-read=schemas,scripts/chart_page,node_modules/lightweight-charts",
      ];
  }
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
