import assert from "node:assert/strict";
import {
  compareRecords,
  type FaultRow,
  faultsTable,
} from "../../bench/faults/counts.ts";

Deno.test("compareRecords counts a record twice in Kafka as a duplicate, not as an extra point", () => {
  const records = ["tBTCUSD 1", "tBTCUSD 1", "tETHUSD 1", "tETHUSD 2"];
  const points = ["tBTCUSD 1", "tETHUSD 1", "tETHUSD 2"];
  assert.deepEqual(compareRecords(records, points), {
    kafka: 4,
    points: 3,
    missing: 0,
    extra: 0,
    kafkaDuplicates: 1,
    notInKafka: 0,
  });
});

Deno.test("compareRecords names records without a point as missing and points without a record as extra", () => {
  const records = ["a 1", "a 2", "b 1"];
  const points = ["a 1", "c 9"];
  const c = compareRecords(records, points);
  assert.equal(c.missing, 2); // a 2, b 1
  assert.equal(c.extra, 1); // c 9
});

Deno.test("compareRecords leaves the row's poison out of missing and duplicates", () => {
  const records = ["poison-x 0", "poison-x 0", "a 1"];
  const c = compareRecords(records, ["a 1"], (r) => !r.startsWith("poison"));
  assert.equal(c.kafka, 3, "every record in the topic");
  assert.equal(c.missing, 0);
  assert.equal(c.kafkaDuplicates, 0);
});

Deno.test("faultsTable has one line per row with numbers grouped and pipes escaped", () => {
  const row: FaultRow = {
    id: "R4",
    produced: 12345,
    acked: 12345,
    kafka: 12345,
    points: 12340,
    missing: 5,
    extra: 0,
    kafkaDuplicates: 0,
    dlq: 0,
    seconds: 140,
    ok: false,
    note: "a | b",
  };
  const lines = faultsTable([row]).split("\n");
  assert.equal(lines.length, 3);
  assert.equal(
    lines[2],
    "| R4 | 12,345 | 12,345 | 12,345 | 12,340 | 5 | 0 | 0 | 0 | 140 | **no** | a \\| b |",
  );
});

Deno.test("compareRecords counts acknowledgements beyond the distinct records Kafka holds as missing", () => {
  // 5 acknowledged, Kafka holds 3 distinct good ones (one of them twice).
  const c = compareRecords(
    ["a 1", "a 1", "a 2", "b 1"],
    ["a 1", "a 2", "b 1"],
    () => true,
    5,
  );
  assert.equal(c.notInKafka, 2);
  assert.equal(c.missing, 2);
  assert.equal(c.kafkaDuplicates, 1);
});
