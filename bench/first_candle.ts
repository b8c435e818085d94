/**
 * Bench rows P6 and P6w, "launch → first candle on the page": the time from
 * starting `deno task launch --stack local` to the first candle drawn on the
 * built-in chart page, read in headless Chromium (Debian's, driven by
 * playwright-core as in the tests), with launch's own log lines cut into
 * phases (stack ready, schema, consumers, producer, chart) so that a slow
 * one shows.
 *
 * - P6, cold: nothing running. A private copy of the project (as
 *   tests/launch/private_stack.ts makes it: its own `.stack`, free ports,
 *   the Kafka and registry jars and the JDK linked, no data yet), so launch
 *   starts the 3 brokers, the registry, InfluxDB and Grafana itself; the
 *   shared stack at 19090-19092/8081 is never touched. Target ≤ 30 s.
 * - P6w, warm: the same copy after `stack up`, launch started again on the
 *   same topic (its history is there from the cold run; without a cold run
 *   before, a new topic, `setup.freshTopic` 1). Target ≤ 10 s.
 *
 * Nothing leaves the machine: the source is the Bitfinex double
 * (tests/doubles/bitfinex_double.ts, WebSocket tickers and REST history
 * candles), and InfluxDB 3 and Grafana are the stand-ins of
 * tests/doubles/standins.ts (the InfluxDB double and the Grafana double) on
 * PATH, which the stack starts and provisions as it would the real programs
 * (as tests/launch/launch_integration_test.ts does offline).
 *
 * The chart's JSON API (`/api/candles?coin=tBTCUSD&interval=1m&limit=1`)
 * is polled every 100 ms from launch's start; once it has a candle the page
 * is opened (`?coin=tBTCUSD&interval=1m`) and read every 100 ms: the first
 * candle is the moment the page's candlestick series holds a bar (from the
 * page's snapshot); the first live tick, the moment a tick sent after
 * launch started updated the page. The page is not opened earlier on
 * purpose: a page that is open while the history streams in gets one event
 * per history candle and was busy for seconds drawing them (2-4 s on an
 * idle machine, 7-11 s on a loaded one; a separate finding, not this
 * row's figure).
 *
 * The measuring runs in a child, `deno run bench/first_candle.ts` with the
 * flags of {@linkcode CHILD_PERMISSIONS}: it copies the project to /tmp,
 * runs Chromium and serves the doubles, none of which the bench's own
 * permission set grants. The child prints the rows as one JSON line; launch's
 * lines of each run go to `.stack/first-candle-logs/<cold|warm>.log`.
 *
 * @module
 */
import type { BenchRow, Figure } from "./compare.ts";

/** Which runs: `cold` (launch starts the stack) and `warm` (the stack is up). */
export type FirstCandleRun = "cold" | "warm";

/** Options for {@linkcode firstCandleRows}. */
export interface FirstCandleOptions {
  /** The runs to make, in this order (a warm run alone still starts with a fresh copy, brought up first). @default {["cold", "warm"]} */
  runs?: FirstCandleRun[];
  /** Longest wait for the first candle of one run, seconds. @default {180} */
  timeoutSeconds?: number;
  /** Gets each progress line of the child (launch's phases, what it is doing). @default {console.error} */
  log?: (line: string) => void;
}

/** One line of launch's output, with when it arrived (ms since launch was started). */
export interface TimedLine {
  at: number;
  text: string;
}

/** A phase of launch read from its lines: when it ended (ms since launch was started), or null when no line said so. */
export interface Phase {
  name: string;
  at: number | null;
}

/** What one run measured (the child's answer, before it becomes a row). */
export interface RunResult {
  run: FirstCandleRun;
  /** ms from launch's start to the first candle on the page; null when none came. */
  firstCandleMs: number | null;
  /** ms to the first update on the page by a tick sent after launch started; null when none came. */
  firstLiveMs: number | null;
  /** ms to the first candle in the chart's `/api/candles` (when the page is opened); null when none came. */
  apiMs: number | null;
  /** The phases from launch's lines. */
  phases: Phase[];
  /** Whether the topic was new (no history or ticks stored before this launch). */
  freshTopic: boolean;
  /** Why the run failed, if it did. */
  error?: string;
}

/** The conditions both rows share, as numbers (results.json `setup`). */
export const SETUP = {
  coins: 4,
  /** The Bitfinex double's update interval per channel. */
  bitfinexTickMs: 200,
  /** BACKFILL (launch's default, 24 h), as hours. */
  backfillHours: 24,
  /** How often the page is read. */
  pagePollMs: 100,
} as const;

