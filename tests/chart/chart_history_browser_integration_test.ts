/**
 * The chart page opens on history: the producer backfills 24 h from the
 * Bitfinex double's candles endpoint into `<topic>.candles`, the chart server
 * reads it, and the page shows ≥ 280 five-minute candles; the first live
 * tick (the double's snapshot on subscribe, nothing after it) extends the
 * last candle; older candles load when scrolling left; times follow the
 * viewer's zone with a UTC switch. Screenshots in tests/out/.
 *
 * @module
 */
import assert from "node:assert/strict";
import { launchChromium } from "../browser.ts";
import { startBitfinexDouble } from "../doubles/bitfinex_double.ts";
import { spawnScript } from "../processes.ts";
import {
  cleanupLater,
  freePort,
  runScript,
  uniqueName,
  waitFor,
} from "../support.ts";

const M = 60_000;
const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read"];

interface PageCandle {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}
type ChartData = { coin: string; interval: string; candles: PageCandle[] };

Deno.test("chart page opens on 24 h of history (≥ 280 five-minute candles), the first live tick extends the last candle, older candles load on scrolling left", async () => {
  // One tick per subscription (the snapshot): the first live tick is the only one.
  await using double = await startBitfinexDouble({ tickMs: 3_600_000 });
  const topic = uniqueName("t-chart-history");
  await using _cleanup = cleanupLater([topic]);
  const port = freePort();
  const env = {
    KAFKA_TOPIC: topic,
    SOURCE: "bitfinex-ws",
    BITFINEX_WS_URL: double.wsUrl,
    BITFINEX_REST_URL: double.restUrl,
    COINS: "tBTCUSD,tETHUSD",
    BACKFILL: "24h",
    CHART_PORT: String(port),
    LOG_FORMAT: "json",
  };
  const setup = await runScript("scripts/setup-schema.ts", [], env);
  assert.equal(setup.code, 0, setup.stderr);
  await using producer = spawnScript("scripts/producer.ts", {
    env,
    permissions: PERMISSIONS,
  });
  await producer.waitForLog(
    "the backfill",
    (l) => l.msg.startsWith("backfill: done"),
    { timeoutMs: 60_000 },
  );
  await waitFor("the first live tick", () => double.sent.length >= 2);
  await using chart = spawnScript("scripts/chart.ts", {
    env,
    permissions: PERMISSIONS,
  });
  await chart.waitForLog(
    "the chart server",
    (l) => l.msg.startsWith("serving"),
  );
  const browser = await launchChromium();
  await Deno.mkdir("tests/out", { recursive: true });
  try {
    const page = await browser.newPage({
      viewport: { width: 1366, height: 768 },
      timezoneId: "Asia/Tokyo", // UTC+9, so local and UTC labels differ
    });
    const data = () =>
      page.evaluate(() =>
        (globalThis as unknown as { chartData?: ChartData }).chartData
      );
    const open = async (interval: string, min: number) => {
      await page.goto(
        `http://127.0.0.1:${port}/?coin=tBTCUSD&interval=${interval}`,
      );
      return await waitFor(`${min} ${interval} candles`, async () => {
        const d = await data();
        return d && d.interval === interval && d.candles.length >= min
          ? d
          : undefined;
      }, { timeoutMs: 30_000 });
    };

    // 5 minutes: 24 h of history is at least 280 candles (288 minus the
    // double's minutes without trades at the start)
    const fiveMinutes = await open("5m", 280);
    const candles = fiveMinutes.candles;
    assert.ok(candles.length >= 280, `${candles.length} candles`);
    const span = candles.at(-1)!.time - candles[0].time;
    assert.ok(span >= 23.5 * 60 * M, `history spans ${span / 3_600_000} h`);
    await page.screenshot({ path: "tests/out/chart-history-5m.png" });

    // The first live tick extends the last candle: that 5-minute bucket is
    // the history minutes before the tick plus the tick itself.
    const tick = double.sent.find((s) => s.symbol === "tBTCUSD")!;
    const price = tick.values[6];
    const tickMinute = Math.floor(tick.at / M) * M;
    const bucket = Math.floor(tick.at / (5 * M)) * (5 * M);
    const last = candles.at(-1)!;
    assert.equal(last.time, bucket, "the last candle is the live tick's");
    assert.equal(last.close, price, "closed by the live tick");
    const rows = double.candleRows("tBTCUSD", bucket, tickMinute - 1);
    if (rows.length > 0) {
      assert.equal(last.open, rows[0][1], "opened by history");
      assert.equal(last.high, Math.max(price, ...rows.map((r) => r[3])));
      assert.equal(last.low, Math.min(price, ...rows.map((r) => r[4])));
    } else {
      assert.equal(last.open, price);
    }
    // and the JSON API answers the same candles, history included
    const api = await (await fetch(
      `http://127.0.0.1:${port}/api/candles?coin=tBTCUSD&interval=5m`,
    )).json();
    assert.deepEqual(api.candles, candles);

    // 1 minute: the page holds the newest candles and loads older ones as
    // the view scrolls left, until the start of the history
    const oneMinute = await open("1m", 2);
    const all = (await (await fetch(
      `http://127.0.0.1:${port}/api/candles?coin=tBTCUSD&interval=1m`,
    )).json()).candles as PageCandle[];
    assert.ok(all.length > 1400, `${all.length} one-minute candles`);
    assert.ok(oneMinute.candles.length < all.length, "not all at once");
    await page.screenshot({ path: "tests/out/chart-history-1m.png" });
    const loaded = await waitFor("older candles to load", async () => {
      await page.evaluate(() =>
        (globalThis as unknown as {
          chartView: {
            chart: {
              timeScale(): { scrollToPosition(n: number, a: boolean): void };
            };
          };
        }).chartView.chart.timeScale().scrollToPosition(-5_000, false)
      );
      const d = await data();
      return d && d.candles.length === all.length ? d : undefined;
    }, { timeoutMs: 30_000, everyMs: 500 });
    assert.deepEqual(loaded.candles, all);

    // 1 hour, then times in the viewer's zone or UTC
    await open("1h", 24);
    await page.screenshot({ path: "tests/out/chart-history-1h.png" });
    const label = () =>
      page.evaluate((t) =>
        (globalThis as unknown as {
          chartView: {
            formatTime(s: number, o: Intl.DateTimeFormatOptions): string;
          };
        }).chartView.formatTime(t, {
          hour: "2-digit",
          minute: "2-digit",
          hour12: false,
        }), Date.UTC(2026, 0, 5, 12, 0) / 1000);
    assert.equal(await label(), "21:00"); // Tokyo
    await page.click("#utc");
    assert.equal(await page.getAttribute("#utc", "aria-pressed"), "true");
    assert.equal(await label(), "12:00");
    assert.match(page.url(), /tz=utc/);
  } finally {
    await browser.close();
  }
});
