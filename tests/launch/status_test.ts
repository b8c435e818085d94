import assert from "node:assert/strict";
import {
  applyEvent,
  emptyStatus,
  statusLine,
  statusTable,
} from "@cryptocandles/launch";

Deno.test("statusLine() sums produced and written over runs and shows the slowest consumer's p99", () => {
  const status = emptyStatus("synthetic", ["tBTCUSD", "tETHUSD"]);
  applyEvent(status, "producer", {
    msg: "acknowledged 5 records",
    acked: { tBTCUSD: 3, tETHUSD: 2 },
    last: { tBTCUSD: [66_012.5, 1_000], tETHUSD: [3_501.25, 1_000] },
  });
  applyEvent(status, "consumer-1", {
    msg: "wrote",
    written: { tBTCUSD: 3 },
    lag: 1,
    latencyMs: { p50: 90, p99: 120 },
  });
  applyEvent(status, "consumer-2", {
    msg: "wrote",
    written: { tETHUSD: 1 },
    lag: 2,
    latencyMs: { p50: 150, p99: 340 },
  });
  // A consumer's stats before its first write carry no latency yet.
  applyEvent(status, "consumer-3", {
    msg: "wrote",
    written: {},
    latencyMs: { p50: undefined, p99: undefined },
  });
  assert.equal(
    statusLine(status),
    "status: source=synthetic tBTCUSD=66012.50 produced=3 written=3 | tETHUSD=3501.25 produced=2 written=1 lag=3 p99=340ms members=0",
  );
  assert.match(statusTable(status, 2_000)[0], /tick → point p99: 340 ms$/);
});

Deno.test("statusLine() shows no latency before a consumer reports one", () => {
  const status = emptyStatus("synthetic", ["tBTCUSD"]);
  assert.doesNotMatch(statusLine(status), /p99/);
  assert.doesNotMatch(statusTable(status)[0], /p99/);
});
