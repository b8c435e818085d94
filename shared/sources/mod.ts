/**
 * Where the producer's ticks come from, as one async iterable whatever the
 * source: Bitfinex (WebSocket or REST), a seeded synthetic random walk around
 * real price levels, or the replay of a JSON-lines recording; any of them can
 * be recorded. Knows nothing of Kafka.
 *
 * @example The synthetic source
 * ```ts
 * import { syntheticTicks } from "@cryptocandles/sources";
 * const signal = AbortSignal.timeout(1_000);
 * for await (const t of syntheticTicks({ coins: ["tBTCUSD"], rate: 0, seed: 42, signal })) {
 *   console.log(t.nombre, t.precio_ultimo);
 *   break;
 * }
 * ```
 *
 * @module
 */
export {
  isLive,
  openSource,
  recordTicks,
  type ReplayOptions,
  replayTicks,
  type SourceOptions,
  type SyntheticOptions,
  syntheticTicks,
} from "./sources.ts";
export {
  addStored,
  backfill,
  type BackfillOptions,
  type BackfillRange,
  historyCandles,
  type HistoryOptions,
  planBackfill,
  type StoredSpan,
  syntheticCandles,
} from "./history.ts";
export {
  createGapFiller,
  type GapFiller,
  type GapFillerOptions,
  type HistoryStore,
  startHistory,
  type StartHistoryOptions,
} from "./gaps.ts";
export {
  createTickStats,
  type SentCounts,
  type SentTick,
  type TickStats,
} from "./stats.ts";