const TARGET_S: Record<FirstCandleRun, number> = { cold: 30, warm: 10 };

/**
 * The flags the child runs with: the whole environment and /usr/bin/chromium
 * (playwright-core), reading the project and writing /tmp (the copy, the
 * browser's profile) and its log folder, running deno (launch, the copy's
 * stack), `ln` (the copy's links) and Chromium, 127.0.0.1 for the doubles.
 */
export const CHILD_PERMISSIONS: readonly string[] = [
  "--allow-env",
  "--allow-sys",
  "--allow-read=.,/tmp,/usr/bin/chromium",
  "--allow-write=/tmp,.stack/first-candle-logs",
  "--allow-net=127.0.0.1,localhost",
  "--allow-run=deno,ln,/usr/bin/chromium",
];

/**
 * Rows P6 (cold) and P6w (warm): launch → first candle on the chart page,
 * measured in a child process against a private stack (see the module
 * documentation). A run that fails, or a child that fails (no Chromium,
 * say), gives null figures and `met: false`, with the reason in `log`:
 * this never throws, so a bench keeps the rows it measured before.
 *
 * @param options Runs, timeout and where progress lines go.
 * @returns One row per run, in the order of `runs`.
 *
 * @example
 * ```ts ignore
 * import { firstCandleRows } from "./first_candle.ts";
 *
 * const rows = await firstCandleRows({ log: (line) => console.error(line) });
 * console.log(rows.map((r) => `${r.id} ${r.figures[0].value} s`).join("\n"));
 * ```
 */
