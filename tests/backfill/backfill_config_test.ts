import assert from "node:assert/strict";
import { loadConfig, parseFlags } from "@cryptocandles/config";

const backfillOf = (value?: string) =>
  loadConfig(new Map(value === undefined ? [] : [["BACKFILL", value]]))
    .producer.backfillMs;

Deno.test("BACKFILL is 24 h by default, 0 turns it off, and takes minutes, hours or days", () => {
  assert.equal(backfillOf(), 24 * 3_600_000);
  assert.equal(backfillOf("0"), 0);
  assert.equal(backfillOf("90m"), 90 * 60_000);
  assert.equal(backfillOf("3d"), 3 * 86_400_000);
  const { overrides } = parseFlags(["--backfill", "2h"]);
  assert.equal(loadConfig(new Map(), overrides).producer.backfillMs, 7_200_000);
});

Deno.test("a bad BACKFILL is one line naming the variable and what it takes", () => {
  for (const bad of ["24", "1w", "-1h", "31d", "h"]) {
    assert.throws(
      () => backfillOf(bad),
      (e: Error) =>
        e instanceof TypeError &&
        e.message.startsWith("BACKFILL must be 0 or a duration such as 90m"),
      bad,
    );
  }
});
