/**
 * Every query of the dashboard, expanded as Grafana expands it
 * (tests/doubles/grafana_double.ts `interpolateSql`), runs on the InfluxDB 3
 * double (DataFusion) over points written the way the consumer writes them
 * (`tickerLine` + `writeLines`), and returns the columns its panel maps.
 *
 * Needs `--allow-run=.venv/bin/python` (the double) and the venv of
 * tests/doubles/requirements.txt.
 */
import assert from "node:assert/strict";
import type { Panel } from "@grafana/schema";
import { loadConfig } from "@cryptocandles/config";
import {
  buildDashboard,
  dashboardQueries,
  INTERVALS,
} from "@cryptocandles/grafana";
import {
  candleLine,
  type InfluxOptions,
  querySql,
  tickerLine,
  writeLines,
} from "@cryptocandles/influx";
import type { Ticker } from "@cryptocandles/ticker";
import {
  historyCandles,
  LIVE_START,
  NOW,
  sessionTicks,
  SIX_HOURS,
} from "../fixtures/session.ts";
import { interpolateSql } from "../doubles/grafana_double.ts";
import { startInfluxDouble } from "../doubles/influx_double.ts";

const TOKEN = "apiv3_dashboard_test";
const config = loadConfig(new Map());
const MEASUREMENT = config.influx.measurement;
/** The moment the dashboard is looked at (not on a whole second, as in life). */
const WIDTH_MS: Record<string, number> = {
  "1m": 60_000,
  "5m": 300_000,
  "15m": 900_000,
  "1h": 3_600_000,
};

