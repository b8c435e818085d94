/**
 * The live status of a launched pipeline, gathered from the children's JSON
 * log lines and the group description, rendered as a table (terminal) or
 * as one plain line (logs).
 *
 * @module
 */
import type { LogEvent } from "./supervisor.ts";

/** One member of the consumer group and its partitions. */
export interface Member {
  clientId: string;
  partitions: number[];
}

/** What the status view shows. */
export interface Status {
  source: string;
  coins: string[];
  /** Ticks acknowledged by Kafka, per producer run, per coin. */
  produced: Record<string, Record<string, number>>;
  /** Points written, per consumer run, per coin (a re-read record counts again). */
  written: Record<string, Record<string, number>>;
  /** Consumer lag, per consumer child. */
  lag: Record<string, number>;
  /**
   * Tick → point durable in InfluxDB, p50/p99 in ms, per consumer child
   * (what the write mode, durable or `INFLUX_NO_SYNC`, gives).
   */
  latency: Record<string, { p50: number; p99: number }>;
  /** Last acknowledged price and event time, per coin. */
  last: Record<string, [number, number]>;
  members: Member[];
  /** Restarts per child. */
  restarts: Record<string, number>;
  links: Record<string, string>;
  /** Set when consumers were skipped, with why. */
  consumersSkipped?: string;
  /** History backfill progress per coin (candles so far, pages left), from the producer. */
  backfill?: Record<string, { candles: number; pagesLeft: number }>;
  /** Seconds the backfill took, once done. */
  backfillSeconds?: number;
}

/**
 * A status with nothing counted yet.
 *
 * @param source The producer's source.
 * @param coins The pairs.
 * @returns An empty {@linkcode Status}.
 *
 * @example
 * ```ts
 * import { emptyStatus } from "@cryptocandles/launch";
 * const status = emptyStatus("synthetic", ["tBTCUSD"]);
 * ```
 */
export function emptyStatus(source: string, coins: string[]): Status {
  return {
    source,
    coins,
    produced: {},
    written: {},
    lag: {},
    latency: {},
    last: {},
    members: [],
    restarts: {},
    links: {},
  };
}

/**
 * Folds one child's log event into the status (producer and consumer
 * statistics lines; other events are ignored).
 *
 * @param status The status to update.
 * @param child The child's name, such as `consumer-1`.
 * @param event The parsed JSON log line.
 *
 * @example
 * ```ts
 * import { applyEvent, emptyStatus } from "@cryptocandles/launch";
 * const status = emptyStatus("synthetic", ["tBTCUSD"]);
 * applyEvent(status, "producer", { msg: "acknowledged 1 records", acked: { tBTCUSD: 1 } });
 * ```
 */
export function applyEvent(
  status: Status,
  child: string,
  event: LogEvent,
): void {
  if (
    child.startsWith("producer") && event.acked &&
    typeof event.acked === "object"
  ) {
    status.produced[child] = { ...event.acked as Record<string, number> };
    if (event.last && typeof event.last === "object") {
      status.last = {
        ...status.last,
        ...event.last as Record<string, [number, number]>,
      };
    }
  }
  if (child.startsWith("producer")) applyBackfill(status, event);
  if (
    child.startsWith("consumer") && event.written &&
    typeof event.written === "object"
  ) {
    status.written[child] = { ...event.written as Record<string, number> };
    if (typeof event.lag === "number") status.lag[child] = event.lag;
    const latency = event.latencyMs as { p50?: unknown; p99?: unknown };
    if (typeof latency?.p50 === "number" && typeof latency.p99 === "number") {
      status.latency[child] = { p50: latency.p50, p99: latency.p99 };
    }
  }
}

/**
 * Sums per coin over runs, as for `status.written` or `status.produced`.
 *
 * @param byRun Counts per run, per coin.
 * @returns Counts per coin.
 *
 * @example
 * ```ts
 * import { perCoin } from "@cryptocandles/launch";
 * console.log(perCoin({ "consumer-1": { tBTCUSD: 2 }, "consumer-2": { tBTCUSD: 3 } })); // { tBTCUSD: 5 }
 * ```
 */
export function perCoin(
  byRun: Record<string, Record<string, number>>,
): Record<string, number> {
  const total: Record<string, number> = {};
  for (const byCoin of Object.values(byRun)) {
    for (const [coin, n] of Object.entries(byCoin)) {
      total[coin] = (total[coin] ?? 0) + n;
    }
  }
  return total;
}

/**
 * One plain line, for logs: per coin its last price, ticks produced and
 * points written, then lag, the slowest consumer's tick → point p99 and the
 * members.
 *
 * @param status The status.
 * @returns `status: source=synthetic tBTCUSD=66012.5 produced=120 written=118 | … lag=0 p99=340ms members=2`.
 *
 * @example
 * ```ts
 * import { emptyStatus, statusLine } from "@cryptocandles/launch";
 * console.log(statusLine(emptyStatus("synthetic", ["tBTCUSD"])));
 * ```
 */
