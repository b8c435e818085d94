import assert from "node:assert/strict";
import {
  type BitfinexDouble,
  INFO_MESSAGES,
  RATE_LIMIT_BODY,
  RATE_LIMIT_BODY_DOCUMENTED,
  startBitfinexDouble,
} from "./bitfinex_double.ts";

// --- a small WebSocket client for the tests --------------------------------

type Message = Record<string, unknown> | unknown[];

interface Client {
  /** The next message, or a rejection after `timeoutMs` without one. */
  next(timeoutMs?: number): Promise<Message>;
  /** Skips messages until one matches. */
  until(match: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  /** Resolves true if nothing arrives for `ms`. */
  silentFor(ms: number): Promise<boolean>;
  send(message: unknown): void;
  /** Resolves with the close event (whoever closed). */
  closed: Promise<CloseEvent>;
  close(): Promise<CloseEvent>;
}

async function connect(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  const queue: Message[] = [];
  const waiters: ((m: Message) => void)[] = [];
  const closed = Promise.withResolvers<CloseEvent>();
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  };
  ws.onerror = () => {};
  ws.onclose = (event) => closed.resolve(event);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    closed.promise.then(() => reject(new Error(`could not open ${url}`)));
  });

  function next(timeoutMs = 2000): Promise<Message> {
    const queued = queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (m: Message) => {
        clearTimeout(timer);
        resolve(m);
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  }

  return {
    next,
    async until(match, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const message = await next(Math.max(1, deadline - Date.now()));
        if (match(message)) return message;
      }
    },
    async silentFor(ms) {
      try {
        await next(ms);
        return false;
      } catch {
        return true;
      }
    },
    send: (message) => ws.send(JSON.stringify(message)),
    closed: closed.promise,
    close() {
      if (ws.readyState < WebSocket.CLOSING) ws.close();
      return closed.promise;
    },
  };
}

/** Connects, checks the info message and subscribes to `symbol`. */
async function subscribed(double: BitfinexDouble, symbol = "tBTCUSD") {
  const client = await connect(double.wsUrl);
  const info = await client.next();
  assert.equal((info as Record<string, unknown>).event, "info");
  client.send({ event: "subscribe", channel: "ticker", symbol });
  const answer = await client.next() as Record<string, unknown>;
  assert.equal(answer.event, "subscribed");
  return { client, chanId: answer.chanId as number };
}

