/**
 * The shape of bench/results.json and the comparison of two runs: each
 * figure of this run next to the same figure (same row id, same name) of a
 * base run, as the change in percent. Pure: no files, no clock.
 *
 * @module
 */

/** One measured number of a row. */
export interface Figure {
  /** What was measured, such as `producer`, `p99` or `Java ProducerPerformance`. */
  name: string;
  /** The value in `unit`; null when it could not be measured. */
  value: number | null;
  /** Its unit, such as `records/s`, `points/s`, `ms` or `MB`. */
  unit: string;
  /** Which way is better; omitted for counts (the ticks a latency rests on). */
  better?: "higher" | "lower";
  /** True for a reference: another program measured in the same run (Kafka's Java tools, P2 beside P2d). */
  reference?: boolean;
}

/** One row of the bench table. */
export interface BenchRow {
  /** `P1`, `P2`, `P2d`, `P3`, `P3s`, `P4`. */
  id: string;
  /** What the row measures, for people. */
  what: string;
  /** The conditions, as numbers (seconds run, records filled, WAL flush interval); two runs compare like for like when these match. */
  setup: Record<string, number>;
  /** The measurements, ours first, then the references. */
  figures: Figure[];
  /** The target, for people, such as `≥ 0.5 × Java`; `–` when none. */
  target: string;
  /** Whether the target was met; null when there is none. */
  met: boolean | null;
  /**
   * A curve measured during the row's run, one point per sample, such as
   * P4's resident memory every minute: `{ minute: 1, producer: 68,
   * consumer: 74, chart: 71 }` (MB; null when not measured). Not compared.
   */
  series?: Record<string, number | null>[];
}

/** What bench/results.json holds (schema 2). */
export interface BenchResults {
  /** 2: figures as numbers with units (1 was the formatted strings). */
  schema: 2;
  /** When the run started, ISO 8601 in UTC. */
  date: string;
  /** A `--quick` run (smaller sizes). */
  quick: boolean;
  /** The rows asked for with `--only`, or null for all. */
  only: string[] | null;
  /** The machine it ran on. */
  machine: {
    cpus: number;
    memoryGiB: number;
    os: string;
    arch?: string;
    osRelease?: string;
  };
  /** Versions of what ran: deno, kafka, java, python, kafkajs, avsc … */
  versions: Record<string, string>;
  rows: BenchRow[];
}

/** One figure of this run against the base's. */
export interface FigureChange {
  id: string;
  name: string;
  unit: string;
  /** The base's value; undefined when the base has no such figure. */
  before: number | null | undefined;
  /** This run's value; undefined when this run has no such figure. */
  after: number | null | undefined;
  /** (after − before) / before; null when either is missing or before is 0. */
  change: number | null;
}

/** A condition of a row that differs between the runs. */
export interface SetupChange {
  id: string;
  key: string;
  before: number | undefined;
  after: number | undefined;
}

/** What {@linkcode compareResults} finds. */
export interface Comparison {
  /** Every figure of this run's rows (and figures gone from them), in this run's order. */
  figures: FigureChange[];
  /** Conditions that differ, by row: those rows do not compare like for like. */
  setup: SetupChange[];
  /** Rows of the base this run did not measure. */
  notRun: string[];
  /** Machine and version fields both runs name that differ, such as `cpus 2 → 4`. */
  context: string[];
}

/**
 * Compares this run's results with a base run's, figure by figure (matched
 * by row id and figure name).
 *
 * @param base The run to compare against (the committed bench/results.json).
 * @param current This run.
 * @returns The changes, differing conditions, rows not run, and machine or version differences.
 *
 * @example
 * ```ts ignore
 * const comparison = compareResults(base, current);
 * for (const line of formatComparison(comparison)) console.log(line);
 * ```
 */
export function compareResults(
  base: BenchResults,
  current: BenchResults,
): Comparison {
  const baseRows = new Map(base.rows.map((r) => [r.id, r]));
  const figures: FigureChange[] = [];
  const setup: SetupChange[] = [];
  for (const row of current.rows) {
    const old = baseRows.get(row.id);
    const oldFigures = new Map(old?.figures.map((f) => [f.name, f]) ?? []);
    for (const figure of row.figures) {
      const before = oldFigures.get(figure.name)?.value;
      oldFigures.delete(figure.name);
      figures.push({
        id: row.id,
        name: figure.name,
        unit: figure.unit,
        before,
        after: figure.value,
        change: typeof before === "number" && before !== 0 &&
            typeof figure.value === "number"
          ? (figure.value - before) / before
          : null,
      });
    }
    for (const gone of oldFigures.values()) {
      figures.push({
        id: row.id,
        name: gone.name,
        unit: gone.unit,
        before: gone.value,
        after: undefined,
        change: null,
      });
    }
    if (!old) continue;
    const keys = new Set([
      ...Object.keys(old.setup),
      ...Object.keys(row.setup),
    ]);
    for (const key of keys) {
      if (old.setup[key] !== row.setup[key]) {
        setup.push({
          id: row.id,
          key,
          before: old.setup[key],
          after: row.setup[key],
        });
      }
    }
  }
  const ran = new Set(current.rows.map((r) => r.id));
  return {
    figures,
    setup,
    notRun: base.rows.map((r) => r.id).filter((id) => !ran.has(id)),
    context: [
      ...differences(base.machine, current.machine),
      ...differences(base.versions, current.versions),
    ],
  };
}

