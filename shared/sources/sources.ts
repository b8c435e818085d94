/**
 * Where the producer's tickers come from: Bitfinex (WebSocket or REST),
 * seeded synthetic prices, or a recorded JSON-lines file; and recording any
 * of them to such a file.
 *
 * @module
 */
import {
  bitfinexRestTicks,
  bitfinexWsTicks,
  type ReconnectEvent,
} from "@cryptocandles/bitfinex";
import type { Config } from "@cryptocandles/config";
import type { Logger } from "@cryptocandles/runtime";
import { setImmediate } from "node:timers";
import { delay } from "@cryptocandles/runtime";
import { type Ticker, TICKER_FIELDS } from "@cryptocandles/ticker";

/** Options for {@linkcode openSource}. */
export interface SourceOptions {
  /** Stops the source: its iterator ends. */
  signal: AbortSignal;
  /** Where the source logs. */
  log: Logger;
  /** Clock. @default {Date.now} */
  now?: () => number;
  /**
   * Told when a Bitfinex source is back after an outage (a WebSocket
   * subscribed again, a REST poll answered after failures), so the minutes
   * it missed can be backfilled ({@linkcode createGapFiller}).
   * @default {undefined}
   */
  onReconnect?: (event: ReconnectEvent) => void;
}

/**
 * Opens the source the configuration names (`SOURCE`), recording it to
 * `RECORD_FILE` when set. Live sources get strictly increasing event times
 * per pair, so two ticks never share a point's (Coin, time).
 *
 * @param config The configuration.
 * @param options Signal, logger and clock.
 * @returns The tickers.
 *
 * @example
 * ```ts ignore
 * for await (const ticker of openSource(config, { signal, log })) send(ticker);
 * ```
 */
export function openSource(
  config: Config,
  options: SourceOptions,
): AsyncIterable<Ticker> {
  const { signal, log, now = Date.now, onReconnect } = options;
  const { coins } = config;
  let source: AsyncIterable<Ticker>;
  switch (config.source) {
    case "bitfinex-ws":
      source = strictlyIncreasing(
        bitfinexWsTicks({
          url: config.bitfinex.wsUrl,
          coins,
          signal,
          log,
          now,
          onReconnect,
        }),
      );
      break;
    case "bitfinex-rest":
      source = strictlyIncreasing(
        bitfinexRestTicks({
          url: config.bitfinex.restUrl,
          coins,
          pollMs: config.bitfinex.pollMs,
          signal,
          log,
          now,
          onReconnect,
        }),
      );
      break;
    case "synthetic":
      source = strictlyIncreasing(
        syntheticTicks({ coins, ...config.synthetic, signal, now }),
      );
      break;
    case "replay":
      source = replayTicks({
        file: config.replay.file!,
        speed: config.replay.speed,
        signal,
      });
      break;
  }
  return config.recordFile ? recordTicks(source, config.recordFile) : source;
}

/** Options for {@linkcode syntheticTicks}. */
export interface SyntheticOptions {
  coins: string[];
  /** Ticks per second per pair; 0 = as fast as the consumer of the iterator takes them. */
  rate: number;
  /** Seed of the prices: the same seed gives the same price paths. */
  seed: number;
  signal: AbortSignal;
  /** Clock for event times. @default {Date.now} */
  now?: () => number;
}

/** Starting prices of well-known pairs; others start at 100. */
export const START_PRICES: Record<string, number> = {
  tBTCUSD: 66_000,
  tETHUSD: 3_500,
  tSOLUSD: 150,
  tXRPUSD: 0.5,
};

/**
 * Seeded geometric Brownian motion per pair (20 % daily volatility), with
 * bid/ask around the last price and daily high/low/volume kept up to date.
 *
 * @param options Pairs, rate, seed, signal and clock.
 * @returns One ticker per pair per round, `rate` rounds per second.
 *
 * @example
 * ```ts
 * import { syntheticTicks } from "@cryptocandles/sources";
 * const controller = new AbortController();
 * for await (const t of syntheticTicks({ coins: ["tBTCUSD"], rate: 0, seed: 1, signal: controller.signal })) {
 *   console.log(t.precio_ultimo);
 *   controller.abort();
 * }
 * ```
 */
