/**
 * `onReconnect` of the Bitfinex sources: the WebSocket against the Bitfinex
 * double (tests/doubles/bitfinex_double.ts: `dropConnections()` cuts the
 * link without a close frame, `stall()` silences it), and REST with a
 * `fetch` of the test's own. The producer backfills the minutes an outage
 * missed when it is told (tests/backfill/reconnect_backfill_integration_test.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  bitfinexRestTicks,
  bitfinexWsTicks,
  type ReconnectEvent,
  type WsOptions,
} from "@cryptocandles/bitfinex";
import { createLogger } from "@cryptocandles/runtime";
import type { Ticker } from "@cryptocandles/ticker";
import {
  type BitfinexDouble,
  startBitfinexDouble,
} from "../doubles/bitfinex_double.ts";
import { waitFor } from "../support.ts";

interface Watched extends AsyncDisposable {
  got: Ticker[];
  reconnects: ReconnectEvent[];
  lines: { level: string; msg: string }[];
}

/** Streams tickers of two pairs from the double, recording every `onReconnect`. */
function watch(
  double: BitfinexDouble,
  options: Partial<WsOptions> = {},
): Watched {
  const lines: { level: string; msg: string }[] = [];
  const reconnects: ReconnectEvent[] = [];
  const got: Ticker[] = [];
  const controller = new AbortController();
  const done = (async () => {
    for await (
      const ticker of bitfinexWsTicks({
        url: double.wsUrl,
        coins: ["tBTCUSD", "tETHUSD"],
        signal: controller.signal,
        log: createLogger("ws", {
          format: "json",
          write: (line) => lines.push(JSON.parse(line)),
        }),
        backoff: { minTimeout: 50, maxTimeout: 200 },
        onReconnect: (event) => reconnects.push(event),
        ...options,
      })
    ) got.push(ticker);
  })();
  return {
    got,
    reconnects,
    lines,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await done;
      await waitFor("the client to close", () => double.openConnections === 0, {
        timeoutMs: 5000,
        everyMs: 20,
      });
    },
  };
}

Deno.test("bitfinexWsTicks(): a dropped link subscribed again tells onReconnect once, with the time it was down; the first connection does not", async () => {
  await using double = await startBitfinexDouble({ tickMs: 50 });
  await using w = watch(double);
  await waitFor("first ticks", () => w.got.length >= 4, { timeoutMs: 5000 });
  assert.equal(w.reconnects.length, 0, "not on the first connection");

  await double.dropConnections();
  await waitFor("a reconnect", () => w.reconnects.length === 1, {
    timeoutMs: 5000,
  });
  const count = w.got.length;
  await waitFor("ticks again", () => w.got.length >= count + 4, {
    timeoutMs: 5000,
  });
  assert.equal(double.connections, 2);
  assert.equal(w.reconnects.length, 1, "once, though two channels subscribed");
  const [event] = w.reconnects;
  assert.equal(event.connection, 0);
  assert.ok(event.downMs >= 0 && event.downMs < 5000, `${event.downMs} ms`);
  assert.ok(
    w.lines.some((l) => /^bitfinex: reconnected after \d+ s$/.test(l.msg)),
  );
});

Deno.test("bitfinexWsTicks(): an outage of several failed connections is told once, when a connection is subscribed again; a 20061 resubscription is no reconnect", async () => {
  await using double = await startBitfinexDouble({ tickMs: 50 });
  let offset = 0; // the clock runs, and the test moves it on
  await using w = watch(double, {
    now: () => Date.now() + offset,
    watchdogMs: 300,
    infoWaitMs: 50,
  });
  await waitFor("first ticks", () => w.got.length >= 4, { timeoutMs: 5000 });

  // Down: every connection from now on is silent, so none is subscribed.
  double.stall(true, { newConnections: true });
  await double.dropConnections();
  await waitFor(
    "the loss to be seen",
    () => w.lines.some((l) => /reconnecting in/.test(l.msg)),
    { timeoutMs: 5000 },
  );
  offset += 90_000;
  await waitFor("2 more failed connections", () => double.connections >= 4, {
    timeoutMs: 10_000,
  });
  assert.equal(w.reconnects.length, 0, "no subscription yet");
  offset += 30_000;
  double.stall(false);
  await waitFor("a reconnect", () => w.reconnects.length === 1, {
    timeoutMs: 10_000,
  });
  const { downMs } = w.reconnects[0];
  assert.ok(
    downMs >= 120_000 && downMs < 135_000,
    `down from the first loss: ${downMs} ms`,
  );

  const count = w.got.length;
  double.sendInfo(20060);
  double.sendInfo(20061);
  await waitFor("ticks after 20061", () => w.got.length >= count + 4, {
    timeoutMs: 5000,
  });
  assert.equal(w.reconnects.length, 1, "20061 resubscribes, no reconnect");
});

Deno.test("bitfinexRestTicks(): the first answer after failed polls tells onReconnect once; a rate limit is no outage", async () => {
  const row = [
    66371,
    2.57,
    66372,
    6.48,
    -644,
    -0.0096,
    66401,
    639.7,
    67045,
    65088,
  ];
  // ok, rate limit, ok, fail, fail, ok, ok
  const script = ["ok", "limit", "ok", "fail", "fail", "ok", "ok"];
  let call = 0;
  let clock = 1_000_000;
  const fetch = (() => {
    const step = script[call++] ?? "ok";
    clock += 5_000;
    if (step === "fail") return Promise.reject(new TypeError("network down"));
    if (step === "limit") {
      return Promise.resolve(
        Response.json(["error", 11010, "ratelimit: error"], { status: 429 }),
      );
    }
    return Promise.resolve(Response.json([["tBTCUSD", ...row]]));
  }) as typeof globalThis.fetch;
  const reconnects: ReconnectEvent[] = [];
  const controller = new AbortController();
  let ticks = 0;
  for await (
    const _ of bitfinexRestTicks({
      url: "http://bitfinex.invalid/v2",
      coins: ["tBTCUSD"],
      pollMs: 1,
      signal: controller.signal,
      log: createLogger("rest", { write: () => {} }),
      rateLimitWaitMs: 1,
      backoff: { minTimeout: 1, maxTimeout: 2, jitter: 0 },
      fetch,
      now: () => clock,
      onReconnect: (event) => reconnects.push(event),
    })
  ) {
    if (++ticks === 4) controller.abort();
  }
  assert.equal(call, script.length);
  // down from the first failed poll (call 4) to the answer of call 6
  assert.deepEqual(reconnects, [{ connection: 0, downMs: 10_000 }]);
});
