/**
 * The consumer makes the history table `<INFLUX_MEASUREMENT>_candles` at
 * start, so the dashboard's candle panel (ticks UNION history) runs with no
 * history at all (`BACKFILL=0`), as on InfluxDB 3 Core a query naming a
 * missing table fails. Against the local stack (Kafka + registry) and the
 * InfluxDB 3 double, whose `/api/v3/configure/table` follows Core.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import assert from "node:assert/strict";
import {
  buildDashboard,
  dashboardQueries,
  INTERVALS,
} from "@cryptocandles/grafana";
import { interpolateSql } from "../doubles/grafana_double.ts";
import { consumerRig, isMsg, waitForRecords } from "./fixtures.ts";

const MEASUREMENT = "criptomonedas";
const TABLE = `${MEASUREMENT}_candles`;

/** The dashboard's candle query for `coin` over the last hour, expanded as Grafana does. */
function candlePanelSql(coin: string): string {
  const candles = dashboardQueries(buildDashboard({ measurement: MEASUREMENT }))
    .find((q) => q.source.startsWith("panel $coin – candles"));
  assert.ok(candles, "the dashboard has a candle panel");
  const now = Date.now();
  return interpolateSql(candles.target.rawSql, {
    from: new Date(now - 3_600_000),
    to: new Date(now + 60_000),
    variables: { coin, interval: INTERVALS["1m"] },
  });
}

Deno.test("consumer: with a BACKFILL=0 producer the dashboard's candle query runs on the ticks (the history table was made empty at start), and a second start finds the table", async () => {
  await using rig = await consumerRig("cons-table");
  const first = rig.startConsumer("c1");
  await first.waitForLog(
    "c1 to make the history table",
    isMsg(`table ${TABLE} created`),
  );
  // made empty: it answers no rows rather than "not found"
  assert.deepEqual(await rig.influx.query(`SELECT * FROM "${TABLE}"`), []);

  const producer = rig.startProducer({ SYNTHETIC_RATE: "20" }); // BACKFILL=0
  await producer.waitForLog("the producer to send", isMsg("sending"));
  await waitForRecords(rig.topic, 40);
  const produced = await producer.stop();
  assert.equal(produced.code, 0, produced.stderr.slice(-2000));
  assert.ok(
    !producer.logs().some((l) => l.msg.startsWith("backfill:")),
    "no history was backfilled",
  );
  await rig.waitForPoints(await rig.recordCount());

  const rows = await rig.influx.query(candlePanelSql("tBTCUSD"));
  assert.ok(rows.length > 0, "candles from the ticks alone");
  for (const row of rows) {
    assert.deepEqual(Object.keys(row), [
      "time",
      "open",
      "high",
      "low",
      "close",
      "volume",
    ]);
  }
  assert.deepEqual(
    await rig.influx.query(`SELECT COUNT(*) AS n FROM "${TABLE}"`),
    [{ n: 0 }],
  );
  const stopped = await first.stop();
  assert.equal(stopped.code, 0, stopped.stderr.slice(-2000));

  // a restart: the table is there (409 from InfluxDB), which is no failure
  const second = rig.startConsumer("c2");
  await second.waitForLog(
    "c2 to find the table",
    isMsg(`table ${TABLE} found`),
  );
  await second.waitForLog("c2 to join", isMsg("joined group"));
  const again = await second.stop();
  assert.equal(again.code, 0, again.stderr.slice(-2000));
  assert.ok(
    !second.logs().some((l) => l.level === "warn" && l.msg.includes(TABLE)),
    "no warning about the table",
  );
  assert.deepEqual(await rig.influx.query(candlePanelSql("tBTCUSD")), rows);
});
