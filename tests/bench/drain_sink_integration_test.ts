/**
 * bench/drain_sink.ts against the project's own InfluxDB client, on
 * 127.0.0.1 (no stack): what the consumer asks at start is answered, and
 * every written line is counted.
 *
 * @module
 */
import assert from "node:assert/strict";
import { waitForDatabase, writeLines } from "@cryptocandles/influx";
import { createLogger } from "@cryptocandles/runtime";
import { drainRate, startDrainSink } from "../../bench/drain_sink.ts";

Deno.test("the drain sink answers the consumer's start-up and counts every line written in chunks", async () => {
  await using sink = startDrainSink();
  const influx = { host: sink.url, database: "criptomonedas" };
  await waitForDatabase(influx, {
    log: createLogger("test", { write: () => {} }),
    signal: AbortSignal.timeout(10_000),
    tables: [{
      table: "t",
      tags: ["Coin"],
      fields: [{ name: "close", type: "float64" }],
    }],
  });
  const lines = Array.from(
    { length: 12_345 },
    (_, i) =>
      `criptomonedas,Coin=tBTCUSD close_price=${i} ${1718472300000 + i}`,
  );
  const rejected = await writeLines(lines, influx, { chunkLines: 5000 });
  assert.deepEqual(rejected, []);
  const stats = sink.stats();
  // 5,000 + 5,000 + 2,345
  assert.equal(stats.points, 12_345);
  assert.equal(stats.writes, 3);
  assert.equal(stats.firstPoints, 5000);
  assert.ok(drainRate(stats) > 0);
});
