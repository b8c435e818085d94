/**
 * `bitfinexWsTicks()` against the Bitfinex double (tests/doubles/bitfinex_double.ts)
 * on 127.0.0.1: maintenance (`platform.status: 0` on connect, info
 * 20060/20061), heartbeats alone, `conf` events, and the 30 s watchdog.
 * Time-based claims use an injected clock (`now`) that the test moves: the
 * watchdog and the maintenance limit read it, so no test waits 30 s; "it
 * did not happen" is checked after the client has read the moved clock
 * (each watchdog check reads it), not after a fixed sleep.
 *
 * @module
 */
import assert from "node:assert/strict";
import { bitfinexWsTicks, type WsOptions } from "@cryptocandles/bitfinex";
import { createLogger } from "@cryptocandles/runtime";
import type { Ticker } from "@cryptocandles/ticker";
import {
  type BitfinexDouble,
  startBitfinexDouble,
} from "../doubles/bitfinex_double.ts";
import { waitFor } from "../support.ts";

/** A clock the test moves; counts its reads. */
function manualClock(start = 1_718_465_100_000) {
  let time = start;
  let reads = 0;
  return {
    now: () => {
      reads++;
      return time;
    },
    set: (ms: number) => time = start + ms,
    reads: () => reads,
    /** Resolves once the client has read the clock `n` more times (each watchdog check reads it). */
    async readAgain(n = 3) {
      const from = reads;
      await waitFor(`${n} more reads of the clock`, () => reads >= from + n, {
        timeoutMs: 10_000,
        everyMs: 10,
      });
    },
  };
}

interface Stream extends AsyncDisposable {
  got: Ticker[];
  lines: { level: string; msg: string }[];
  failure(): unknown;
}

