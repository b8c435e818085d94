import assert from "node:assert/strict";
import {
  bitfinexCandles,
  type Candle,
  candleFromRow,
  fillMinutes,
  UnknownPairError,
} from "@cryptocandles/bitfinex";
import { createLogger } from "@cryptocandles/runtime";
import { startBitfinexDouble } from "../doubles/bitfinex_double.ts";

const M = 60_000;
const T0 = Date.UTC(2026, 0, 5, 12, 0); // a minute boundary

function recordingLog() {
  const lines: string[] = [];
  return { lines, log: createLogger("test", { write: (l) => lines.push(l) }) };
}

/** A fetch answering from a list of scripted responses, recording the URLs. */
function scripted(answers: (() => Response)[]) {
  const urls: string[] = [];
  const fetch = ((input: string | URL | Request) => {
    urls.push(String(input));
    const next = answers.shift();
    if (!next) throw new Error("no more scripted answers");
    return Promise.resolve(next());
  }) as typeof globalThis.fetch;
  return { urls, fetch };
}

async function collect(pages: AsyncIterable<Candle[]>): Promise<Candle[]> {
  const all: Candle[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}

Deno.test("candleFromRow() reads CLOSE before HIGH, as Bitfinex orders the row", () => {
  // MTS, OPEN, CLOSE, HIGH, LOW, VOLUME
  const c = candleFromRow("tBTCUSD", [T0, 100, 104, 110, 95, 2.5]);
  assert.deepEqual(c, {
    pair: "tBTCUSD",
    interval: "1m",
    start: T0,
    open: 100,
    high: 110,
    low: 95,
    close: 104,
    volume: 2.5,
    empty: false,
  });
});

Deno.test("candleFromRow() refuses a row that is not six numbers, quoting it", () => {
  assert.throws(
    () => candleFromRow("tBTCUSD", [T0, 1, 2, "x", 4, 5]),
    /tBTCUSD is not \[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME\]/,
  );
  assert.throws(() => candleFromRow("tBTCUSD", [T0, 1]), TypeError);
});

Deno.test("fillMinutes() makes a minute without trades a flat empty candle at the previous close", () => {
  const real = [
    candleFromRow("tX", [T0, 10, 11, 12, 9, 1]),
    candleFromRow("tX", [T0 + 3 * M, 11, 13, 13, 11, 2]),
  ];
  const out = fillMinutes("tX", real, { from: T0, to: T0 + 5 * M });
  assert.deepEqual(out.map((c) => [c.start - T0, c.empty, c.close]), [
    [0, false, 11],
    [M, true, 11],
    [2 * M, true, 11],
    [3 * M, false, 13],
    [4 * M, true, 13],
  ]);
  const flat = out[1];
  assert.equal(flat.volume, 0);
  assert.equal(flat.open, 11);
  assert.equal(flat.high, 11);
  assert.equal(flat.low, 11);
});

Deno.test("fillMinutes() leaves minutes before the first known close missing, unless given one", () => {
  const real = [candleFromRow("tX", [T0 + 2 * M, 10, 11, 12, 9, 1])];
  assert.equal(fillMinutes("tX", real, { from: T0, to: T0 + 3 * M }).length, 1);
  const withClose = fillMinutes("tX", real, {
    from: T0,
    to: T0 + 3 * M,
    previousClose: 7,
  });
  assert.deepEqual(withClose.map((c) => [c.empty, c.close]), [
    [true, 7],
    [true, 7],
    [false, 11],
  ]);
});

Deno.test("bitfinexCandles() pages with sort=1, dedups an overlapping page and keeps start order", async () => {
  const row = (i: number) => [T0 + i * M, 1, 2, 3, 0.5, i];
  const { urls, fetch } = scripted([
    // a full page of 3 (limit 3), out of order
    () => Response.json([row(2), row(0), row(1)]),
    // the next page overlaps the previous one by a row
    () => Response.json([row(2), row(3), row(4)]),
    () => Response.json([row(5)]),
  ]);
  const { log } = recordingLog();
  const got = await collect(bitfinexCandles({
    url: "http://x/v2",
    pair: "tBTCUSD",
    from: T0,
    to: T0 + 6 * M,
    limit: 3,
    signal: AbortSignal.timeout(5_000),
    log,
    fetch,
  }));
  assert.deepEqual(got.map((c) => c.volume), [0, 1, 2, 3, 4, 5]);
  assert.ok(got.every((c) => !c.empty));
  const first = new URL(urls[0]);
  assert.equal(first.pathname, "/v2/candles/trade:1m:tBTCUSD/hist");
  assert.equal(first.searchParams.get("sort"), "1");
  assert.equal(first.searchParams.get("limit"), "3");
  assert.equal(first.searchParams.get("start"), String(T0));
  assert.equal(first.searchParams.get("end"), String(T0 + 6 * M - 1));
  assert.equal(new URL(urls[1]).searchParams.get("start"), String(T0 + 3 * M));
});

Deno.test("bitfinexCandles() waits on 429 and ERR_RATE_LIMIT, logging how long", async () => {
  const { fetch, urls } = scripted([
    () => Response.json(["error", 11010, "ratelimit: error"], { status: 429 }),
    () => Response.json({ error: "ERR_RATE_LIMIT" }, { status: 200 }),
    () => Response.json([[T0, 1, 2, 3, 0.5, 1]]),
  ]);
  const { lines, log } = recordingLog();
  const got = await collect(bitfinexCandles({
    url: "http://x/v2",
    pair: "tETHUSD",
    from: T0,
    to: T0 + M,
    rateLimitWaitMs: 20,
    signal: AbortSignal.timeout(5_000),
    log,
    fetch,
  }));
  assert.equal(got.length, 1);
  assert.equal(urls.length, 3);
  const waits = lines.filter((l) => /rate limited/.test(l));
  assert.equal(waits.length, 2);
  assert.match(waits[0], /waiting 0\.02 s/);
});

Deno.test("bitfinexCandles() takes an empty answer as no history", async () => {
  const { fetch } = scripted([() => Response.json([])]);
  const got = await collect(bitfinexCandles({
    url: "http://x/v2",
    pair: "tETHUSD",
    from: T0,
    to: T0 + 60 * M,
    signal: AbortSignal.timeout(5_000),
    log: recordingLog().log,
    fetch,
  }));
  assert.deepEqual(got, []);
});

Deno.test("bitfinexCandles() against the double: every row of the span once, the gaps as empty minutes, through 429s", async () => {
  await using double = await startBitfinexDouble({
    candleRateLimitEvery: 3,
    candleRetryAfterSeconds: 0,
  });
  const to = Math.floor(Date.now() / M) * M;
  const from = to - 1_000 * M;
  const progress: number[] = [];
  const got = await collect(bitfinexCandles({
    url: double.restUrl,
    pair: "tSOLUSD",
    from,
    to,
    limit: 200,
    signal: AbortSignal.timeout(20_000),
    log: recordingLog().log,
    onProgress: (p) => progress.push(p.pagesLeft),
  }));
  const rows = double.candleRows("tSOLUSD", from, to - 1);
  const real = got.filter((c) => !c.empty);
  assert.deepEqual(
    real.map((c) => [c.start, c.open, c.close, c.high, c.low, c.volume]),
    rows,
  );
  // every minute from the first row to the end, once
  const starts = got.map((c) => c.start);
  assert.equal(new Set(starts).size, starts.length);
  assert.equal(starts.length, (to - rows[0][0]) / M);
  assert.ok(got.some((c) => c.empty), "the double has minutes without trades");
  assert.ok(double.restRequests.some((r) => r.status === 429));
  assert.equal(progress.at(-1), 0);
});

Deno.test("bitfinexCandles() stops with UnknownPairError naming an unknown pair", async () => {
  await using double = await startBitfinexDouble();
  await assert.rejects(
    collect(bitfinexCandles({
      url: double.restUrl,
      pair: "tNOPEUSD",
      from: Date.now() - 10 * M,
      to: Date.now(),
      signal: AbortSignal.timeout(5_000),
      log: recordingLog().log,
    })),
    (error: Error) =>
      error instanceof UnknownPairError && /tNOPEUSD/.test(error.message),
  );
});
