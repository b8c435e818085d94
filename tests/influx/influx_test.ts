import assert from "node:assert/strict";
import { Point } from "@influxdata/influxdb3-client";
import {
  ensureDatabase,
  InfluxWriteError,
  querySql,
  tickerLine,
  writeLines,
} from "@cryptocandles/influx";
import { HttpError } from "@cryptocandles/runtime";
import type { Ticker } from "@cryptocandles/ticker";
import { startInfluxDouble } from "../doubles/influx_double.ts";

const TICKER: Ticker = {
  nombre: "tBTCUSD",
  bid: 66371,
  bid_size: 2.57989939,
  ask: 66372,
  ask_size: 6.48303529,
  daily_change: -644,
  daily_change_percentage: -0.00960549,
  precio_ultimo: 66401,
  volume: 639.72121182,
  precio_maximo: 67045,
  precio_minimo: 65088,
  event_time: 1718465131000,
};

/** The client's own Point, the reference for our line. */
function clientLine(measurement: string, t: Ticker, time: number): string {
  return Point.measurement(measurement).setTag("Coin", t.nombre)
    .setFloatField("close_price", t.precio_ultimo).setFloatField("bid", t.bid)
    .setFloatField("ask", t.ask)
    .setFloatField("bid_size", t.bid_size).setFloatField("ask_size", t.ask_size)
    .setFloatField("volume", t.volume)
    .setFloatField("daily_change", t.daily_change)
    .setFloatField("daily_change_percentage", t.daily_change_percentage)
    .setFloatField("high", t.precio_maximo).setFloatField(
      "low",
      t.precio_minimo,
    )
    .setTimestamp(time).toLineProtocol()!;
}

Deno.test("tickerLine() writes the same bytes as the client's Point, escapes included", () => {
  let seed = 3;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const names = ["criptomonedas", "crip tomonedas", "a,b"];
  const coins = ["tBTCUSD", "t BTC,=USD", "tXRPUSD"];
  for (let i = 0; i < 300; i++) {
    const t = { ...TICKER, nombre: coins[i % 3] };
    for (
      const key of [
        "bid",
        "ask",
        "volume",
        "precio_ultimo",
        "daily_change_percentage",
      ] as const
    ) {
      t[key] = (random() - 0.3) * 10 ** Math.floor(random() * 20 - 10);
    }
    assert.equal(
      tickerLine(names[i % 3], t, t.event_time + i),
      clientLine(names[i % 3], t, t.event_time + i),
    );
  }
});

Deno.test("tickerLine() refuses NaN and infinite fields, naming the field", () => {
  assert.throws(
    () => tickerLine("m", { ...TICKER, bid: NaN }, 1),
    /tBTCUSD: field bid is NaN/,
  );
  assert.throws(
    () => tickerLine("m", { ...TICKER, volume: Infinity }, 1),
    /field volume is Infinity/,
  );
});

Deno.test("writeLines() writes in chunks, and a second write of the same point overwrites it", async () => {
  await using influx = await startInfluxDouble({ token: "secret" });
  const options = {
    host: influx.url,
    token: "secret",
    database: "criptomonedas",
  };
  assert.equal(await ensureDatabase(options), "created");
  assert.equal(await ensureDatabase(options), "exists");
  const lines = Array.from(
    { length: 12 },
    (_, i) => tickerLine("criptomonedas", TICKER, TICKER.event_time + i),
  );
  assert.deepEqual(await writeLines(lines, options, { chunkLines: 5 }), []);
  assert.deepEqual(await writeLines(lines.slice(0, 3), options), []);
  const [{ n }] = await querySql(
    `SELECT COUNT(*) AS n FROM criptomonedas`,
    options,
  );
  assert.equal(n, 12);
  assert.equal((await influx.control("stats")).writes, 4);
});

Deno.test("writeLines() returns the lines InfluxDB refuses and writes the others", async () => {
  await using influx = await startInfluxDouble();
  const options = { host: influx.url, database: "criptomonedas" };
  const good = tickerLine("criptomonedas", TICKER, TICKER.event_time);
  const rejected = await writeLines([
    good,
    "criptomonedas,Coin=x close_price=oops 1",
    good,
  ], options);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0].index, 1);
  const [{ n }] = await querySql(
    `SELECT COUNT(*) AS n FROM criptomonedas`,
    options,
  );
  assert.equal(n, 1);
});

Deno.test("writeLines() retries a 429, waiting what Retry-After asks", async () => {
  await using influx = await startInfluxDouble();
  const options = { host: influx.url, database: "criptomonedas" };
  await influx.control({ mode: "error429", retryAfter: 1, times: 1 });
  const started = Date.now();
  assert.deepEqual(
    await writeLines([tickerLine("criptomonedas", TICKER, 1)], options),
    [],
  );
  assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
});

Deno.test("writeLines() gives up on a 401 at once with InfluxDB's status", async () => {
  await using influx = await startInfluxDouble({ token: "right" });
  const options = {
    host: influx.url,
    token: "wrong",
    database: "criptomonedas",
  };
  const error = await writeLines(
    [tickerLine("criptomonedas", TICKER, 1)],
    options,
  ).catch((e) => e);
  assert.ok(error instanceof InfluxWriteError);
  assert.ok(error instanceof HttpError);
  assert.equal(error.name, "InfluxWriteError");
  assert.equal(error.status, 401);
  assert.equal(error.retriable, false);
  assert.doesNotMatch(error.message, /wrong/, "the token is never shown");
  assert.equal((await influx.control("stats")).requests, 1);
});

Deno.test("writeLines() says InfluxDB did not answer when it is down, after its retries", async () => {
  const error = await writeLines([tickerLine("m", TICKER, 1)], {
    host: "http://127.0.0.1:9",
    database: "d",
  }, {
    retry: { maxAttempts: 2, minTimeout: 10 },
  }).catch((e) => e);
  assert.ok(error instanceof InfluxWriteError);
  assert.equal(error.status, 0);
  assert.match(error.message, /InfluxDB write at http:\/\/127.0.0.1:9/);
});

Deno.test("writeLines() gzips bodies to a remote host, and sends plain ones to loopback", async () => {
  await using influx = await startInfluxDouble();
  const remote = influx.url.replace("127.0.0.1", "influx.example");
  // The "remote" host is the double reached through a fetch that rewrites the name.
  const viaLoopback: typeof fetch = (input, init) =>
    fetch(String(input).replace("influx.example", "127.0.0.1"), init);
  const lines = Array.from(
    { length: 50 },
    (_, i) => tickerLine("criptomonedas", TICKER, i),
  );
  await writeLines(lines, {
    host: remote,
    database: "criptomonedas",
    fetch: viaLoopback,
  });
  assert.equal((await influx.control("stats")).gzip_requests, 1);
  await writeLines(lines, { host: influx.url, database: "criptomonedas" });
  assert.equal((await influx.control("stats")).gzip_requests, 1);
  const [{ n }] = await querySql(`SELECT COUNT(*) AS n FROM criptomonedas`, {
    host: influx.url,
    database: "criptomonedas",
  });
  assert.equal(n, 50);
});
