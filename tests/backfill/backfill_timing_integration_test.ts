/**
 * How long the 24 h backfill of 4 coins takes against the Bitfinex double
 * with rate limits (every 2nd candles request answers 429 with
 * Retry-After: 1), and the status line launch shows for it (the producer's
 * log lines folded by launch's status code).
 *
 * @module
 */
import assert from "node:assert/strict";
import { applyEvent, emptyStatus, statusLine } from "@cryptocandles/launch";
import { startBitfinexDouble } from "../doubles/bitfinex_double.ts";
import { isMsg, schemaTopic, startProducer } from "../pipeline/fixtures.ts";

const COINS = ["tBTCUSD", "tETHUSD", "tSOLUSD", "tXRPUSD"];

Deno.test("backfill: 24 h of 4 coins through 429s, timed, with launch's status line", async () => {
  await using double = await startBitfinexDouble({
    candleRateLimitEvery: 2,
    candleRetryAfterSeconds: 1,
  });
  await using topic = await schemaTopic("t-backfill-4");
  const started = Date.now();
  await using producer = startProducer(topic.name, {
    SOURCE: "bitfinex-ws",
    BITFINEX_WS_URL: double.wsUrl,
    BITFINEX_REST_URL: double.restUrl,
    COINS: COINS.join(","),
    BACKFILL: "24h",
  });
  const done = await producer.waitForLog(
    "the backfill",
    (l) => l.msg.startsWith("backfill: done"),
    { timeoutMs: 120_000 },
  );
  await producer.waitForLog("the producer to go live", isMsg("sending"));
  const live = Date.now() - started;
  const status = emptyStatus("bitfinex-ws", COINS);
  for (const line of producer.logs()) applyEvent(status, "producer", line);
  const sent = done.sent as Record<string, number>;
  // 24 h is 1,440 whole minutes; the minute under way at the start and any
  // minute that began while the backfill ran are fetched too (it re-plans).
  const minutesCrossed = Math.floor(Date.now() / 60_000) -
    Math.floor(started / 60_000);
  const most = 1440 + 1 + minutesCrossed;
  for (const coin of COINS) {
    assert.ok(
      sent[coin] >= 1300 && sent[coin] <= most,
      `${coin}: ${sent[coin]}`,
    );
    assert.equal(status.backfill?.[coin]?.candles, sent[coin]);
  }
  const waits = producer.textLines().filter((l) => /rate limited/.test(l));
  assert.ok(waits.length >= 2, `${waits.length} rate-limit waits`);
  console.log(
    `backfill of 24 h x ${COINS.length} coins: ${done.seconds} s in the producer ` +
      `(${waits.length} rate-limit waits of 1 s), live ${live} ms after start\n` +
      statusLine(status),
  );
});