function stream(
  double: BitfinexDouble,
  options: Partial<WsOptions> = {},
): Stream {
  const lines: { level: string; msg: string }[] = [];
  const log = createLogger("ws-test", {
    format: "json",
    write: (line) => lines.push(JSON.parse(line)),
  });
  const controller = new AbortController();
  const got: Ticker[] = [];
  let failure: unknown;
  const done = (async () => {
    for await (
      const ticker of bitfinexWsTicks({
        url: double.wsUrl,
        coins: ["tBTCUSD", "tETHUSD"],
        signal: controller.signal,
        log,
        backoff: { minTimeout: 50, maxTimeout: 200 },
        ...options,
      })
    ) got.push(ticker);
  })().catch((error) => failure = error);
  return {
    got,
    lines,
    failure: () => failure,
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

const has = (s: Stream, pattern: RegExp) =>
  s.lines.some((l) => pattern.test(l.msg));

Deno.test("bitfinexWsTicks(): platform.status 0 on connect: one line, the connection is kept without subscribing (watchdog paused), and 20061 subscribes", async () => {
  await using double = await startBitfinexDouble({ tickMs: 50 });
  double.sendInfo(20060); // no connection yet: the next ones get status 0
  const clock = manualClock();
  await using s = stream(double, { now: clock.now, watchdogMs: 1000 });
  await waitFor("the maintenance line", () => has(s, /maintenance/), {
    timeoutMs: 5000,
  });
  // Far past the watchdog: a paused connection is not "silent".
  clock.set(60_000);
  await clock.readAgain();

  assert.equal(double.connections, 1, "the connection is kept");
  assert.equal(double.subscriptions.length, 0, "nothing subscribed");
  const maintenance = s.lines.filter((l) => /maintenance/.test(l.msg));
  assert.equal(maintenance.length, 1, "one line");
  assert.match(
    maintenance[0].msg,
    /platform is in maintenance \(info platform.status 0\).*20061/,
  );
  assert.equal(s.got.length, 0);

  double.sendInfo(20061);
  await waitFor("ticks after 20061", () => s.got.length >= 4, {
    timeoutMs: 5000,
  });
  assert.deepEqual(
    double.subscriptions.map((sub) => sub.symbol).sort(),
    ["tBTCUSD", "tETHUSD"],
  );
  assert.equal(double.connections, 1);
  assert.ok(has(s, /maintenance ended \(20061\)/));
});

Deno.test("bitfinexWsTicks(): a maintenance that never ends reconnects with back-off after maintenanceMs", async () => {
  await using double = await startBitfinexDouble({ tickMs: 50 });
  double.sendInfo(20060);
  const clock = manualClock();
  await using s = stream(double, {
    now: clock.now,
    watchdogMs: 1000,
    maintenanceMs: 120_000,
  });
  await waitFor("the maintenance line", () => has(s, /maintenance/), {
    timeoutMs: 5000,
  });
  clock.set(119_000);
  await clock.readAgain();
  assert.equal(double.connections, 1, "not before maintenanceMs");

  clock.set(121_000);
  await waitFor("a second connection", () => double.connections >= 2, {
    timeoutMs: 5000,
  });
  assert.ok(
    has(
      s,
      /maintenance did not end \(no info 20061\) within 120 s; reconnecting in \d+ ms/,
    ),
    JSON.stringify(s.lines),
  );
});

Deno.test("bitfinexWsTicks(): 20060 pauses the watchdog, 20061 unsubscribes and resubscribes every channel, and ticks resume", async () => {
  await using double = await startBitfinexDouble({ tickMs: 50 });
  const clock = manualClock();
  await using s = stream(double, { now: clock.now, watchdogMs: 1000 });
  await waitFor("first ticks", () => s.got.length >= 4, { timeoutMs: 5000 });
  const before = double.subscriptions.map((sub) => sub.chanId).sort();

  double.sendInfo(20060);
  await waitFor(
    "the pause line",
    () => has(s, /maintenance started \(20060\)/),
    {
      timeoutMs: 5000,
    },
  );
  clock.set(60_000); // no update for 60 s on the clock: still no reconnect
  await clock.readAgain();
  assert.equal(double.connections, 1);

  const count = s.got.length;
  double.sendInfo(20061);
  await waitFor(
    "new channels",
    () =>
      double.subscriptions.length === 2 &&
      double.subscriptions.every((sub) => !before.includes(sub.chanId)),
    { timeoutMs: 5000 },
  );
  await waitFor("ticks on the new channels", () => s.got.length >= count + 4, {
    timeoutMs: 5000,
  });
  assert.equal(double.connections, 1, "the same connection throughout");
  assert.equal(s.failure(), undefined);
});

Deno.test("bitfinexWsTicks(): heartbeats alone keep the watchdog quiet; silence trips it", async () => {
  // One snapshot per channel, then only heartbeats every 50 ms.
  await using double = await startBitfinexDouble({
    tickMs: 600_000,
    heartbeatMs: 50,
  });
  await using s = stream(double, { watchdogMs: 400 });
  await waitFor("the snapshots", () => s.got.length >= 2, { timeoutMs: 5000 });
  const hb = double.heartbeats;
  // 40 heartbeats a channel = 2 s: five watchdog periods with no update.
  await waitFor("80 heartbeats", () => double.heartbeats >= hb + 80, {
    timeoutMs: 10_000,
  });
  assert.equal(double.connections, 1, "no reconnect on heartbeats alone");
  assert.equal(s.got.length, 2, "heartbeats are not tickers");
  assert.ok(!has(s, /nothing received/));

  double.stall(true);
  await waitFor("a reconnect once silent", () => double.connections >= 2, {
    timeoutMs: 5000,
  });
  assert.ok(has(s, /nothing received for \d+ s/));
});

Deno.test("bitfinexWsTicks(): conf events (OK or not) are tolerated: the stream goes on, on the same connection", async () => {
  await using double = await startBitfinexDouble({ tickMs: 50 });
  await using s = stream(double);
  await waitFor("first ticks", () => s.got.length >= 4, { timeoutMs: 5000 });
  double.sendEvent({ event: "conf", status: "OK", flags: 65536 });
  double.sendEvent({ event: "conf", status: "FAILED", flags: 131072 });
  double.sendEvent({ event: "pong", ts: Date.now(), cid: 1 });
  const count = s.got.length;
  await waitFor("more ticks", () => s.got.length >= count + 4, {
    timeoutMs: 5000,
  });
  assert.equal(double.connections, 1);
  assert.equal(s.failure(), undefined);
  assert.deepEqual(
    s.lines.filter((l) => l.level === "warn").map((l) => l.msg),
    ["bitfinex: conf answered FAILED"],
  );
});

Deno.test("bitfinexWsTicks(): the default watchdog reconnects once 30 s pass on the clock without a message, not at 29 s", async () => {
  await using double = await startBitfinexDouble({ tickMs: 50 });
  const clock = manualClock();
  await using s = stream(double, { now: clock.now });
  await waitFor("first ticks", () => s.got.length >= 4, { timeoutMs: 5000 });
  double.stall(true);
  // Let every message already on the wire arrive (stamped with time 0).
  await clock.readAgain(2);

  clock.set(29_000);
  await clock.readAgain();
  assert.equal(double.connections, 1, "no reconnect at 29 s");

  clock.set(30_001);
  await waitFor("a second connection", () => double.connections >= 2, {
    timeoutMs: 5000,
  });
  double.stall(false);
  assert.ok(
    has(s, /nothing received for 30 s; reconnecting/),
    JSON.stringify(s.lines),
  );
});
