/**
 * `countLines()` and `drainRate()` of bench/drain_sink.ts, without the
 * network (the sink itself: drain_sink_integration_test.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import { countLines, drainRate } from "../../bench/drain_sink.ts";

Deno.test("countLines() counts a last line without a newline, across chunks", async () => {
  const body = (...parts: string[]) =>
    ReadableStream.from(parts.map((p) => new TextEncoder().encode(p)));
  assert.equal(await countLines(body("a 1\nb", " 2\nc 3")), 3);
  assert.equal(await countLines(body("a 1\n", "b 2\n")), 2);
  assert.equal(await countLines(body("")), 0);
  assert.equal(await countLines(null), 0);
});

Deno.test("drainRate() leaves the first write's points out, timing from its end", () => {
  // (15,000 − 5,000) points / 0.1 s = 100,000 points/s
  assert.equal(
    drainRate({
      points: 15_000,
      writes: 3,
      firstPoints: 5000,
      firstAt: 1000,
      lastAt: 1100,
    }),
    100_000,
  );
  assert.ok(Number.isNaN(drainRate({ points: 5, writes: 1, firstPoints: 5 })));
});
