/**
 * The functions a V8 CPU profile (`deno run --cpu-prof`, a `.cpuprofile`)
 * spent the most self time in, as `deno task bench --quick --cpu-prof`
 * prints them for the consumer of P2. Also a command:
 *
 *     deno run --allow-read bench/profile.ts bench/profiles/consumer-P2-….cpuprofile [--top=10]
 *
 * @module
 */

/** A V8 CPU profile as `--cpu-prof` writes it (the fields read here). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: {
      functionName: string;
      url: string;
      lineNumber: number;
      columnNumber?: number;
    };
  }[];
  startTime: number;
  endTime: number;
  /** Node id of each sample. */
  samples?: number[];
  /** Microseconds from the previous sample (the first: from `startTime`). */
  timeDeltas?: number[];
}

/** Self time of one function (all its call sites together). */
export interface FrameTime {
  /** `(anonymous)` for an unnamed function; `(garbage collector)`, `(program)` for V8's own. */
  functionName: string;
  /** The script, shortened by {@linkcode shortUrl}; empty for V8's own. */
  url: string;
  /** 1-based line; 0 for V8's own. */
  line: number;
  /** Milliseconds of samples in the function itself. */
  selfMs: number;
  /** Share of the busy time (every sample but `(idle)`), 0…1. */
  share: number;
}

/** What {@linkcode topSelfTime} returns. */
export interface SelfTimeSummary {
  /** Milliseconds the profile covers. */
  totalMs: number;
  /** Milliseconds not `(idle)`. */
  busyMs: number;
  /** The functions with the most self time, most first. */
  frames: FrameTime[];
}

/**
 * Sums each sample's time (until the next sample; the last until
 * `endTime`) into its function, grouped by name, script and line.
 *
 * @param profile The parsed `.cpuprofile`.
 * @param options How many frames, and the folder to strip from scripts' URLs.
 * @returns Total and busy time, and the top frames by self time.
 *
 * @example
 * ```ts ignore
 * const summary = topSelfTime(JSON.parse(await Deno.readTextFile(path)), { limit: 10 });
 * ```
 */
export function topSelfTime(
  profile: CpuProfile,
  options: { limit?: number; root?: string } = {},
): SelfTimeSummary {
  const { limit = 10, root = "" } = options;
  const { samples = [], timeDeltas = [] } = profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const times: number[] = [];
  let at = profile.startTime;
  for (const delta of timeDeltas) times.push(at += delta);
  const self = new Map<string, FrameTime>();
  let totalUs = 0;
  let idleUs = 0;
  samples.forEach((id, i) => {
    const us = Math.max(0, (times[i + 1] ?? profile.endTime) - times[i]);
    const frame = nodes.get(id);
    if (!frame) return;
    totalUs += us;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      return;
    }
    const key = `${frame.functionName}\0${frame.url}\0${frame.lineNumber}`;
    const entry = self.get(key) ?? {
      functionName: frame.functionName || "(anonymous)",
      url: shortUrl(frame.url, root),
      line: frame.url ? frame.lineNumber + 1 : 0,
      selfMs: 0,
      share: 0,
    };
    entry.selfMs += us / 1000;
    self.set(key, entry);
  });
  const busyMs = (totalUs - idleUs) / 1000;
  const frames = [...self.values()]
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, limit)
    .map((f) => ({ ...f, share: busyMs > 0 ? f.selfMs / busyMs : 0 }));
  return { totalMs: totalUs / 1000, busyMs, frames };
}

/**
 * A script's URL without `file://<root>/`, and an npm package's files as
 * `npm:<package>/…`.
 *
 * @param url As in the profile, such as `file:///p/node_modules/.deno/kafkajs@2.2.4/node_modules/kafkajs/src/index.js`.
 * @param root The project folder, such as `/p`.
 * @returns Such as `npm:kafkajs@2.2.4/src/index.js`.
 *
 * @example
 * ```ts
 * import { shortUrl } from "./profile.ts";
 * shortUrl("file:///p/shared/sink/sink.ts", "/p"); // "shared/sink/sink.ts"
 * ```
 */
export function shortUrl(url: string, root: string): string {
  const local = root && url.startsWith(`file://${root}/`)
    ? url.slice(`file://${root}/`.length)
    : url;
  return local.replace(
    /^node_modules\/\.deno\/([^/]+)\/node_modules\/(@[^/]+\/)?[^/]+\//,
    (_m, version: string) => `npm:${version.replace(/\+/, "/")}/`,
  );
}

/**
 * The summary as a Markdown table for people.
 *
 * @param summary From {@linkcode topSelfTime}.
 * @returns Lines: the busy time, then a table of function, file and share.
 *
 * @example
 * ```ts ignore
 * console.log(formatSelfTime(topSelfTime(profile)).join("\n"));
 * ```
 */
export function formatSelfTime(summary: SelfTimeSummary): string[] {
  return [
    `busy ${Math.round(summary.busyMs)} ms of ${
      Math.round(summary.totalMs)
    } ms profiled; self time as a share of busy time:`,
    "| self % | self ms | function | file:line |",
    "| ---: | ---: | --- | --- |",
    ...summary.frames.map((f) =>
      `| ${(f.share * 100).toFixed(1)} | ${Math.round(f.selfMs)} | \`${
        f.functionName.replaceAll("|", "\\|")
      }\` | ${f.url ? `${f.url}:${f.line}` : "(V8)"} |`
    ),
  ];
}

if (import.meta.main) {
  const path = Deno.args.find((a) => !a.startsWith("--"));
  if (!path) {
    console.error(
      "usage: deno run --allow-read bench/profile.ts FILE.cpuprofile [--top=10]",
    );
    Deno.exit(2);
  }
  const top = Number(
    Deno.args.find((a) => a.startsWith("--top="))?.slice(6) ?? 10,
  );
  const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
  const summary = topSelfTime(profile, { limit: top, root: Deno.cwd() });
  console.log(formatSelfTime(summary).join("\n"));
}
