/**
 * A sink that answers InfluxDB 3's write API and does nothing else: it
 * reads each write's body to its end, counts the lines (one point each)
 * and answers 204, so the consumer's rate against it is the consumer's own
 * ceiling (bench row P2d). It also answers what the consumer asks at start
 * (`/health`, `/api/v3/configure/database` and `/configure/table`) with 200.
 *
 * @module
 */

/** What a {@linkcode DrainSink} has counted. */
export interface DrainStats {
  /** Points (lines) in the write bodies so far. */
  points: number;
  /** Write requests with at least one point. */
  writes: number;
  /** Points of the first write. */
  firstPoints: number;
  /** `performance.now()` when the first write's body was read to its end. */
  firstAt?: number;
  /** `performance.now()` when the last write's body was read to its end. */
  lastAt?: number;
}

/** A running drain sink, from {@linkcode startDrainSink}. */
export interface DrainSink extends AsyncDisposable {
  /** Base URL, such as `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The counters now (a copy). */
  stats(): DrainStats;
  /** Stops listening; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts a drain sink on 127.0.0.1 on a free port.
 *
 * @returns The sink; `close()` it (or `await using` it).
 *
 * @example
 * ```ts ignore
 * await using sink = startDrainSink();
 * // run the consumer with INFLUX_HOST=sink.url, then:
 * console.log(drainRate(sink.stats()), "points/s");
 * ```
 */
export function startDrainSink(): DrainSink {
  const stats: DrainStats = { points: 0, writes: 0, firstPoints: 0 };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const { pathname } = new URL(request.url);
      if (request.method === "POST" && pathname === "/api/v3/write_lp") {
        const points = await countLines(request.body);
        const at = performance.now();
        if (points > 0) {
          if (stats.firstAt === undefined) {
            stats.firstAt = at;
            stats.firstPoints = points;
          }
          stats.lastAt = at;
          stats.points += points;
          stats.writes++;
        }
        return new Response(null, { status: 204 });
      }
      await request.body?.cancel();
      if (pathname === "/health" || pathname.startsWith("/api/v3/configure/")) {
        return new Response(null, { status: 200 });
      }
      return new Response(null, { status: 404 });
    },
  );
  let closing: Promise<void> | undefined;
  const close = () => closing ??= server.shutdown();
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    stats: () => ({ ...stats }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Points per second the sink took in, from the end of the first write to
 * the end of the last (the first write's points are left out: their time
 * went before the first end).
 *
 * @param stats From {@linkcode DrainSink.stats}.
 * @returns Points/s; NaN with fewer than two writes.
 *
 * @example
 * ```ts
 * import { drainRate } from "./drain_sink.ts";
 * drainRate({ points: 15_000, writes: 3, firstPoints: 5000, firstAt: 0, lastAt: 100 }); // 100000
 * ```
 */
export function drainRate(stats: DrainStats): number {
  const { points, firstPoints, firstAt, lastAt } = stats;
  if (firstAt === undefined || lastAt === undefined || lastAt <= firstAt) {
    return NaN;
  }
  return (points - firstPoints) / ((lastAt - firstAt) / 1000);
}

/**
 * Reads a body to its end and counts its lines: newlines, plus one when it
 * does not end with one.
 *
 * @param body The request's body.
 * @returns The number of lines; 0 for an empty body.
 *
 * @example
 * ```ts
 * import { countLines } from "./drain_sink.ts";
 * await countLines(new Response("a 1\nb 2").body); // 2
 * ```
 */
export async function countLines(
  body: ReadableStream<Uint8Array> | null,
): Promise<number> {
  if (!body) return 0;
  let lines = 0;
  let last = 10;
  for await (const chunk of body) {
    if (chunk.length === 0) continue;
    for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) {
      lines++;
    }
    last = chunk[chunk.length - 1];
  }
  return last === 10 ? lines : lines + 1;
}
