import assert from "node:assert/strict";
import {
  recordTicks,
  replayTicks,
  type SyntheticOptions,
  syntheticTicks,
} from "@cryptocandles/sources";
import type { Ticker } from "@cryptocandles/ticker";

const COINS = ["tBTCUSD", "tETHUSD", "tSOLUSD"];

/** The first `count` tickers of `source`. */
async function take<T>(source: AsyncIterable<T>, count: number): Promise<T[]> {
  const out: T[] = [];
  if (count <= 0) return out;
  for await (const item of source) {
    out.push(item);
    if (out.length === count) break;
  }
  return out;
}

/** An async source of `items`. */
async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

/** `rounds` rounds of synthetic tickers at full speed, with a fixed clock. */
function synthetic(
  seed: number,
  rounds: number,
  options: Partial<SyntheticOptions> = {},
): Promise<Ticker[]> {
  return take(
    syntheticTicks({
      coins: COINS,
      rate: 0,
      seed,
      signal: new AbortController().signal,
      now: () => 1_700_000_000_000,
      ...options,
    }),
    rounds * (options.coins ?? COINS).length,
  );
}

Deno.test("syntheticTicks() gives the same prices for the same seed", async () => {
  assert.deepEqual(await synthetic(42, 50), await synthetic(42, 50));
});

Deno.test("syntheticTicks() gives other prices for another seed", async () => {
  const a = (await synthetic(1, 5)).map((t) => t.precio_ultimo);
  const b = (await synthetic(2, 5)).map((t) => t.precio_ultimo);
  assert.notDeepEqual(a, b);
});

Deno.test("syntheticTicks() yields one ticker per coin per round, in order", async () => {
  const ticks = await synthetic(7, 4);
  assert.deepEqual(
    ticks.map((t) => t.nombre),
    [...COINS, ...COINS, ...COINS, ...COINS],
  );
});

Deno.test("syntheticTicks() stamps each ticker with the injected clock", async () => {
  let clock = 100;
  const ticks = await synthetic(7, 2, { now: () => clock++ });
  assert.deepEqual(ticks.map((t) => t.event_time), [
    100,
    101,
    102,
    103,
    104,
    105,
  ]);
});

Deno.test("syntheticTicks() keeps prices positive and high >= last >= low", async () => {
  const coins = ["tBTCUSD", "tXRPUSD", "tNEWUSD"];
  for (const ticker of await synthetic(3, 2_000, { coins })) {
    const { nombre, precio_ultimo: last, precio_maximo, precio_minimo } =
      ticker;
    assert.ok(precio_minimo > 0, `${nombre}: low ${precio_minimo}`);
    assert.ok(
      precio_maximo >= last && last >= precio_minimo,
      `${nombre}: high ${precio_maximo} last ${last} low ${precio_minimo}`,
    );
    assert.ok(ticker.bid > 0 && ticker.bid < ticker.ask);
    assert.ok(ticker.bid_size > 0 && ticker.ask_size > 0 && ticker.volume > 0);
  }
});

Deno.test("syntheticTicks() starts well-known pairs near their price and others at 100", async () => {
  const [btc, other] = await synthetic(5, 1, { coins: ["tBTCUSD", "tNEWUSD"] });
  assert.ok(Math.abs(btc.precio_ultimo / 66_000 - 1) < 0.01);
  assert.ok(Math.abs(other.precio_ultimo / 100 - 1) < 0.01);
});

Deno.test("syntheticTicks() paces rounds at rate per second", async () => {
  const started = performance.now();
  // One round every 20 ms: the 4th round comes after three waits.
  const ticks = await synthetic(9, 4, { coins: ["tBTCUSD"], rate: 50 });
  const elapsed = performance.now() - started;
  assert.equal(ticks.length, 4);
  assert.ok(elapsed >= 3 * 20 - 3, `only ${elapsed.toFixed(1)} ms elapsed`);
});

Deno.test("syntheticTicks() ends when the signal aborts during a wait", async () => {
  const controller = new AbortController();
  const ticks: Ticker[] = [];
  const started = performance.now();
  for await (
    const ticker of syntheticTicks({
      coins: COINS,
      rate: 0.001, // a round every 1000 s
      seed: 1,
      signal: controller.signal,
    })
  ) {
    ticks.push(ticker);
    if (ticks.length === COINS.length) setTimeout(() => controller.abort(), 5);
  }
  assert.equal(ticks.length, COINS.length);
  assert.ok(performance.now() - started < 1000);
});

