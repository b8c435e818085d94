/**
 * No gap after downtime: one backfill at start and one after every
 * reconnect of the live source, each forward from the newest stored candle
 * of each pair up to the current minute, never two at once. Knows nothing
 * of Kafka: the producer passes a {@linkcode HistoryStore} (what is stored,
 * how to send).
 *
 * @module
 */
import { type Candle, UnknownPairError } from "@cryptocandles/bitfinex";
import type { Config } from "@cryptocandles/config";
import {
  addStored,
  backfill,
  type BackfillOptions,
  type StoredSpan,
} from "./history.ts";

/** Options for {@linkcode createGapFiller}: those of {@linkcode backfill}. */
export type GapFillerOptions = BackfillOptions;

/** Fills the history's holes, from {@linkcode createGapFiller}. */
export interface GapFiller {
  /**
   * Backfills what is missing now ({@linkcode backfill}: rate limits waited
   * out, minutes without trades sent as `empty`, each minute sent once as
   * `stored` grows). While a run is under way, the calls made meanwhile
   * share one more run after it, which plans against what the first stored.
   *
   * @returns Candles that run sent, per pair.
   * @throws {UnknownPairError} When Bitfinex does not know a pair; any error of the run.
   */
  fill(): Promise<Record<string, number>>;
  /**
   * For the live source's `onReconnect`: fills the minutes missed while
   * disconnected, in the background; a failure is logged, not thrown.
   */
  reconnected(): void;
  /**
   * Resolves once no run is under way or waiting, or after `timeoutMs`.
   *
   * @param timeoutMs The longest wait. @default {Infinity}
   */
  idle(timeoutMs?: number): Promise<void>;
}

/**
 * Creates the filler of history holes for the configured pairs.
 *
 * @param config The configuration (`BACKFILL`, source, coins).
 * @param options What is stored per pair (kept up to date), the sender, signal, logger and clock.
 * @returns The filler; `fill()` it at start, hand `reconnected` to the live source.
 *
 * @example Backfill at start, and after every reconnect
 * ```ts ignore
 * import { createGapFiller, openSource } from "@cryptocandles/sources";
 * const history = createGapFiller(config, { stored, send, signal, log });
 * await history.fill();
 * for await (const t of openSource(config, { signal, log, onReconnect: history.reconnected })) send(t);
 * ```
 */
export function createGapFiller(
  config: Config,
  options: GapFillerOptions,
): GapFiller {
  const { signal, log } = options;
  let running: Promise<Record<string, number>> | undefined;
  let queued: Promise<Record<string, number>> | undefined;

  function fill(): Promise<Record<string, number>> {
    if (running === undefined) {
      running = backfill(config, options).finally(() => running = undefined);
      return running;
    }
    queued ??= running.catch(() => {}).then(() => {
      queued = undefined;
      return fill();
    });
    return queued;
  }

  function reconnected(): void {
    if (signal.aborted) return;
    log.info("backfill: filling the minutes missed while disconnected");
    fill().catch((error) => {
      if (signal.aborted) return;
      log.warn(`backfill: after the reconnect: ${(error as Error).message}`);
    });
  }

  async function idle(timeoutMs = Infinity): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      if (Number.isFinite(timeoutMs)) timer = setTimeout(resolve, timeoutMs);
    });
    try {
      while (queued ?? running) {
        const settled = (queued ?? running)!.then(() => {}, () => {});
        if (
          await Promise.race([
            settled.then(() => false),
            late.then(() => true),
          ])
        ) return;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  return { fill, reconnected, idle };
}

/** Where history candles are kept (for the producer, the compacted `<topic>.candles`). */
export interface HistoryStore {
  /** Reads every stored candle, calling `onCandle` with each; resolves at the end. */
  read(onCandle: (candle: Candle) => void): Promise<unknown>;
  /** Stores one page of candles; resolves once they are acknowledged. */
  send(candles: Candle[]): Promise<void>;
}

/** Options for {@linkcode startHistory}. */
export interface StartHistoryOptions
  extends Omit<GapFillerOptions, "stored" | "send"> {
  /** Opens the store (it may throw: no store, no history). */
  open: () => Promise<HistoryStore>;
}

/**
 * The producer's history, start to end: with `BACKFILL` > 0, opens the
 * store, reads what it holds, backfills what is missing and returns the
 * filler to hand the live source (`reconnected`). When the store cannot
 * be opened or read there is no history; when Bitfinex cannot be reached
 * (or a page cannot be sent) the first fill stops there, and reconnects
 * still fill. Either is logged (`backfill: stopped (…); going live`), and
 * the producer goes live.
 *
 * @param config The configuration (`BACKFILL`, source, coins).
 * @param options How to open the store, the signal, logger and clock.
 * @returns The filler, or `undefined` without history (`BACKFILL=0`, no store).
 * @throws {UnknownPairError} When Bitfinex does not know a pair; the signal's reason once aborted.
 *
 * @example
 * ```ts ignore
 * const history = await startHistory(config, { open: () => candleStore(kafka), signal, log });
 * for await (const t of openSource(config, { signal, log, onReconnect: history?.reconnected })) send(t);
 * ```
 */
export async function startHistory(
  config: Config,
  options: StartHistoryOptions,
): Promise<GapFiller | undefined> {
  const { open, signal, log } = options;
  if (config.producer.backfillMs <= 0) return undefined;
  const goLive = (error: unknown) => {
    if (error instanceof UnknownPairError || signal.aborted) throw error;
    log.warn(`backfill: stopped (${(error as Error).message}); going live`);
  };
  let history: GapFiller;
  try {
    const store = await open();
    const stored = new Map<string, StoredSpan>();
    await store.read((candle) => addStored(stored, candle));
    history = createGapFiller(config, { ...options, stored, send: store.send });
  } catch (error) {
    goLive(error);
    return undefined;
  }
  await history.fill().catch(goLive);
  return history;
}
