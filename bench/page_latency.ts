/**
 * Tick → candle latency as the chart page sees it (bench row P5): headless
 * Chromium (Debian's, driven by playwright-core as in the tests) opens the
 * chart page, and every few seconds the page's `chartData.latencies` (ms
 * from a tick's event time to its candle update on the page, see
 * scripts/chart_page/app.js) is read and emptied in one evaluation, so no
 * sample is lost or counted twice.
 *
 * The browser runs in a child, `deno run -P=bench-page bench/page_latency.ts
 * URL`: playwright-core reads the whole environment, the browser binary and
 * /tmp, which the bench's own set does not grant. The child prints one JSON
 * line per read and stops (a last read, then the browser closed) when its
 * stdin closes; {@linkcode watchPageLatency} is the bench's side of it.
 *
 * @module
 */
import type { Page } from "playwright-core";

/** Where Debian's chromium package puts the browser (as tests/browser.ts). */
export const CHROMIUM = "/usr/bin/chromium";
/** The page keeps this many samples (app.js): a read that returns as many may have lost some. */
const PAGE_KEEPS = 500;

/** Options for {@linkcode watchPageLatency}. */
export interface PageLatencyOptions {
  /** How often the page's samples are read and emptied, ms. @default {5000} */
  everyMs?: number;
  /**
   * Samples of the page's first `warmupMs` after its first candle update
   * are left out: the chart server may still be catching up on ticks sent
   * before it read the topic, whose updates reach the page seconds after
   * their event time (a start-up cost, not the live latency). @default {5000}
   */
  warmupMs?: number;
  /** Longest wait for the page's first candle update, ms. @default {60000} */
  liveTimeoutMs?: number;
}

/** What the page measured, from {@linkcode PageLatencyWatch.stop}. */
export interface PageLatencyResult {
  /** ms from each tick's event time to its candle update on the page, after the warm-up. */
  samples: number[];
  /** Samples left out as the warm-up. */
  warmupSamples: number;
  /** The largest of them, ms (null when none). */
  warmupMaxMs: number | null;
  /** Reads that returned as many samples as the page keeps (some may be lost). */
  fullReads: number;
  /** Why the page could not be measured (the child's last words), if so. */
  error?: string;
}

/** A page being watched, from {@linkcode watchPageLatency}. */
export interface PageLatencyWatch {
  /** Samples so far (after the warm-up). */
  readonly count: number;
  /** Resolves once the page has its first candle update and the warm-up is over; rejects when the child fails first. */
  readonly ready: Promise<void>;
  /** Takes a last read, closes the browser and returns everything measured. */
  stop(): Promise<PageLatencyResult>;
}

/** One line the child prints. */
interface ChildLine {
  ready?: boolean;
  warmupSamples?: number;
  warmupMaxMs?: number | null;
  latencies?: number[];
}

/**
 * Opens `url` (the chart page) in headless Chromium in a child process and
 * collects its tick → candle latencies until `stop()`.
 *
 * @param url The chart page, such as `http://127.0.0.1:8099/?interval=1m`.
 * @param options Read interval, warm-up and the wait for the first update.
 * @returns The watch; `stop()` it.
 *
 * @example
 * ```ts ignore
 * const page = watchPageLatency("http://127.0.0.1:8099/");
 * await page.ready;
 * await delay(60_000);
 * const { samples } = await page.stop();
 * console.log(summarise(samples)); // { count: 300, p50: 9, p99: 31, max: 40 }
 * ```
 */