/** Three recorded tickers, an hour apart. */
const RECORDED: Ticker[] = [0, 1, 2].map((i) => ({
  nombre: i === 1 ? "tETHUSD" : "tBTCUSD",
  bid: 100 + i,
  bid_size: 1.5,
  ask: 101 + i,
  ask_size: 2.25,
  daily_change: -0.5,
  daily_change_percentage: -0.005,
  precio_ultimo: 100.5 + i,
  volume: 10 + i,
  precio_maximo: 110,
  precio_minimo: 90,
  event_time: 1_700_000_000_000 + i * 3_600_000,
}));

async function tempFile(lines: string[]): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".jsonl" });
  await Deno.writeTextFile(file, lines.join("\n"));
  return file;
}

Deno.test("replayTicks() yields the recorded tickers unchanged, and with speed 0 without waiting", async () => {
  const file = await tempFile([...RECORDED.map((t) => JSON.stringify(t)), ""]);
  try {
    const started = performance.now();
    const ticks = await take(
      replayTicks({ file, speed: 0, signal: new AbortController().signal }),
      10,
    );
    assert.deepEqual(ticks, RECORDED);
    assert.ok(performance.now() - started < 1000);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("replayTicks() spaces tickers as recorded divided by speed", async () => {
  const lines = [0, 40].map((ms) =>
    JSON.stringify({ ...RECORDED[0], event_time: RECORDED[0].event_time + ms })
  );
  const file = await tempFile(lines);
  try {
    const started = performance.now();
    const ticks = await take(
      replayTicks({ file, speed: 2, signal: new AbortController().signal }),
      10,
    );
    const elapsed = performance.now() - started;
    assert.equal(ticks.length, 2);
    assert.ok(elapsed >= 20 - 1, `only ${elapsed.toFixed(1)} ms elapsed`);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("replayTicks() skips blank lines", async () => {
  const file = await tempFile([
    "",
    JSON.stringify(RECORDED[0]),
    "   ",
    JSON.stringify(RECORDED[1]),
  ]);
  try {
    const ticks = await take(
      replayTicks({ file, speed: 0, signal: new AbortController().signal }),
      10,
    );
    assert.deepEqual(ticks, RECORDED.slice(0, 2));
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("replayTicks() names the file, line and field of a bad line", async () => {
  const bad = { ...RECORDED[1], bid: "101" };
  const file = await tempFile([
    JSON.stringify(RECORDED[0]),
    JSON.stringify(bad),
  ]);
  try {
    const seen: Ticker[] = [];
    await assert.rejects(
      async () => {
        for await (
          const ticker of replayTicks({
            file,
            speed: 0,
            signal: new AbortController().signal,
          })
        ) seen.push(ticker);
      },
      (error) =>
        error instanceof SyntaxError &&
        error.message === `${file}:2: field "bid" is not a number`,
    );
    assert.deepEqual(seen, [RECORDED[0]]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("replayTicks() names the file and line of a line that is not JSON or has no pair", async () => {
  for (
    const [line, message] of [
      ["{not json", /:1: not JSON/],
      [JSON.stringify({ bid: 1 }), /:1: no "nombre"/],
      [
        JSON.stringify({ ...RECORDED[0], event_time: undefined }),
        /:1: field "event_time"/,
      ],
    ] as const
  ) {
    const file = await tempFile([line]);
    try {
      await assert.rejects(
        take(
          replayTicks({ file, speed: 0, signal: new AbortController().signal }),
          1,
        ),
        (error) =>
          error instanceof SyntaxError &&
          error.message.startsWith(file) && message.test(error.message),
      );
    } finally {
      await Deno.remove(file);
    }
  }
});

Deno.test("recordTicks() passes tickers through and appends exactly their JSON lines", async () => {
  const file = await tempFile(["existing line\n"]);
  try {
    const passed = await take(recordTicks(fromArray(RECORDED), file), 10);
    assert.deepEqual(passed, RECORDED);
    assert.equal(
      await Deno.readTextFile(file),
      "existing line\n" +
        RECORDED.map((t) => JSON.stringify(t) + "\n").join(""),
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("recordTicks() output replays as the same tickers", async () => {
  const file = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    const live = await synthetic(11, 3);
    await take(recordTicks(fromArray(live), file), live.length);
    const replayed = await take(
      replayTicks({ file, speed: 0, signal: new AbortController().signal }),
      100,
    );
    assert.deepEqual(replayed, live);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("recordTicks() closes the file when the consumer stops early", async () => {
  const file = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    const first = await take(
      recordTicks(
        syntheticTicks({
          coins: COINS,
          rate: 0,
          seed: 4,
          signal: new AbortController().signal,
          now: () => 0,
        }),
        file,
      ),
      2,
    );
    const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => JSON.parse(l)), first);
  } finally {
    await Deno.remove(file);
  }
});
