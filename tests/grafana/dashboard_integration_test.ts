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
  type InfluxOptions,
  querySql,
  tickerLine,
  writeLines,
} from "@cryptocandles/influx";
import type { Ticker } from "@cryptocandles/ticker";
import { NOW, sessionTicks, SIX_HOURS } from "../fixtures/session.ts";
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

/** Candles computed here, the way the panel should show them. */
function expectedCandles(
  all: Ticker[],
  coin: string,
  from: number,
  to: number,
  width: number,
) {
  const bins = new Map<number, Ticker[]>();
  for (const t of all) {
    if (t.nombre !== coin || t.event_time < from || t.event_time > to) continue;
    const bin = Math.floor(t.event_time / width) * width;
    bins.set(bin, [...(bins.get(bin) ?? []), t]);
  }
  return [...bins.entries()].sort(([a], [b]) => a - b).map(([bin, list]) => {
    const sorted = list.sort((a, b) => a.event_time - b.event_time);
    const prices = sorted.map((t) => t.precio_ultimo);
    return {
      time: bin,
      open: prices[0],
      high: Math.max(...prices),
      low: Math.min(...prices),
      close: prices[prices.length - 1],
      volume: prices.length,
    };
  });
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
  const rejected = await writeLines(
    all.map((ticker) => tickerLine(MEASUREMENT, ticker, ticker.event_time)),
    influx,
  );
  assert.deepEqual(rejected, []);

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
          assert.deepEqual(
            rows.map((r) => ({ ...r, time: ms(r.time) })),
            expectedCandles(all, coin, from6h, to, WIDTH_MS[label]),
          );
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