export function watchPageLatency(
  url: string,
  options: PageLatencyOptions = {},
): PageLatencyWatch {
  const { everyMs = 5_000, warmupMs = 5_000, liveTimeoutMs = 60_000 } = options;
  const child = new Deno.Command("deno", {
    args: [
      "run",
      "-q",
      "-P=bench-page",
      "bench/page_latency.ts",
      url,
      String(everyMs),
      String(warmupMs),
      String(liveTimeoutMs),
    ],
    // playwright-core looks for WSL under /proc at import unless this is set
    env: { PATH: Deno.env.get("PATH") ?? "", __IS_WSL_TEST__: "1" },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const result: PageLatencyResult = {
    samples: [],
    warmupSamples: 0,
    warmupMaxMs: null,
    fullReads: 0,
  };
  let markReady: () => void = () => {};
  let failReady: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {}); // a caller that never waits is told by stop()
  const take = (line: ChildLine) => {
    if (line.ready) {
      result.warmupSamples = line.warmupSamples ?? 0;
      result.warmupMaxMs = line.warmupMaxMs ?? null;
      markReady();
    }
    if (line.latencies) {
      if (line.latencies.length >= PAGE_KEEPS) result.fullReads++;
      result.samples.push(...line.latencies);
    }
  };
  const stdout = readLines(child.stdout, (text) => take(JSON.parse(text)));
  const stderr = new Response(child.stderr).text();
  const exited = child.status.then(async (status) => {
    await stdout;
    if (!status.success) {
      const words = (await stderr).trim().split("\n").slice(-5).join(" | ");
      result.error = `the page's browser exited with ${status.code}: ${
        words || "no message"
      }`;
    }
    failReady(new Error(result.error ?? "the page's browser exited"));
  });
  return {
    get count() {
      return result.samples.length;
    },
    ready,
    async stop() {
      await child.stdin.close().catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), 30_000);
      });
      if (await Promise.race([exited, late]) === "late") {
        child.kill("SIGKILL");
        await exited;
        result.error ??= "the page's browser did not stop within 30 s";
      }
      clearTimeout(timer);
      return result;
    },
  };
}

/**
 * Nearest-rank percentiles of latency samples (the sink's definition).
 *
 * @param samples Latencies, ms, in any order.
 * @returns The count, p50, p99 and max; null figures when there are none.
 *
 * @example
 * ```ts
 * import { summarise } from "./page_latency.ts";
 * console.log(summarise([12, 9, 40, 10])); // { count: 4, p50: 10, p99: 40, max: 40 }
 * ```
 */
export function summarise(samples: number[]): {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
} {
  const sorted = Float64Array.from(samples).sort();
  const rank = (p: number) =>
    sorted.length === 0
      ? null
      : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return {
    count: sorted.length,
    p50: rank(0.5),
    p99: rank(0.99),
    max: sorted.length === 0 ? null : sorted[sorted.length - 1],
  };
}

/** Calls `onLine` with each line of a byte stream. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let buffer = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffer += text;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (line) onLine(line);
    }
  }
}

/** The page's samples, emptied in the same evaluation (nothing runs between). */
async function drainPage(page: Page): Promise<number[]> {
  return await page.evaluate<number[]>(`(() => {
    const data = globalThis.chartData;
    const taken = data.latencies;
    data.latencies = [];
    return taken;
  })()`);
}

/** The child: opens the page, prints its samples every `everyMs` until stdin closes. */
async function child(args: string[]): Promise<void> {
  const [url, everyMs, warmupMs, liveTimeoutMs] = [
    args[0],
    ...args.slice(1).map(Number),
  ];
  const print = (line: ChildLine) => console.log(JSON.stringify(line));
  const { launchChromium } = await import("../tests/browser.ts");
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const deadline = Date.now() + liveTimeoutMs;
    // the chart server may not listen yet: it starts with this child
    while (!(await page.goto(url).then(() => true, () => false))) {
      if (Date.now() > deadline) await page.goto(url); // throws why
      await new Promise((r) => setTimeout(r, 250));
    }
    await page.waitForFunction(
      "globalThis.chartData?.latencies?.length > 0",
      undefined,
      { timeout: Math.max(1, deadline - Date.now()) },
    );
    await new Promise((r) => setTimeout(r, warmupMs));
    const warm = await drainPage(page);
    print({
      ready: true,
      warmupSamples: warm.length,
      warmupMaxMs: summarise(warm).max,
    });
    let open = true;
    const closed = (async () => {
      for await (const _ of Deno.stdin.readable) { /* until EOF */ }
      open = false;
    })();
    while (open) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        closed,
        new Promise((r) => timer = setTimeout(r, everyMs)),
      ]);
      clearTimeout(timer);
      print({ latencies: await drainPage(page) });
    }
  } finally {
    await browser.close();
  }
}

if (import.meta.main) {
  try {
    await child(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
}
