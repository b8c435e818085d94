/**
 * The chart server's candle updates to open pages: a burst of updates (the
 * chart catching up on a backlog) reaches a page as one event per candle,
 * the newest, in time order; updates apart in time each reach it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { waitFor } from "../support.ts";
import {
  type Candle,
  type ChartClient,
  createCandleStore,
  createChartServer,
} from "@cryptocandles/chart";

function chartServer() {
  const controller = new AbortController();
  const chart = createChartServer({
    store: createCandleStore(),
    state: { source: "synthetic", last: {}, ticks: 0, coins: ["tBTCUSD"] },
    pageDir: new URL("../../scripts/chart_page/", import.meta.url),
    libraryFile: new URL("file:///nowhere.js"),
    signal: controller.signal,
  });
  const sent: { event: string; data: { candle: Candle } }[] = [];
  const client: ChartClient = {
    coin: "tBTCUSD",
    interval: "1m",
    pipeline: false,
    send: (event, data) =>
      sent.push({ event, data: data as { candle: Candle } }),
  };
  chart.clients.add(client);
  return { chart, sent, controller };
}

function candle(time: number, close: number): Candle {
  return { time, open: 100, high: 200, low: 50, close, volume: 1 };
}

/** Waits until the page has `n` events (they come at the next macrotask). */
const eventsReach = (sent: unknown[], n: number) =>
  waitFor(`${n} events`, () => sent.length >= n, {
    timeoutMs: 5000,
    everyMs: 1,
  });

Deno.test("publish(): 1,000 updates in one burst reach a page as one event per candle, the newest, in time order", async () => {
  const { chart, sent, controller } = chartServer();
  const minute = 60_000;
  // 1,000 ticks over 3 minutes, as a catch-up delivers them: minute 2 last.
  for (let i = 0; i < 1000; i++) {
    const time = Math.floor((i * 3) / 1000) * minute;
    chart.publish("tBTCUSD", [{ interval: "1m", candle: candle(time, i) }]);
    chart.publish("tETHUSD", [{ interval: "1m", candle: candle(time, -i) }]);
  }
  assert.equal(sent.length, 0, "nothing sent inside the burst");
  await eventsReach(sent, 3); // one flush: exactly these three, below
  assert.deepEqual(
    sent.map((s) => [s.event, s.data.candle.time, s.data.candle.close]),
    [
      ["candle", 0, 333], // ticks 0-333 fall in minute 0
      ["candle", minute, 666],
      ["candle", 2 * minute, 999],
    ],
  );
  controller.abort();
});

Deno.test("publish(): updates apart in time each reach the page", async () => {
  const { chart, sent, controller } = chartServer();
  for (const [i, close] of [1, 2, 3].entries()) {
    chart.publish("tBTCUSD", [{ interval: "1m", candle: candle(0, close) }]);
    await eventsReach(sent, i + 1);
  }
  assert.deepEqual(sent.map((s) => s.data.candle.close), [1, 2, 3]);
  controller.abort();
});
