import assert from "node:assert/strict";
import {
  applyEvent,
  emptyStatus,
  statusLine,
  statusTable,
} from "@cryptocandles/launch";

Deno.test("launch's status shows the producer's backfill progress, then how long it took", () => {
  const status = emptyStatus("bitfinex-ws", ["tBTCUSD", "tETHUSD"]);
  assert.doesNotMatch(statusLine(status), /backfill/);
  applyEvent(status, "producer", {
    msg: "backfill: tBTCUSD 1440 candles, 0 pages left",
    pair: "tBTCUSD",
    candles: 1440,
    pagesLeft: 0,
  });
  applyEvent(status, "producer", {
    msg: "backfill: tETHUSD 10000 candles, 2 pages left",
    pair: "tETHUSD",
    candles: 10000,
    pagesLeft: 2,
  });
  assert.match(
    statusLine(status),
    / backfill=tBTCUSD:1440,tETHUSD:10000\(2 pages left\) running$/,
  );
  applyEvent(status, "producer", {
    msg: "backfill: done in 3.5 s",
    sent: { tBTCUSD: 1440, tETHUSD: 1440 },
    seconds: 3.5,
  });
  assert.match(statusLine(status), /backfill=.* done in 3\.5 s$/);
  assert.ok(
    statusTable(status).some((l) => l.startsWith("backfill: tBTCUSD:1440")),
  );
});