/**
 * The comparison as lines for people: context first, then per row the
 * conditions that differ, then one line per figure such as
 * `P1 producer records/s 31,134 → 33,020 (+6.1 %)`.
 *
 * @param comparison From {@linkcode compareResults}.
 * @returns The lines, without newlines.
 *
 * @example
 * ```ts ignore
 * console.log(formatComparison(compareResults(base, current)).join("\n"));
 * ```
 */
export function formatComparison(comparison: Comparison): string[] {
  const lines: string[] = [];
  if (comparison.context.length > 0) {
    lines.push(`machine or versions differ: ${comparison.context.join(", ")}`);
  }
  let row = "";
  for (const f of comparison.figures) {
    if (f.id !== row) {
      row = f.id;
      const setup = comparison.setup.filter((s) => s.id === row);
      if (setup.length > 0) {
        lines.push(
          `${row} not like for like: ${
            setup.map((s) =>
              `${s.key} ${formatValue(s.before)} → ${formatValue(s.after)}`
            ).join(", ")
          }`,
        );
      }
    }
    const change = f.before === undefined
      ? "new"
      : f.after === undefined
      ? "gone"
      : f.change === null
      ? "n/a"
      : formatPercent(f.change);
    lines.push(
      `${f.id} ${f.name} ${f.unit} ${formatValue(f.before)} → ${
        formatValue(f.after)
      } (${change})`,
    );
  }
  if (comparison.notRun.length > 0) {
    lines.push(`not in this run: ${comparison.notRun.join(", ")}`);
  }
  return lines;
}

/**
 * The least-squares slope of one value of a series against another (its
 * time), per `per` units of time: how fast resident memory grows, say.
 * Points where either is missing are left out.
 *
 * @param series The points, such as P4's `series`.
 * @param name The value, such as `consumer`.
 * @param options `x`, the time's name (default `minute`); `per`, the span the slope is given for (default 10).
 * @returns The slope per `per` units of `x`; null with fewer than two distinct times.
 *
 * @example
 * ```ts ignore
 * // MB per 10 minutes
 * seriesSlope([{ minute: 1, chart: 70 }, { minute: 2, chart: 71 }], "chart"); // 10
 * ```
 */
export function seriesSlope(
  series: Record<string, number | null>[],
  name: string,
  { x = "minute", per = 10 }: { x?: string; per?: number } = {},
): number | null {
  const points = series.flatMap((p) => {
    const [t, v] = [p[x], p[name]];
    return typeof t === "number" && Number.isFinite(t) &&
        typeof v === "number" && Number.isFinite(v)
      ? [[t, v]]
      : [];
  });
  const mean = (i: 0 | 1) =>
    points.reduce((sum, p) => sum + p[i], 0) / points.length;
  const [mt, mv] = [mean(0), mean(1)];
  let spread = 0;
  let together = 0;
  for (const [t, v] of points) {
    spread += (t - mt) ** 2;
    together += (t - mt) * (v - mv);
  }
  return spread > 0 ? (together / spread) * per : null;
}

/**
 * Reads results from JSON text, refusing another shape with a line that
 * says what to do.
 *
 * @param text The file's content.
 * @param path Its path, for the error.
 * @returns The results.
 * @throws {TypeError} When it is not schema 2 (such as the old formatted strings).
 *
 * @example
 * ```ts ignore
 * const base = parseResults(await Deno.readTextFile("bench/results.json"), "bench/results.json");
 * ```
 */
export function parseResults(text: string, path: string): BenchResults {
  let data: Partial<BenchResults>;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new TypeError(`Cannot compare with ${path} as it is not JSON`, {
      cause,
    });
  }
  if (
    data.schema !== 2 || !Array.isArray(data.rows) ||
    !data.rows.every((r) => Array.isArray(r.figures))
  ) {
    throw new TypeError(
      `Cannot compare with ${path} as it is not in the bench's schema 2 (figures as numbers): run the bench again to write it`,
    );
  }
  return data as BenchResults;
}

/**
 * A figure for people: thousands separated, one decimal below 10.
 *
 * @param value The number; undefined when absent, null when not measured.
 * @returns `31,134`, `8`, `0.5`; `–` when absent, `n/a` when not measured.
 *
 * @example
 * ```ts ignore
 * formatValue(31134.4); // "31,134"
 * ```
 */
export function formatValue(value: number | null | undefined): string {
  if (value === undefined) return "–";
  if (value === null || !Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", {
    maximumFractionDigits: Math.abs(value) < 10 ? 1 : 0,
  });
}

/** `+6.1 %`, `-20.0 %`, `0.0 %` for a fraction. */
function formatPercent(fraction: number): string {
  const percent = Math.round(fraction * 1000) / 10;
  const sign = percent > 0 ? "+" : "";
  return `${sign}${(percent === 0 ? 0 : percent).toFixed(1)} %`;
}

/** `key a → b` for each key both records name with different values. */
function differences(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): string[] {
  return Object.keys(after)
    .filter((k) =>
      before[k] !== undefined && after[k] !== undefined &&
      before[k] !== after[k]
    )
    .map((k) => `${k} ${before[k]} → ${after[k]}`);
}