export function statusLine(status: Status): string {
  const written = perCoin(status.written);
  const produced = perCoin(status.produced);
  const coins = status.coins.map((c) =>
    `${c}=${formatPrice(status.last[c]?.[0])} produced=${
      produced[c] ?? 0
    } written=${written[c] ?? 0}`
  );
  const lag = Object.values(status.lag).reduce((a, b) => a + b, 0);
  const grafana = status.links.grafana
    ? ` grafana=${status.links.grafana}`
    : "";
  const p99 = worstP99(status);
  const latency = p99 === undefined ? "" : ` p99=${p99}ms`;
  const backfill = backfillText(status);
  return `status: source=${status.source} ${
    coins.join(" | ")
  } lag=${lag}${latency} members=${status.members.length}${grafana}${
    backfill ? ` ${backfill}` : ""
  }`;
}

/**
 * A small table for a terminal.
 *
 * @param status The status.
 * @param now Clock, for tick ages. @default {Date.now()}
 * @returns Lines to draw.
 *
 * @example
 * ```ts
 * import { emptyStatus, statusTable } from "@cryptocandles/launch";
 * console.log(statusTable(emptyStatus("synthetic", ["tBTCUSD"])).join("\n"));
 * ```
 */
export function statusTable(
  status: Status,
  now: number = Date.now(),
): string[] {
  const written = perCoin(status.written);
  const produced = perCoin(status.produced);
  const lag = Object.values(status.lag).reduce((a, b) => a + b, 0);
  const rows = status.coins.map((c) => {
    const [price, at] = status.last[c] ?? [];
    const age = at ? `${Math.max(0, Math.round((now - at) / 1000))} s` : "–";
    return [
      c,
      formatPrice(price),
      String(produced[c] ?? 0),
      String(written[c] ?? 0),
      age,
    ];
  });
  const header = ["coin", "last price", "produced", "written", "last tick"];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) => cell.padEnd(widths[i])).join("  ");
  return [
    `cryptocandles — source: ${status.source}   consumer lag: ${lag}${
      worstP99(status) === undefined
        ? ""
        : `   tick → point p99: ${worstP99(status)} ms`
    }`,
    "",
    line(header),
    ...rows.map(line),
    ...(backfillText(status) ? [backfillText(status).replace("=", ": ")] : []),
    "",
    `group members: ${
      status.members.length
        ? status.members.map((m) => `${m.clientId} [${m.partitions.join(",")}]`)
          .join("  ")
        : status.consumersSkipped
        ? `none (${status.consumersSkipped})`
        : "none yet"
    }`,
    ...Object.entries(status.restarts).filter(([, n]) => n > 0).map((
      [name, n],
    ) => `restarts: ${name} ${n}`),
    ...Object.entries(status.links).map(([name, url]) => `${name}: ${url}`),
    // The chart server's second page: the cluster, as Kafka-UI showed it.
    ...(status.links.chart && !status.links.pipeline
      ? [`pipeline: ${new URL("pipeline", status.links.chart)}`]
      : []),
  ];
}

/** Backfill progress lines of the producer (`backfill: tBTCUSD 1440 candles, 0 pages left`, `backfill: done in …`). */
function applyBackfill(status: Status, event: LogEvent): void {
  if (!String(event.msg).startsWith("backfill:")) return;
  const { pair, candles, pagesLeft, seconds } = event;
  if (typeof seconds === "number") status.backfillSeconds = seconds;
  if (
    typeof pair === "string" && typeof candles === "number" &&
    typeof pagesLeft === "number"
  ) {
    status.backfill = { ...status.backfill, [pair]: { candles, pagesLeft } };
  }
}

/** `backfill=tBTCUSD:1440(0 pages left),… done in 3.2 s`, or "" before any backfill. */
function backfillText(status: Status): string {
  if (!status.backfill && status.backfillSeconds === undefined) return "";
  const coins = Object.entries(status.backfill ?? {}).map(([coin, b]) =>
    `${coin}:${b.candles}${
      b.pagesLeft > 0 ? `(${b.pagesLeft} pages left)` : ""
    }`
  );
  const done = status.backfillSeconds === undefined
    ? " running"
    : ` done in ${status.backfillSeconds} s`;
  return `backfill=${coins.join(",")}${done}`;
}

/** The highest p99 among the consumers, or undefined before any reports. */
function worstP99(status: Status): number | undefined {
  const all = Object.values(status.latency).map((l) => l.p99);
  return all.length > 0 ? Math.max(...all) : undefined;
}

function formatPrice(price: number | undefined): string {
  if (price === undefined) return "–";
  return price >= 100 ? price.toFixed(2) : price.toPrecision(6);
}
