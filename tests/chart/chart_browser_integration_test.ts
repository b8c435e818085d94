import assert from "node:assert/strict";
import { launchChromium } from "../browser.ts";
import { freePort, runScript, uniqueName, waitFor } from "../support.ts";

const PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write=tests/out",
];

/** Spawns a script in the background with `env` only; returns the child. */
function spawnScript(
  script: string,
  env: Record<string, string>,
): Deno.ChildProcess {
  return new Deno.Command("deno", {
    args: ["run", ...PERMISSIONS, script],
    env: { PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  await child.status;
}

Deno.test("chart page shows live candles from the real stack, follows the coin selector and matches the JSON API", async () => {
  const topic = uniqueName("t-chart");
  const port = freePort();
  const env = {
    KAFKA_TOPIC: topic,
    SOURCE: "synthetic",
    SYNTHETIC_RATE: "5",
    CHART_PORT: String(port),
  };
  const setup = await runScript("scripts/setup-schema.ts", [], env);
  assert.equal(setup.code, 0, setup.stderr);
  const producer = spawnScript("scripts/producer.ts", env);
  let chart = spawnScript("scripts/chart.ts", env);
  const browser = await launchChromium();
  await Deno.mkdir("tests/out", { recursive: true });
  try {
    const page = await browser.newPage({
      viewport: { width: 1366, height: 768 },
    });
    const url = `http://127.0.0.1:${port}/?coin=tBTCUSD&interval=1m`;
    await waitFor(
      "the chart server",
      () => fetch(url).then((r) => (r.body?.cancel(), r.ok), () => false),
    );
    await page.goto(url);
    const first = await waitFor(
      "candles on the page",
      () =>
        page.evaluate(() => {
          const data = (globalThis as unknown as {
            chartData?: { coin: string; candles: unknown[] };
          }).chartData;
          // Until app.js has run, there is no chartData yet.
          return data && data.candles.length > 0 ? data : undefined;
        }),
      { timeoutMs: 30_000 },
    );
    assert.equal(first.coin, "tBTCUSD");
    // History candles can come before the first live tick, which names the
    // source (its record header).
    await waitFor(
      "the source named on the page",
      async () => /synthetic/.test(await page.textContent("#source") ?? ""),
      { timeoutMs: 30_000 },
    );
    assert.equal(await page.textContent("#state"), "live");
    // BTC with its pair's precision: two decimals, thousands separated.
    assert.match(
      await page.textContent("#price") ?? "",
      /^\d{1,3}(,\d{3})+\.\d{2}$/,
    );
    // Volume bars stay below the candles and put no label on the price scale.
    const layout = await page.evaluate(() => {
      const v = globalThis as unknown as {
        chartView: {
          candleSeries: { priceToCoordinate(p: number): number | null };
          volumeSeries: { options(): Record<string, unknown> };
          chart: {
            paneSize(): { height: number };
            timeScale(): { getVisibleRange(): { from: number; to: number } };
          };
          VOLUME_TOP: number;
        };
        chartData: { candles: { low: number; time: number }[] };
      };
      // the candles in view (the history before them is scrolled off)
      const { from, to } = v.chartView.chart.timeScale().getVisibleRange();
      const lows = v.chartData.candles
        .filter((c) => c.time / 1000 >= from && c.time / 1000 <= to)
        .map((c) => c.low);
      return {
        lowest: v.chartView.candleSeries.priceToCoordinate(Math.min(...lows)),
        volumeTop: v.chartView.chart.paneSize().height * v.chartView.VOLUME_TOP,
        lastValueVisible: v.chartView.volumeSeries.options().lastValueVisible,
        priceLineVisible: v.chartView.volumeSeries.options().priceLineVisible,
      };
    });
    assert.equal(layout.lastValueVisible, false);
    assert.equal(layout.priceLineVisible, false);
    assert.ok(
      layout.lowest !== null && layout.lowest < layout.volumeTop,
      `candles end above the volume area (${layout.lowest} < ${layout.volumeTop})`,
    );

    await page.selectOption("#coin", "tETHUSD");
    const eth = await waitFor("tETHUSD candles", () =>
      page.evaluate(() => {
        const data = (globalThis as unknown as {
          chartData: { coin: string; candles: { close: number }[] };
        })
          .chartData;
        return data.coin === "tETHUSD" && data.candles.length > 0
          ? data
          : undefined;
      }));
    assert.ok(eth.candles[0].close < 10_000, "ETH prices, not BTC's");

    // The page's data and the JSON endpoint, read at the same moment in the page.
    const both = await page.evaluate(async () => {
      const api = await (await fetch("/api/candles?coin=tETHUSD&interval=1m"))
        .json();
      const shown =
        (globalThis as unknown as { chartData: { candles: unknown[] } })
          .chartData.candles;
      return { api: api.candles, shown: JSON.parse(JSON.stringify(shown)) };
    });
    assert.ok(both.api.length > 0);
    const done = (list: { time: number }[]) => list.slice(0, -1);
    // the page holds the newest candles (history included); older ones
    // load as it scrolls left (chart_history_browser_integration_test.ts)
    assert.deepEqual(
      done(both.shown),
      done(both.api.slice(-both.shown.length)),
    );
    assert.equal(both.shown.at(-1).time, both.api.at(-1).time);
    await page.screenshot({ path: "tests/out/chart-1366x768.png" });
    assert.equal(
      await page.textContent("#state"),
      "live",
      "live while updating",
    );
    // Samples from now on: those before include the chart's catch-up on
    // the ticks sent while it started (seconds old when drawn).
    await page.evaluate("globalThis.chartData.latencies = []");
    const latencies = await waitFor(
      "20 live updates",
      () =>
        page.evaluate<number[] | false>(
          "globalThis.chartData.latencies.length >= 20 && globalThis.chartData.latencies",
        ),
    );
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      `tick → candle on the page: median ${
        sorted[Math.floor(sorted.length / 2)]
      } ms over ${sorted.length} ticks`,
    );

    await page.setViewportSize({ width: 390, height: 844 });
    // Laid out at the new width: the resize seen, then two frames drawn.
    await page.waitForFunction("window.innerWidth === 390");
    await page.evaluate(
      "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))",
    );
    const overflow = await page.evaluate<number>(
      "document.documentElement.scrollWidth - window.innerWidth",
    );
    assert.ok(
      overflow <= 0,
      `no horizontal scroll at phone width (overflow ${overflow}px)`,
    );
    await page.screenshot({ path: "tests/out/chart-390x844.png" });

    // The server restarts: the page says so, then recovers by itself.
    await stop(chart);
    await waitFor(
      "the page to notice the server is gone",
      () =>
        page.evaluate(() =>
          (globalThis as unknown as { chartData: { state: string } }).chartData
            .state === "down"
        ),
    );
    chart = spawnScript("scripts/chart.ts", env);
    await waitFor("the page to reconnect", () =>
      page.evaluate(() => {
        const data = (globalThis as unknown as {
          chartData: { state: string; candles: unknown[] };
        }).chartData;
        return data.state === "live" && data.candles.length > 0;
      }), { timeoutMs: 30_000 });
  } finally {
    await browser.close();
    await stop(chart);
    await stop(producer);
  }
});