/** Resolves once `condition()` holds, or rejects after `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const isTicker = (chanId: number) => (m: Message) =>
  Array.isArray(m) && m[0] === chanId && Array.isArray(m[1]);

// --- WebSocket ------------------------------------------------------------

Deno.test("startBitfinexDouble() sends the info message first on connect", async () => {
  await using double = await startBitfinexDouble();
  assert.match(double.wsUrl, /^ws:\/\/127\.0\.0\.1:\d+\/ws\/2$/);
  assert.equal(double.restUrl, `http://127.0.0.1:${double.port}/v2`);

  const client = await connect(double.wsUrl);
  const info = await client.next() as Record<string, unknown>;
  assert.equal(info.event, "info");
  assert.equal(info.version, 2);
  assert.equal(typeof info.serverId, "string");
  assert.deepEqual(info.platform, { status: 1 });
  assert.equal(double.connections, 1);
  assert.equal(double.openConnections, 1);
  await client.close();
});

Deno.test("subscribe answers subscribed, then a snapshot, then updates", async () => {
  await using double = await startBitfinexDouble({ tickMs: 20 });
  const client = await connect(double.wsUrl);
  await client.next();
  client.send({ event: "subscribe", channel: "ticker", symbol: "tBTCUSD" });

  const answer = await client.next() as Record<string, unknown>;
  assert.equal(typeof answer.chanId, "number");
  assert.deepEqual(answer, {
    event: "subscribed",
    channel: "ticker",
    chanId: answer.chanId,
    symbol: "tBTCUSD",
    pair: "BTCUSD",
  });

  const [chanId, snapshot] = await client.next() as [number, number[]];
  assert.equal(chanId, answer.chanId);
  assert.equal(snapshot.length, 10);
  assert.ok(snapshot.every((v) => typeof v === "number" && Number.isFinite(v)));
  const [bid, , ask, , change, relative, last, volume, high, low] = snapshot;
  assert.equal(last, 66000, "the snapshot starts at the pair's price");
  assert.deepEqual([change, relative], [0, 0]);
  assert.ok(bid < last && last < ask, `bid ${bid} < last ${last} < ask ${ask}`);
  assert.ok(low <= last && last <= high && volume > 0);

  const updates = [await client.next(), await client.next()] as [
    number,
    number[],
  ][];
  for (const [id, values] of updates) {
    assert.equal(id, chanId);
    assert.equal(values.length, 10);
  }
  assert.deepEqual(double.subscriptions, [
    { connection: 1, chanId, symbol: "tBTCUSD" },
  ]);
  await client.close();

  const ws = double.sent.filter((t) => t.via === "ws");
  assert.deepEqual(ws.slice(0, 3).map((t) => t.values), [
    snapshot,
    ...updates.map(([, values]) => values),
  ]);
  assert.deepEqual(
    ws.slice(0, 3).map((t) => [t.symbol, t.chanId, t.snapshot]),
    [
      ["tBTCUSD", chanId, true],
      ["tBTCUSD", chanId, false],
      ["tBTCUSD", chanId, false],
    ],
  );
});

Deno.test("the legacy pair field subscribes too, and two symbols get two channels", async () => {
  await using double = await startBitfinexDouble({ tickMs: 20 });
  const client = await connect(double.wsUrl);
  await client.next();
  client.send({ event: "subscribe", channel: "ticker", pair: "ETHUSD" });
  client.send({ event: "subscribe", channel: "ticker", symbol: "tXRPUSD" });
  const eth = await client.until((m) => !Array.isArray(m)) as Record<
    string,
    unknown
  >;
  const xrp = await client.until((m) => !Array.isArray(m)) as Record<
    string,
    unknown
  >;
  assert.deepEqual([eth.symbol, eth.pair], ["tETHUSD", "ETHUSD"]);
  assert.deepEqual([xrp.symbol, xrp.pair], ["tXRPUSD", "XRPUSD"]);
  assert.notEqual(eth.chanId, xrp.chanId);
  const [, xrpSnapshot] = await client.until(
    isTicker(xrp.chanId as number),
  ) as [number, number[]];
  assert.equal(xrpSnapshot[6], 0.5);
  await client.close();
});

Deno.test("a quiet channel gets [CHAN_ID, 'hb'] every heartbeatMs", async () => {
  await using double = await startBitfinexDouble({
    tickMs: 60_000,
    heartbeatMs: 40,
  });
  const { client, chanId } = await subscribed(double);
  await client.next(); // snapshot
  assert.deepEqual(await client.next(500), [chanId, "hb"]);
  assert.deepEqual(await client.next(500), [chanId, "hb"]);
  await client.close();
});

Deno.test("subscribe errors carry Bitfinex's codes and echo the request", async () => {
  await using double = await startBitfinexDouble({ maxSubscriptions: 2 });
  const client = await connect(double.wsUrl);
  await client.next();

  client.send({ event: "subscribe", channel: "ticker", symbol: "tFOOBAR" });
  assert.deepEqual(await client.next(), {
    event: "error",
    msg: "symbol: invalid",
    code: 10300,
    channel: "ticker",
    symbol: "tFOOBAR",
    pair: "FOOBAR",
  });

  client.send({ event: "subscribe", channel: "book", symbol: "tBTCUSD" });
  assert.equal((await client.next() as Record<string, unknown>).code, 10302);

  client.send({ event: "subscribe", channel: "ticker", symbol: "tBTCUSD" });
  await client.until((m) => !Array.isArray(m)); // subscribed
  client.send({ event: "subscribe", channel: "ticker", symbol: "tBTCUSD" });
  const dup = await client.until((m) => !Array.isArray(m)) as Record<
    string,
    unknown
  >;
  assert.deepEqual([dup.event, dup.code, dup.msg], [
    "error",
    10301,
    "subscribe: dup",
  ]);

  client.send({ event: "subscribe", channel: "ticker", symbol: "tETHUSD" });
  await client.until((m) => !Array.isArray(m)); // subscribed
  client.send({ event: "subscribe", channel: "ticker", symbol: "tSOLUSD" });
  const limit = await client.until((m) => !Array.isArray(m)) as Record<
    string,
    unknown
  >;
  assert.deepEqual([limit.event, limit.code, limit.symbol], [
    "error",
    10305,
    "tSOLUSD",
  ]);

  client.send({ event: "nonsense" });
  const unknown = await client.until((m) => !Array.isArray(m)) as Record<
    string,
    unknown
  >;
  assert.deepEqual([unknown.event, unknown.code], ["error", 10000]);

  assert.deepEqual(
    double.subscriptions.map((s) => s.symbol).sort(),
    ["tBTCUSD", "tETHUSD"],
  );
  await client.close();
});

Deno.test("unsubscribe answers unsubscribed and stops the channel", async () => {
  await using double = await startBitfinexDouble({ tickMs: 20 });
  const { client, chanId } = await subscribed(double);
  client.send({ event: "unsubscribe", chanId });
  assert.deepEqual(await client.until((m) => !Array.isArray(m)), {
    event: "unsubscribed",
    status: "OK",
    chanId,
  });
  assert.ok(await client.silentFor(100), "no updates after unsubscribed");
  assert.deepEqual(double.subscriptions, []);

  client.send({ event: "unsubscribe", chanId });
  const error = await client.next() as Record<string, unknown>;
  assert.deepEqual([error.event, error.code], ["error", 10400]);
  await client.close();
});

Deno.test("ping answers pong with the cid", async () => {
  await using double = await startBitfinexDouble();
  const client = await connect(double.wsUrl);
  await client.next();
  client.send({ event: "ping", cid: 1234 });
  const pong = await client.next() as Record<string, unknown>;
  assert.equal(pong.event, "pong");
  assert.equal(pong.cid, 1234);
  assert.equal(typeof pong.ts, "number");
  await client.close();
});

Deno.test("stall(true) silences open connections, heartbeats included, without closing them", async () => {
  await using double = await startBitfinexDouble({
    tickMs: 20,
    heartbeatMs: 30,
  });
  const { client, chanId } = await subscribed(double);
  await client.until(isTicker(chanId));

  double.stall(true);
  await client.silentFor(30); // drain what was in flight
  const before = double.sent.length;
  assert.ok(await client.silentFor(200), "nothing while stalled");
  assert.equal(double.sent.length, before, "sent records only what went out");
  client.send({ event: "ping", cid: 1 });
  assert.ok(await client.silentFor(100), "not even a pong");
  assert.equal(double.openConnections, 1, "the connection stays open");

  const fresh = await subscribed(double, "tETHUSD");
  await fresh.client.until(isTicker(fresh.chanId));
  await fresh.client.close();

  double.stall(false);
  await client.until(isTicker(chanId));
  await client.close();
});

Deno.test("stall(true, { newConnections: true }) silences new connections too", async () => {
  await using double = await startBitfinexDouble();
  double.stall(true, { newConnections: true });
  const client = await connect(double.wsUrl);
  assert.ok(await client.silentFor(100), "no info message");
  double.stall(false);
  client.send({ event: "ping", cid: 7 });
  assert.equal((await client.next() as Record<string, unknown>).cid, 7);
  await client.close();
});

Deno.test("dropConnections() cuts every WebSocket without a close frame", async () => {
  await using double = await startBitfinexDouble({ tickMs: 20 });
  const a = await subscribed(double);
  const b = await subscribed(double, "tSOLUSD");
  await double.dropConnections();

  for (const client of [a.client, b.client]) {
    const event = await client.closed;
    assert.equal(event.wasClean, false, "no close handshake");
    assert.notEqual(event.code, 1000);
  }
  assert.equal(double.openConnections, 0);
  assert.deepEqual(double.subscriptions, []);

  const again = await subscribed(double);
  assert.equal(double.connections, 3);
  await again.client.until(isTicker(again.chanId));
  await again.client.close();
});

Deno.test("sendInfo(20051) tells every connection, and closeAfterMs closes them", async () => {
  await using double = await startBitfinexDouble({ tickMs: 60_000 });
  const a = await subscribed(double);
  const b = await subscribed(double);
  double.sendInfo(20051, { closeAfterMs: 20 });
  for (const client of [a.client, b.client]) {
    const info = await client.until((m) => !Array.isArray(m));
    assert.deepEqual(info, {
      event: "info",
      code: 20051,
      msg: INFO_MESSAGES[20051],
    });
    const event = await client.closed;
    assert.equal(event.code, 1000);
    assert.ok(event.wasClean);
  }
  await waitFor(() => double.openConnections === 0);
});

Deno.test("sendInfo(20060) pauses updates until sendInfo(20061)", async () => {
  await using double = await startBitfinexDouble({
    tickMs: 20,
    heartbeatMs: 60_000,
  });
  const { client, chanId } = await subscribed(double);
  double.sendInfo(20060);
  const info = await client.until((m) => !Array.isArray(m)) as Record<
    string,
    unknown
  >;
  assert.equal(info.code, 20060);
  assert.ok(double.maintenance);
  assert.ok(await client.silentFor(100), "no updates in maintenance");

  const late = await connect(double.wsUrl);
  const lateInfo = await late.next() as Record<string, unknown>;
  assert.deepEqual(lateInfo.platform, { status: 0 });
  await late.close();
  const status = await fetch(`${double.restUrl}/platform/status`);
  assert.deepEqual(await status.json(), [0]);

  double.sendInfo(20061);
  assert.equal((await client.next() as Record<string, unknown>).code, 20061);
  await client.until(isTicker(chanId));
  await client.close();
});

Deno.test("the same seed gives the same prices, another seed others", async () => {
  const walk = async (seed: number) => {
    await using double = await startBitfinexDouble({ seed });
    const rows = [];
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${double.restUrl}/tickers?symbols=ALL`);
      rows.push(await response.json());
    }
    return rows;
  };
  const first = await walk(7);
  assert.deepEqual(await walk(7), first);
  assert.notDeepEqual(await walk(8), first);
});

// --- REST -----------------------------------------------------------------

Deno.test("GET /v2/tickers answers [SYMBOL, 10 numbers] per known symbol", async () => {
  await using double = await startBitfinexDouble();
  const response = await fetch(
    `${double.restUrl}/tickers?symbols=tBTCUSD,tETHUSD,tNOPE`,
  );
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /json/);
  const rows = await response.json() as [string, ...number[]][];
  assert.deepEqual(rows.map((r) => r[0]), ["tBTCUSD", "tETHUSD"]);
  for (const row of rows) {
    assert.equal(row.length, 11);
    assert.ok(row.slice(1).every((v) => typeof v === "number"));
  }
  assert.deepEqual(
    double.restRequests.map((r) => [r.path, r.symbols, r.status]),
    [
      ["/v2/tickers", ["tBTCUSD", "tETHUSD", "tNOPE"], 200],
    ],
  );
  assert.deepEqual(
    double.sent.map((t) => [t.via, t.symbol, t.values]),
    rows.map(([symbol, ...values]) => ["rest", symbol, values]),
  );

  const single = await fetch(`${double.restUrl}/ticker/tSOLUSD`);
  assert.equal((await single.json()).length, 10);
  const bad = await fetch(`${double.restUrl}/ticker/tNOPE`);
  assert.equal(bad.status, 500);
  assert.deepEqual(await bad.json(), ["error", 10020, "symbol: invalid"]);
});

Deno.test("rateLimit(n) answers the next n requests with 429 ERR_RATE_LIMIT", async () => {
  await using double = await startBitfinexDouble();
  const url = `${double.restUrl}/tickers?symbols=tBTCUSD`;
  double.rateLimit(2);
  for (let i = 0; i < 2; i++) {
    const limited = await fetch(url);
    assert.equal(limited.status, 429);
    assert.deepEqual(await limited.json(), RATE_LIMIT_BODY);
  }
  const ok = await fetch(url);
  assert.equal(ok.status, 200);
  await ok.body?.cancel();

  double.rateLimit(1, {
    body: RATE_LIMIT_BODY_DOCUMENTED,
    retryAfterSeconds: 1,
  });
  const documented = await fetch(url);
  assert.equal(documented.status, 429);
  assert.equal(documented.headers.get("retry-after"), "1");
  assert.deepEqual(await documented.json(), { error: "ERR_RATE_LIMIT" });
  assert.deepEqual(double.restRequests.map((r) => r.status), [
    429,
    429,
    200,
    429,
  ]);
  assert.equal(double.sent.length, 1, "only the 200 carried a ticker");
});

// --- lifecycle --------------------------------------------------------------

Deno.test("startBitfinexDouble() rejects options out of range", async () => {
  await assert.rejects(
    startBitfinexDouble({ tickMs: 0 }),
    (e) => e instanceof RangeError && /'tickMs' must be/.test(e.message),
  );
  await assert.rejects(
    startBitfinexDouble({ pairs: { btcusd: 1 } }),
    RangeError,
  );
  await assert.rejects(
    startBitfinexDouble({ pairs: { tBTCUSD: -1 } }),
    RangeError,
  );
});

Deno.test("close() is idempotent, closes open clients, and honours the signal", async () => {
  const controller = new AbortController();
  const double = await startBitfinexDouble({ signal: controller.signal });
  const { client } = await subscribed(double);
  controller.abort();
  await Promise.all([double.close(), double.close()]);
  const event = await client.closed;
  assert.equal(event.wasClean, false);
  await assert.rejects(fetch(`${double.restUrl}/platform/status`));
});
