/**
 * A consumer's own metrics as a small JSON endpoint on loopback, for the
 * chart server's pipeline page: points written per coin, the last write's
 * latency, dead letters, lag. Each consumer takes the first free port of
 * {@linkcode SINK_METRICS_PORTS}; the chart asks all of them and keeps the
 * answers of its group and topic. (Kafka itself does not know what reached
 * InfluxDB, so this comes from the consumers.)
 *
 * @module
 */
import type { SinkStats } from "./sink.ts";

/** Loopback ports the consumers' metrics endpoints take, first free first. */
export const SINK_METRICS_PORTS: readonly number[] = Array.from(
  { length: 20 },
  (_, i) => 18_100 + i,
);

/** What a metrics endpoint answers. */
export interface SinkMetrics {
  clientId: string;
  group: string;
  topic: string;
  pid: number;
  written: Record<string, number>;
  deadLettered: number;
  lag: Record<number, number>;
  /** ms from event time to InfluxDB's acknowledgement, of the last point written. */
  lastLatencyMs?: number;
  /** Median of the recent latencies, ms. */
  p50LatencyMs?: number;
  influxDownSince?: number;
  /** Set while the schema registry does not answer or knows none of a chunk's schema ids (ms). */
  registryDownSince?: number;
}

/** Options for {@linkcode serveSinkMetrics}. */
export interface SinkMetricsOptions {
  clientId: string;
  group: string;
  topic: string;
  /** Closes the endpoint. */
  signal: AbortSignal;
  /** Ports to try, in order. @default {SINK_METRICS_PORTS} */
  ports?: readonly number[];
}

/**
 * Serves `stats` as JSON on 127.0.0.1 at the first free port of `ports`
 * (none free: nothing is served, and the consumer goes on).
 *
 * @param stats The sink's counters (its latency window is wrapped to remember the last sample).
 * @param options Identity, signal and ports.
 * @returns The port taken, or undefined when every port was taken.
 * @throws {Deno.errors.PermissionDenied} When the net permission lacks 127.0.0.1.
 *
 * @example
 * ```ts ignore
 * import { serveSinkMetrics } from "@cryptocandles/sink";
 * const port = serveSinkMetrics(sink.stats, { clientId, group: "Coins", topic, signal });
 * ```
 */
export function serveSinkMetrics(
  stats: SinkStats,
  options: SinkMetricsOptions,
): number | undefined {
  const { clientId, group, topic, signal, ports = SINK_METRICS_PORTS } =
    options;
  const window = stats.latency;
  let lastLatencyMs: number | undefined;
  stats.latency = {
    ...window,
    add(ms) {
      lastLatencyMs = ms;
      window.add(ms);
    },
  };
  const handler = (): Response => {
    const body: SinkMetrics = {
      clientId,
      group,
      topic,
      pid: Deno.pid,
      written: stats.written,
      deadLettered: stats.deadLettered,
      lag: stats.lag,
      lastLatencyMs,
      p50LatencyMs: stats.latency.percentile(50),
      influxDownSince: stats.influxDownSince,
      registryDownSince: stats.registryDownSince,
    };
    return Response.json(body);
  };
  for (const port of ports) {
    try {
      Deno.serve(
        { hostname: "127.0.0.1", port, signal, onListen: () => {} },
        handler,
      );
      return port;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  return undefined;
}

/**
 * The URLs of every metrics endpoint a consumer may serve.
 *
 * @param ports The ports. @default {SINK_METRICS_PORTS}
 * @returns `http://127.0.0.1:<port>/` for each.
 *
 * @example
 * ```ts
 * import { sinkMetricsUrls } from "@cryptocandles/sink";
 * console.log(sinkMetricsUrls([18100])); // ["http://127.0.0.1:18100/"]
 * ```
 */
export function sinkMetricsUrls(
  ports: readonly number[] = SINK_METRICS_PORTS,
): string[] {
  return ports.map((port) => `http://127.0.0.1:${port}/`);
}