/** One candle as the panel maps it. */
interface Ohlcv {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/**
 * Candles computed here, the way the panel should show them: per minute,
 * the ticks of that minute (volume = the rises of the rolling 24 h volume
 * since the coin's previous tick in the range), else the history candle of
 * that minute; then minutes binned (first open, max high, min low, last
 * close, summed volume).
 */
function expectedCandles(
  all: Ticker[],
  coin: string,
  from: number,
  to: number,
  width: number,
  history: Ohlcv[] = [],
): Ohlcv[] {
  const ticks = all.filter((t) =>
    t.nombre === coin && t.event_time >= from && t.event_time <= to
  ).sort((a, b) => a.event_time - b.event_time);
  const minutes = new Map<number, Ohlcv>();
  ticks.forEach((t, i) => {
    const minute = Math.floor(t.event_time / 60_000) * 60_000;
    const traded = i === 0 ? 0 : Math.max(0, t.volume - ticks[i - 1].volume);
    const price = t.precio_ultimo;
    const m = minutes.get(minute);
    if (!m) {
      minutes.set(minute, {
        time: minute,
        open: price,
        high: price,
        low: price,
        close: price,
        volume: traded,
      });
    } else {
      m.high = Math.max(m.high, price);
      m.low = Math.min(m.low, price);
      m.close = price;
      m.volume += traded;
    }
  });
  for (const h of history) {
    if (h.time >= from && h.time <= to && !minutes.has(h.time)) {
      minutes.set(h.time, { ...h });
    }
  }
  const bins = new Map<number, Ohlcv[]>();
  for (const m of [...minutes.values()].sort((a, b) => a.time - b.time)) {
    const bin = Math.floor(m.time / width) * width;
    bins.set(bin, [...(bins.get(bin) ?? []), m]);
  }
  return [...bins.entries()].sort(([a], [b]) => a - b).map(([bin, list]) => ({
    time: bin,
    open: list[0].open,
    high: Math.max(...list.map((m) => m.high)),
    low: Math.min(...list.map((m) => m.low)),
    close: list[list.length - 1].close,
    volume: list.reduce((sum, m) => sum + m.volume, 0),
  }));
}

/** Compares candles, volumes to 1e-6 (sums of doubles in another order). */
function assertCandles(actual: Ohlcv[], expected: Ohlcv[], what: string) {
  const round = (c: Ohlcv) => ({ ...c, volume: Math.round(c.volume * 1e6) });
  assert.deepEqual(actual.map(round), expected.map(round), what);
}

const ms = (value: unknown) => Date.parse(`${value}Z`);

Deno.test("every dashboard query, expanded as Grafana does, runs on InfluxDB 3 and returns the columns its panel maps", async (t) => {
  await using double = await startInfluxDouble({ token: TOKEN });
  const influx: InfluxOptions = {
    host: double.url,
    token: TOKEN,
    database: config.influx.database,
  };
  const all = sessionTicks({ afterRange: true });
  const history = historyCandles();
  const rejected = await writeLines(
    [
      ...all.map((ticker) =>
        tickerLine(MEASUREMENT, ticker, ticker.event_time)
      ),
      ...history.map((c) => candleLine(MEASUREMENT, c)),
    ],
    influx,
  );
  assert.deepEqual(rejected, []);
  const historyOf = (coin: string): Ohlcv[] =>
    history.filter((c) => c.pair === coin).map((c) => ({
      time: c.start,
      open: c.open,
      high: c.high,
      low: c.low,
      close: c.close,
      volume: c.volume,
    }));

  const dashboard = buildDashboard({ measurement: MEASUREMENT });
  const queries = dashboardQueries(dashboard);
  const range = (panel?: Panel) =>
    panel?.timeFrom === "now/d"
      ? { from: Math.floor(NOW / 86_400_000) * 86_400_000, to: NOW }
      : { from: NOW - SIX_HOURS, to: NOW };
  const run = async (
    rawSql: string,
    panel: Panel | undefined,
    variables: Record<string, string>,
  ) => {
    const { from, to } = range(panel);
    const sql = interpolateSql(rawSql, {
      from: new Date(from),
      to: new Date(to),
      variables,
    });
    assert.doesNotMatch(sql, /\$/, `unexpanded in:\n${sql}`);
    return await querySql(sql, influx);
  };
  const find = (source: string) => {
    const found = queries.find((q) => q.source === source);
    assert.ok(found, source);
    return found;
  };
  // Grafana truncates the range to whole seconds in $__timeFilter.
  const from6h = Math.floor((NOW - SIX_HOURS) / 1000) * 1000;
  const to = Math.floor(NOW / 1000) * 1000;

  await t.step("the time filter is what Grafana sends", () => {
    const sql = interpolateSql("WHERE $__timeFilter(time)", {
      from: new Date(NOW - SIX_HOURS),
      to: new Date(NOW),
    });
    assert.equal(
      sql,
      "WHERE time >= '2024-06-15T11:30:00Z' AND time <= '2024-06-15T17:30:00Z'",
    );
  });

  await t.step(
    "variable coin: the coins with points in the range",
    async () => {
      const { target, panel } = find("variable coin");
      const rows = await run(target.rawSql, panel, {});
      assert.deepEqual(rows, [{ Coin: "tBTCUSD" }, { Coin: "tETHUSD" }]);
    },
  );

  const candles = find("panel $coin – candles ($interval)");
  for (const [label, value] of Object.entries(INTERVALS)) {
    for (const coin of ["tBTCUSD", "tETHUSD"]) {
      await t.step(
        `candles of ${coin} at ${label}: time, open, high, low, close, volume`,
        async () => {
          const rows = await run(candles.target.rawSql, candles.panel, {
            coin,
            interval: value,
          });
          assert.ok(rows.length > 0);
          const fields = (candles.panel?.options as {
            fields: Record<string, string>;
          }).fields;
          for (const row of rows) {
            assert.deepEqual(Object.keys(row), [
              "time",
              fields.open,
              fields.high,
              fields.low,
              fields.close,
              fields.volume,
            ]);
          }
          assertCandles(
            rows.map((r) => ({ ...r, time: ms(r.time) }) as Ohlcv),
            expectedCandles(
              all,
              coin,
              from6h,
              to,
              WIDTH_MS[label],
              historyOf(coin),
            ),
            `${coin} ${label}`,
          );
        },
      );
      await t.step(
        `the boundary of history and live at ${label} (${coin}): no overlap, no gap`,
        async () => {
          const width = WIDTH_MS[label];
          const rows = (await run(candles.target.rawSql, candles.panel, {
            coin,
            interval: value,
          })).map((r) => ({ ...r, time: ms(r.time) }) as Ohlcv);
          const boundary = Math.floor(LIVE_START / width) * width;
          const at = rows.findIndex((r) => r.time === boundary);
          assert.ok(at > 0, "a candle at the boundary and one before it");
          // buckets on both sides follow each other with no gap
          assert.equal(rows[at - 1].time, boundary - width);
          // the boundary bucket: history minutes before the first tick, the
          // ticks from it on (history of minutes that have ticks is ignored)
          const ticks = all.filter((x) =>
            x.nombre === coin && x.event_time >= LIVE_START &&
            x.event_time < boundary + width
          ).sort((a, b) => a.event_time - b.event_time);
          const before = historyOf(coin).filter((h) =>
            h.time >= boundary && h.time < LIVE_START
          );
          const prices = ticks.map((x) => x.precio_ultimo);
          const traded = ticks.slice(1).reduce(
            (sum, x, i) => sum + Math.max(0, x.volume - ticks[i].volume),
            0,
          );
          assertCandles([rows[at]], [{
            time: boundary,
            open: before[0]?.open ?? prices[0],
            high: Math.max(...prices, ...before.map((h) => h.high)),
            low: Math.min(...prices, ...before.map((h) => h.low)),
            close: prices.at(-1)!,
            volume: traded + before.reduce((sum, h) => sum + h.volume, 0),
          }], `boundary bucket at ${label}`);
          // the candle before the boundary ends on the last history minute
          const lastHistory = historyOf(coin).filter((h) =>
            h.time < Math.min(boundary, LIVE_START)
          ).at(-1)!;
          assert.equal(rows[at - 1].close, lastHistory.close);
        },
      );
    }
  }

  await t.step(
    "last price: the last close per candle, ending on the last tick",
    async () => {
      const { target, panel } = find("panel $coin – last price");
      const rows = await run(target.rawSql, panel, {
        coin: "tBTCUSD",
        interval: INTERVALS["5m"],
      });
      assert.deepEqual(Object.keys(rows[0]), ["time", "price"]);
      const expected = expectedCandles(all, "tBTCUSD", from6h, to, 300_000);
      assert.deepEqual(
        rows.map((r) => [ms(r.time), r.price]),
        expected.map((c) => [c.time, c.close]),
      );
      const last = all.filter((x) =>
        x.nombre === "tBTCUSD" && x.event_time <= to
      ).sort((a, b) => a.event_time - b.event_time).at(-1);
      assert.equal(rows.at(-1)?.price, last?.precio_ultimo);
    },
  );

  await t.step(
    "daily max: the highest price today (UTC), not yesterday's",
    async () => {
      const { target, panel } = find("panel $coin – daily max price");
      assert.equal(panel?.timeFrom, "now/d");
      const rows = await run(target.rawSql, panel, {
        coin: "tBTCUSD",
        interval: INTERVALS["5m"],
      });
      assert.deepEqual(rows, [{ daily_max: 70_000 }]);
      const eth = await run(target.rawSql, panel, {
        coin: "tETHUSD",
        interval: INTERVALS["5m"],
      });
      const ethMax = Math.max(
        ...all.filter((x) => x.nombre === "tETHUSD").map((x) =>
          x.precio_ultimo
        ),
      );
      assert.deepEqual(eth, [{ daily_max: ethMax }]);
    },
  );

  await t.step(
    "points per minute: time, Coin, points (3 a minute per coin)",
    async () => {
      const { target, panel } = find("panel Points per minute");
      assert.equal(target.format, "time_series");
      const rows = await run(target.rawSql, panel, {});
      assert.equal(rows.length, 2 * 60);
      for (const row of rows) {
        assert.deepEqual(Object.keys(row), ["time", "Coin", "points"]);
        assert.equal(row.points, 3);
      }
      assert.equal(ms(rows[0].time), Date.parse("2024-06-15T16:30:00Z"));
      assert.equal(ms(rows.at(-1)?.time), Date.parse("2024-06-15T17:29:00Z"));
    },
  );

  await t.step("every query was run", () => {
    assert.deepEqual(queries.map((q) => q.source).sort(), [
      "panel $coin – candles ($interval)",
      "panel $coin – daily max price",
      "panel $coin – last price",
      "panel Points per minute",
      "variable coin",
    ]);
  });
});