export async function* syntheticTicks(
  options: SyntheticOptions,
): AsyncGenerator<Ticker> {
  const { coins, rate, seed, signal, now = Date.now } = options;
  const random = mulberry32(seed);
  const gaussian = () =>
    Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const sigmaPerSecond = 0.2 / Math.sqrt(86_400);
  const dt = rate > 0 ? 1 / rate : 1;
  const state = new Map(coins.map((coin) => {
    const open = START_PRICES[coin] ?? 100;
    return [coin, { open, price: open, high: open, low: open, volume: 0 }];
  }));
  let round = 0;
  while (!signal.aborted) {
    for (const coin of coins) {
      const s = state.get(coin)!;
      s.price *= Math.exp(
        -0.5 * sigmaPerSecond ** 2 * dt +
          sigmaPerSecond * Math.sqrt(dt) * gaussian(),
      );
      s.high = Math.max(s.high, s.price);
      s.low = Math.min(s.low, s.price);
      const size = Math.round(random() * 1e6) / 1e6 + 0.01;
      s.volume += size;
      const spread = s.price * 0.00002;
      yield {
        nombre: coin,
        bid: s.price - spread,
        bid_size: size,
        ask: s.price + spread,
        ask_size: Math.round(random() * 1e6) / 1e6 + 0.01,
        daily_change: s.price - s.open,
        daily_change_percentage: (s.price - s.open) / s.open,
        precio_ultimo: s.price,
        volume: s.volume,
        precio_maximo: s.high,
        precio_minimo: s.low,
        event_time: now(),
      };
    }
    round++;
    if (rate > 0) await delay(1000 / rate, signal).catch(() => {});
    // Flat out, let I/O run every 256 rounds; setImmediate, as nested
    // zero-delay timers are clamped to 4 ms and would cap the rate.
    else if (round % 256 === 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

/** Options for {@linkcode replayTicks}. */
export interface ReplayOptions {
  /** A JSON-lines file of tickers (as {@linkcode recordTicks} writes). */
  file: string;
  /** Speed factor: 2 = twice as fast as recorded; 0 = no waiting. */
  speed: number;
  signal: AbortSignal;
}

/**
 * Replays a recorded file: the same tickers with the same event times,
 * spaced as recorded divided by `speed`.
 *
 * @param options File, speed and signal.
 * @returns The recorded tickers.
 * @throws {SyntaxError} Naming the file and line of a line that is not a ticker.
 *
 * @example
 * ```ts ignore
 * for await (const t of replayTicks({ file: "ticks.jsonl", speed: 10, signal })) console.log(t);
 * ```
 */
export async function* replayTicks(
  options: ReplayOptions,
): AsyncGenerator<Ticker> {
  const { file, speed, signal } = options;
  const text = await Deno.readTextFile(file);
  let previous: number | undefined;
  let lineNumber = 0;
  for (const line of text.split("\n")) {
    lineNumber++;
    if (signal.aborted) return;
    if (line.trim() === "") continue;
    const ticker = parseTickerLine(line, `${file}:${lineNumber}`);
    if (speed > 0 && previous !== undefined && ticker.event_time > previous) {
      await delay((ticker.event_time - previous) / speed, signal).catch(
        () => {},
      );
      if (signal.aborted) return;
    }
    previous = ticker.event_time;
    yield ticker;
  }
}

/**
 * Passes tickers through, appending each to `file` as one JSON line.
 *
 * @param source Any ticker source.
 * @param file The JSON-lines file (appended to).
 * @returns The same tickers.
 *
 * @example
 * ```ts ignore
 * const recorded = recordTicks(syntheticTicks(options), "ticks.jsonl");
 * ```
 */
export async function* recordTicks(
  source: AsyncIterable<Ticker>,
  file: string,
): AsyncGenerator<Ticker> {
  using out = await Deno.open(file, { append: true, create: true });
  const encoder = new TextEncoder();
  for await (const ticker of source) {
    await out.write(encoder.encode(JSON.stringify(ticker) + "\n"));
    yield ticker;
  }
}

/** Makes event times strictly increase per pair (a clash moves the later one 1 ms on). */
async function* strictlyIncreasing(
  source: AsyncIterable<Ticker>,
): AsyncGenerator<Ticker> {
  const last = new Map<string, number>();
  for await (const ticker of source) {
    const previous = last.get(ticker.nombre) ?? -Infinity;
    if (ticker.event_time <= previous) ticker.event_time = previous + 1;
    last.set(ticker.nombre, ticker.event_time);
    yield ticker;
  }
}

function parseTickerLine(line: string, where: string): Ticker {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new SyntaxError(`${where}: not JSON (${(error as Error).message})`);
  }
  if (typeof value?.nombre !== "string") {
    throw new SyntaxError(`${where}: no "nombre" (the pair)`);
  }
  for (const field of [...TICKER_FIELDS, "event_time"]) {
    if (typeof value[field] !== "number") {
      throw new SyntaxError(`${where}: field "${field}" is not a number`);
    }
  }
  return value as unknown as Ticker;
}

/**
 * A small seeded PRNG (mulberry32), uniform in [0, 1).
 *
 * @param seed The seed.
 * @returns The generator.
 *
 * @example
 * ```ts ignore
 * const random = mulberry32(42);
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Whether the configured source is live data, whose newest ticks matter
 * most (a producer that cannot send drops the oldest), rather than a file
 * or a flat-out synthetic walk (whose producer waits instead).
 *
 * @param config The `source` and `synthetic.rate` of the configuration.
 * @returns `false` for `replay` and for `synthetic` at rate 0.
 *
 * @example
 * ```ts
 * import { isLive } from "@cryptocandles/sources";
 * console.log(isLive({ source: "replay", synthetic: { rate: 1 } })); // false
 * ```
 */
export function isLive(
  config: Pick<Config, "source"> & {
    synthetic: Pick<Config["synthetic"], "rate">;
  },
): boolean {
  return config.source !== "replay" &&
    !(config.source === "synthetic" && config.synthetic.rate === 0);
}
