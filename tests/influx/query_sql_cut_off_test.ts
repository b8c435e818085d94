/**
 * `querySql` against InfluxDB 3 Core's answer to a query that fails while
 * executing: Core has sent `200` and streams the rows, so the error ends
 * the body before its end, with no message (influxdb3_server/src/http.rs,
 * `record_batch_stream_to_body`); the InfluxDB double does the same.
 *
 * Needs `--allow-run=.venv/bin/python` (the double).
 */
import assert from "node:assert/strict";
import { InfluxWriteError, querySql } from "@cryptocandles/influx";
import { startInfluxDouble } from "../doubles/influx_double.ts";

const SQL = "SELECT CAST(s AS BIGINT) AS v FROM e";

async function doubleWithBadRow() {
  const influx = await startInfluxDouble({ walFlushIntervalMs: 10 });
  const written = await fetch(
    `${influx.url}/api/v3/write_lp?db=criptomonedas&precision=ns`,
    { method: "POST", body: 'e s="12" 1\ne s="abc" 2' },
  );
  assert.equal(written.status, 204, await written.text());
  return influx;
}

Deno.test("querySql() never returns the rows of an answer that was cut off", async () => {
  await using influx = await doubleWithBadRow();
  await assert.rejects(
    querySql(SQL, { host: influx.url, database: "criptomonedas" }),
    InfluxWriteError,
  );
  assert.equal((await influx.control("stats")).queries_cut, 1);
});

Deno.test({
  name:
    "querySql() says the answer was cut off, with its 200, and does not ask for a retry",
  async fn() {
    await using influx = await doubleWithBadRow();
    const error = await querySql(SQL, {
      host: influx.url,
      database: "criptomonedas",
    }).catch((e) => e);
    assert.ok(error instanceof InfluxWriteError, String(error));
    assert.equal(error.status, 200);
    assert.equal(error.retriable, false);
    assert.match(error.message, /cut off/);
    assert.doesNotMatch(error.message, /did not answer/);
  },
});