export async function firstCandleRows(
  options: FirstCandleOptions = {},
): Promise<BenchRow[]> {
  const { runs = ["cold", "warm"], timeoutSeconds = 180, log } = options;
  const print = log ?? ((line: string) => console.error(line));
  const root = new URL("..", import.meta.url).pathname;
  const child = new Deno.Command("deno", {
    args: [
      "run",
      "-q",
      ...CHILD_PERMISSIONS,
      new URL(import.meta.url).pathname,
      JSON.stringify({ runs, timeoutSeconds }),
    ],
    cwd: root,
    // playwright-core looks for WSL under /proc at import unless this is set
    env: { TMPDIR: "/tmp", NO_COLOR: "1", __IS_WSL_TEST__: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const [stdout] = await Promise.all([
    new Response(child.stdout).text(),
    eachLine(child.stderr, print),
  ]);
  const { code } = await child.status;
  const answer = stdout.trim().split("\n").at(-1) ?? "";
  if (answer.startsWith("[")) {
    return (JSON.parse(answer) as RunResult[]).map(firstCandleRow);
  }
  // The other rows of the bench are kept: these come out unmeasured.
  const error = `the measuring child exited ${code} without rows`;
  print(`P6: ${error} (its lines above say why)`);
  return runs.map((run) => firstCandleRow(failed(run, error)));
}

/** Where each phase ends: the first line matching `first`, or with `all`, once every pattern has matched a line. */
interface PhaseRule {
  name: string;
  /** Only in a cold run (the stack is started). */
  cold?: boolean;
  first?: RegExp;
  last?: RegExp;
  all?: RegExp[];
}

/** The phases of launch, roughly in the order they end. */
export const PHASES: readonly PhaseRule[] = [
  {
    name: "brokers started",
    cold: true,
    all: [1, 2, 3].map((n) => new RegExp(`^launch: started kafka-${n}\\b`)),
  },
  { name: "brokers ready", cold: true, first: /^launch: started registry\b/ },
  {
    name: "stack ready",
    first: /^launch: stack (ready|already running)\b/,
  },
  {
    name: "InfluxDB and Grafana ready",
    cold: true,
    all: [/^launch: influxdb3 ready\b/, /^launch: grafana ready\b/],
  },
  { name: "schema ready", last: /^\[setup-schema\] / },
  { name: "children started", first: /^launch: pipeline started\b/ },
  { name: "chart serving", first: /^\[chart\] serving / },
  { name: "first consumer joined", first: /^\[consumer-\d+\] joined group/ },
  {
    name: "consumers joined",
    all: [/^\[consumer-1\] joined group/, /^\[consumer-2\] joined group/],
  },
  { name: "history sent", first: /^\[producer\] backfill: done\b/ },
  { name: "producer live", first: /^\[producer\] sending\b/ },
];

/**
 * Launch's phases from its lines: per phase of {@linkcode PHASES} (those
 * of a cold run only when `run` is cold), when the line that ends it came.
 * Pure.
 *
 * @param lines launch's lines with their arrival times.
 * @param run Which run they are from.
 * @returns The phases in order; `at` is null for one no line ended.
 *
 * @example
 * ```ts
 * import { launchPhases } from "./first_candle.ts";
 *
 * const phases = launchPhases([
 *   { at: 650, text: "launch: stack already running pids=…" },
 *   { at: 1880, text: "launch: pipeline started children=consumer-1,consumer-2,producer,chart" },
 * ], "warm");
 * console.log(phases[0]); // { name: "stack ready", at: 650 }
 * ```
 */
export function launchPhases(lines: TimedLine[], run: FirstCandleRun): Phase[] {
  return PHASES.filter((p) => run === "cold" || !p.cold).map((rule) => {
    let at: number | null = null;
    if (rule.first) {
      at = lines.find((l) => rule.first!.test(l.text))?.at ?? null;
    } else if (rule.last) {
      at = lines.findLast((l) => rule.last!.test(l.text))?.at ?? null;
    } else if (rule.all) {
      const each = rule.all.map((re) => lines.find((l) => re.test(l.text))?.at);
      at = each.every((t) => t !== undefined) ? Math.max(...each) : null;
    }
    return { name: rule.name, at };
  });
}

/**
 * One run's result as a bench row: the first candle on the page (the
 * target), the first live tick on the page, then the first candle in the
 * JSON API and each phase of launch (these without `better`, so the
 * table's "ours" shows the first two; results.json and --compare have
 * all). Seconds since launch was started, to 0.1 s. Pure.
 *
 * @param result What the run measured.
 * @returns Row P6 (cold) or P6w (warm).
 *
 * @example
 * ```ts
 * import { firstCandleRow } from "./first_candle.ts";
 *
 * const row = firstCandleRow({
 *   run: "warm",
 *   firstCandleMs: 4210,
 *   firstLiveMs: 5020,
 *   apiMs: 3900,
 *   phases: [],
 *   freshTopic: false,
 * });
 * console.log(row.id, row.figures[0].value, row.met); // P6w 4.2 true
 * ```
 */
export function firstCandleRow(result: RunResult): BenchRow {
  const s = (ms: number | null) =>
    ms === null || !Number.isFinite(ms) ? null : Math.round(ms / 100) / 10;
  const cold = result.run === "cold";
  const fresh = result.freshTopic;
  const target = TARGET_S[result.run];
  const first = s(result.firstCandleMs);
  const figures: Figure[] = [
    {
      name: "first candle on the page",
      value: first,
      unit: "s",
      better: "lower",
    },
    {
      name: "first live tick on the page",
      value: s(result.firstLiveMs),
      unit: "s",
      better: "lower",
    },
    { name: "first candle in /api/candles", value: s(result.apiMs), unit: "s" },
    ...result.phases.map((p) => ({
      name: `phase: ${p.name}`,
      value: s(p.at),
      unit: "s",
    })),
  ];
  return {
    id: cold ? "P6" : "P6w",
    what: cold
      ? "launch → first candle on the chart page, cold: a private stack with nothing running and no data yet (Kafka jars and JDK present), launch starts it; Bitfinex double as the source, InfluxDB and Grafana doubles as the stack's programs; page opened once /api/candles has a candle"
      : `launch → first candle on the chart page, warm: the private stack already up (stack up), launch started ${
        fresh ? "on a new topic" : "again on the topic of the launch before"
      }; Bitfinex, InfluxDB and Grafana doubles; page opened once /api/candles has a candle`,
    setup: { ...SETUP, coldStack: cold ? 1 : 0, freshTopic: fresh ? 1 : 0 },
    figures,
    target: `≤ ${target} s`,
    met: first !== null && first <= target,
  };
}

async function eachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    const parts = buffer.split("\n");
    buffer = parts.pop()!;
    for (const line of parts) if (line.trim()) onLine(line);
  }
  if (buffer.trim()) onLine(buffer);
}

// ---------------------------------------------------------------------------
// The child: everything below runs only in `deno run bench/first_candle.ts`.

if (import.meta.main) {
  const { runs, timeoutSeconds } = JSON.parse(Deno.args[0] ?? "{}") as {
    runs: FirstCandleRun[];
    timeoutSeconds: number;
  };
  const results = await measure(
    runs ?? ["cold", "warm"],
    timeoutSeconds ?? 180,
  );
  console.log(JSON.stringify(results));
}

/** Makes the runs against one private stack; always leaves it down and removed. */
async function measure(
  runs: FirstCandleRun[],
  timeoutSeconds: number,
): Promise<RunResult[]> {
  const { privateStack, freePortRange } = await import(
    "../tests/launch/private_stack.ts"
  );
  const { writeStandIns } = await import("../tests/doubles/standins.ts");
  const { startBitfinexDouble } = await import(
    "../tests/doubles/bitfinex_double.ts"
  );
  const { launchChromium } = await import("../tests/browser.ts");
  const say = (line: string) => console.error(`P6: ${line}`);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, onSignal);
  }
  await using copy = await privateStack("first-candle-");
  await Deno.copyFile("launch.ts", `${copy.project}/launch.ts`);
  const standIns = await writeStandIns(`${copy.project}/.standins`);
  await using bitfinex = await startBitfinexDouble({
    tickMs: SETUP.bitfinexTickMs,
  });
  // InfluxDB, Grafana and the chart page: after the copy's registry ports.
  const influxPort = await freePortRange(3, copy.registryPort + 2);
  const chartPort = influxPort + 2;
  const env: Record<string, string> = {
    ...copy.env,
    PATH: standIns.path,
    HOME: Deno.env.get("HOME") ?? "/root",
    TMPDIR: "/tmp",
    ...(Deno.env.get("DENO_DIR")
      ? { DENO_DIR: Deno.env.get("DENO_DIR")! }
      : {}),
    INFLUX_HOST: `http://127.0.0.1:${influxPort}`,
    GRAFANA_URL: `http://127.0.0.1:${influxPort + 1}`,
    CHART_PORT: String(chartPort),
    SOURCE: "bitfinex-ws",
    BITFINEX_WS_URL: bitfinex.wsUrl,
    BITFINEX_REST_URL: bitfinex.restUrl,
  };
  await Deno.mkdir(".stack/first-candle-logs", { recursive: true });
  const browser = await launchChromium();
  const results: RunResult[] = [];
  try {
    let stackUp = false;
    let launched = false;
    for (const run of runs) {
      if (stop.signal.aborted) break;
      if (run === "warm" && !stackUp) {
        say("warm: stack up (not timed)");
        const up = await copy.run("stack", ["up"], env);
        if (up.code !== 0) {
          results.push(failed(run, `stack up: exit ${up.code}`, !launched));
          say(up.text.trim().split("\n").slice(-5).join("\n"));
          continue;
        }
      }
      if (run === "cold" && stackUp) {
        await copy.run("stack", ["down"], env);
      }
      say(`${run}: deno task launch --stack local`);
      const result = await oneRun(run, {
        freshTopic: !launched,
        project: copy.project,
        env,
        chartPort,
        browser,
        timeoutMs: timeoutSeconds * 1000,
        signal: stop.signal,
        say,
      });
      results.push(result);
      launched = true;
      say(summary(result));
      // launch stops on exit only what it started: after a warm run the
      // stack is still up, after a cold one it is down.
      stackUp = run === "warm";
    }
  } finally {
    await browser.close().catch(() => {});
    const down = await copy.run("stack", ["down"], env);
    if (down.code !== 0) say(`stack down: exit ${down.code}: ${down.text}`);
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.removeSignalListener(signal, onSignal);
    }
  }
  // One result per run asked for, even when stopped half-way.
  const left = runs.slice(results.length);
  return [...results, ...left.map((run) => failed(run, "stopped"))];
}

