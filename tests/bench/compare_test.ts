/**
 * `compareResults()` and `formatComparison()` of bench/compare.ts: two
 * hand-made results files, every expected change worked out by hand.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type BenchResults,
  type BenchRow,
  compareResults,
  formatComparison,
  parseResults,
  seriesSlope,
} from "../../bench/compare.ts";

function results(rows: BenchRow[], more: Partial<BenchResults> = {}) {
  return {
    schema: 2,
    date: "2026-11-25T22:17:24.449Z",
    quick: false,
    only: null,
    machine: { cpus: 2, memoryGiB: 24, os: "linux" },
    versions: { deno: "2.9.6", kafka: "4.3.1" },
    rows,
    ...more,
  } satisfies BenchResults;
}

const p1 = (producer: number | null, java: number): BenchRow => ({
  id: "P1",
  what: "producer",
  setup: { seconds: 30 },
  figures: [
    { name: "producer", value: producer, unit: "records/s", better: "higher" },
    {
      name: "Java ProducerPerformance",
      value: java,
      unit: "records/s",
      better: "higher",
      reference: true,
    },
  ],
  target: "≥ 0.5 × Java",
  met: true,
});

const p3 = (p99: number, walFlushIntervalMs: number): BenchRow => ({
  id: "P3",
  what: "latency",
  setup: { walFlushIntervalMs, seconds: 300 },
  figures: [{ name: "p99", value: p99, unit: "ms", better: "lower" }],
  target: "p99 ≤ 50 ms",
  met: true,
});

const p4 = (consumer: number): BenchRow => ({
  id: "P4",
  what: "memory",
  setup: { seconds: 300 },
  figures: [{ name: "consumer", value: consumer, unit: "MB", better: "lower" }],
  target: "consumer ≤ 100",
  met: true,
});

Deno.test("compareResults() gives each figure's change as a fraction of the base's", () => {
  const base = results([p1(31_134, 60_000), p4(75)]);
  const current = results([p1(33_020, 45_000), p4(60)]);
  const { figures, setup, notRun, context } = compareResults(base, current);
  // (33,020 − 31,134) / 31,134 = 1,886 / 31,134 = 0.060577…
  assert.equal(figures[0].change?.toFixed(5), "0.06058");
  // (45,000 − 60,000) / 60,000 = −0.25 exactly
  assert.equal(figures[1].change, -0.25);
  // (60 − 75) / 75 = −0.2 exactly
  assert.equal(figures[2].change, -0.2);
  assert.deepEqual(setup, []);
  assert.deepEqual(notRun, []);
  assert.deepEqual(context, []);
});

Deno.test("formatComparison() prints one line per figure, as 'P1 producer records/s 31,134 → 33,020 (+6.1 %)'", () => {
  const lines = formatComparison(
    compareResults(
      results([p1(31_134, 60_000), p4(75)]),
      results([p1(33_020, 45_000), p4(60)]),
    ),
  );
  assert.deepEqual(lines, [
    "P1 producer records/s 31,134 → 33,020 (+6.1 %)",
    "P1 Java ProducerPerformance records/s 60,000 → 45,000 (-25.0 %)",
    "P4 consumer MB 75 → 60 (-20.0 %)",
  ]);
});

Deno.test("formatComparison() names the conditions that differ before the row's figures", () => {
  const lines = formatComparison(
    compareResults(results([p3(21, 0)]), results([p3(1_260, 1_000)])),
  );
  assert.deepEqual(lines, [
    "P3 not like for like: walFlushIntervalMs 0 → 1,000",
    // (1,260 − 21) / 21 = 1,239 / 21 = 59 exactly: +5,900 %
    "P3 p99 ms 21 → 1,260 (+5900.0 %)",
  ]);
});

Deno.test("formatComparison() marks new and gone figures, unmeasured values and rows not run", () => {
  const gone: BenchRow = {
    ...p4(75),
    figures: [
      ...p4(75).figures,
      { name: "chart", value: 73, unit: "MB", better: "lower" },
    ],
  };
  const drain: BenchRow = {
    id: "P2d",
    what: "drain",
    setup: {},
    figures: [{
      name: "consumer",
      value: 123_456,
      unit: "points/s",
      better: "higher",
    }],
    target: "–",
    met: null,
  };
  const lines = formatComparison(compareResults(
    results([p1(31_134, 60_000), gone, p3(21, 0)]),
    results([p1(null, 60_000), p4(76), drain]),
  ));
  assert.deepEqual(lines, [
    "P1 producer records/s 31,134 → n/a (n/a)",
    "P1 Java ProducerPerformance records/s 60,000 → 60,000 (0.0 %)",
    // (76 − 75) / 75 = 0.01333… → +1.3 %
    "P4 consumer MB 75 → 76 (+1.3 %)",
    "P4 chart MB 73 → – (gone)",
    "P2d consumer points/s – → 123,456 (new)",
    "not in this run: P3",
  ]);
});

Deno.test("formatComparison() says when the machine or the versions differ, for the fields both runs name", () => {
  const base = results([p4(75)]);
  const current = results([p4(75)], {
    machine: { cpus: 4, memoryGiB: 24, os: "linux", osRelease: "6.8" },
    versions: { deno: "2.9.7", kafka: "4.3.1", java: "25.0.3" },
  });
  assert.deepEqual(formatComparison(compareResults(base, current)), [
    "machine or versions differ: cpus 2 → 4, deno 2.9.6 → 2.9.7",
    "P4 consumer MB 75 → 75 (0.0 %)",
  ]);
});

Deno.test("parseResults() refuses the old formatted strings with what to do", () => {
  const old = JSON.stringify({
    date: "2026-11-25T22:17:24.449Z",
    rows: [{ id: "P1", ours: "31,134" }],
  });
  assert.throws(
    () => parseResults(old, "bench/results.json"),
    (e: Error) =>
      e instanceof TypeError && /not in the bench's schema 2/.test(e.message) &&
      /run the bench again/.test(e.message),
  );
});

Deno.test("a row's series (P4's memory curve) is kept out of the comparison", () => {
  const curve = (consumer: number): BenchRow => ({
    ...p4(consumer),
    series: [{ minute: 1, consumer: 70 }, { minute: 2, consumer: consumer }],
  });
  assert.deepEqual(
    formatComparison(compareResults(results([p4(75)]), results([curve(60)]))),
    ["P4 consumer MB 75 → 60 (-20.0 %)"],
  );
});

Deno.test("seriesSlope() is the least-squares slope per 10 minutes, leaving out missing points", () => {
  // minutes 0, 1, 2, 3 at 70, 71, 71, 72 MB: mean time 1.5, mean 71;
  // Σ(t−1.5)(v−71) = (−1.5)(−1) + (−0.5)(0) + (0.5)(0) + (1.5)(1) = 3,
  // Σ(t−1.5)² = 2.25 + 0.25 + 0.25 + 2.25 = 5: 0.6 MB a minute, 6 per 10.
  const series = [
    { minute: 0, consumer: 70 },
    { minute: 1, consumer: 71 },
    { minute: 1.5, consumer: null },
    { minute: 2, consumer: 71 },
    { minute: 3, consumer: 72 },
  ];
  assert.equal(seriesSlope(series, "consumer")?.toFixed(9), "6.000000000");
  assert.equal(
    seriesSlope(series, "consumer", { per: 1 })?.toFixed(9),
    "0.600000000",
  );
  assert.equal(seriesSlope(series.slice(0, 1), "consumer"), null);
  assert.equal(seriesSlope(series, "chart"), null);
});