interface RunContext {
  /** No launch ran on this copy before: the topic is new. */
  freshTopic: boolean;
  project: string;
  env: Record<string, string>;
  chartPort: number;
  browser: import("playwright-core").Browser;
  timeoutMs: number;
  signal: AbortSignal;
  say: (line: string) => void;
}

/**
 * One launch, timed from its start: the chart's JSON API polled until it
 * has a tBTCUSD candle, then the page opened and read until it draws one,
 * then until a tick sent after launch started updates it; then Ctrl-C.
 */
async function oneRun(
  run: FirstCandleRun,
  context: RunContext,
): Promise<RunResult> {
  const { project, env, chartPort, browser, timeoutMs, signal, say } = context;
  const { freshTopic } = context;
  const lines: TimedLine[] = [];
  const startedAt = Date.now();
  const started = performance.now();
  const since = () => Math.round(performance.now() - started);
  const launch = new Deno.Command("deno", {
    args: ["task", "-q", "launch", "--stack", "local"],
    cwd: project,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const record = (text: string) => lines.push({ at: since(), text });
  const reading = Promise.all([
    eachLine(launch.stdout, record),
    eachLine(launch.stderr, record),
  ]);
  let exited: number | undefined;
  const ended = launch.status.then((s) => (exited = s.code));
  const base = `http://127.0.0.1:${chartPort}`;
  const api = `${base}/api/candles?coin=tBTCUSD&interval=1m&limit=1`;
  const deadline = Date.now() + timeoutMs;
  const going = () =>
    exited === undefined && !signal.aborted && Date.now() < deadline;
  let apiMs: number | null = null;
  let firstCandleMs: number | null = null;
  let firstLiveMs: number | null = null;
  let error: string | undefined;
  const page = await browser.newPage({
    viewport: { width: 1366, height: 768 },
  });
  try {
    while (going() && !(await hasCandle(api))) await sleep(SETUP.pagePollMs);
    if (going()) {
      apiMs = since();
      say(`${run}: a candle in /api/candles after ${seconds(apiMs)}`);
      await page.goto(`${base}/?coin=tBTCUSD&interval=1m`);
    }
    // After the first candle, up to 30 s more for the first live tick.
    let liveDeadline = deadline;
    while (going() && Date.now() < liveDeadline && firstLiveMs === null) {
      const seen = await page.evaluate((launchedAt) => {
        const g = globalThis as unknown as {
          chartData?: { latencies: number[] };
          chartView?: { candleSeries: { data(): readonly unknown[] } };
        };
        const now = Date.now();
        return {
          drawn: (g.chartView?.candleSeries.data().length ?? 0) > 0,
          // a latency is now − the tick's event time (at most): a tick
          // sent after launch started, not one read back from before
          live: (g.chartData?.latencies ?? []).some((l) =>
            now - l >= launchedAt
          ),
        };
      }, startedAt);
      if (seen.drawn && firstCandleMs === null) {
        firstCandleMs = since();
        liveDeadline = Date.now() + 30_000;
        say(`${run}: first candle on the page after ${seconds(firstCandleMs)}`);
      }
      if (seen.live) firstLiveMs = since();
      else await sleep(SETUP.pagePollMs);
    }
    if (firstCandleMs === null) {
      error = exited !== undefined
        ? `launch exited ${exited} before a candle was on the page`
        : signal.aborted
        ? "stopped"
        : `no candle on the page within ${timeoutMs / 1000} s`;
    }
  } catch (e) {
    error = (e as Error).message;
  } finally {
    await page.close().catch(() => {});
    try {
      launch.kill("SIGINT");
    } catch { /* it ended already */ }
    const kill = setTimeout(() => {
      try {
        launch.kill("SIGKILL");
      } catch { /* ended */ }
    }, 90_000);
    await ended;
    clearTimeout(kill);
    await reading;
    await Deno.writeTextFile(
      `.stack/first-candle-logs/${run}.log`,
      lines.map((l) => `${seconds(l.at).padStart(7)} ${l.text}`).join("\n") +
        "\n",
    );
  }
  if (error) {
    say(`${run}: ${error}; launch's last lines:`);
    for (const l of lines.slice(-15)) say(`  ${l.text}`);
  }
  return {
    run,
    firstCandleMs,
    firstLiveMs,
    apiMs,
    phases: launchPhases(lines, run),
    freshTopic,
    ...(error ? { error } : {}),
  };
}

function failed(
  run: FirstCandleRun,
  error: string,
  freshTopic = run === "cold",
): RunResult {
  return {
    run,
    firstCandleMs: null,
    firstLiveMs: null,
    apiMs: null,
    phases: launchPhases([], run),
    freshTopic,
    error,
  };
}

/** `cold: first candle 41.2 s (stack ready 30.1 s, schema ready 33.0 s, …)`. */
function summary(result: RunResult): string {
  const phases = result.phases.map((p) =>
    `${p.name} ${p.at === null ? "–" : seconds(p.at)}`
  ).join(", ");
  const first = result.firstCandleMs === null
    ? "no candle"
    : `first candle ${seconds(result.firstCandleMs)}`;
  const live = result.firstLiveMs === null
    ? ""
    : `, first live tick ${seconds(result.firstLiveMs)}`;
  const api = result.apiMs === null
    ? ""
    : `; in /api/candles ${seconds(result.apiMs)}`;
  return `${result.run}: ${first}${live}${api} (${phases})`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Whether `/api/candles?…&limit=1` answers with a candle. */
async function hasCandle(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    if (!response.ok) {
      await response.body?.cancel();
      return false;
    }
    return ((await response.json()).candles?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
