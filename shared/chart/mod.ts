/**
 * The built-in chart page's server side: OHLC candles built from ticks at
 * every interval ({@linkcode createCandleStore}) and the HTTP/SSE server that
 * serves the page, its JSON API and live candle updates
 * ({@linkcode createChartServer}), the pipeline page's cluster snapshot
 * ({@linkcode createPipelineWatch}), and whether Kafka is reachable at all
 * ({@linkcode createKafkaReachability}, {@linkcode connectWhenReachable}).
 *
 * @example Candles from ticks
 * ```ts
 * import { createCandleStore } from "@cryptocandles/chart";
 * const store = createCandleStore();
 * store.add("tBTCUSD", Date.UTC(2026, 0, 1, 12, 1), 65_000);
 * store.add("tBTCUSD", Date.UTC(2026, 0, 1, 12, 3), 65_100);
 * console.log(store.candles("tBTCUSD", "5m").at(-1)?.close); // 65100
 * ```
 *
 * @module
 */
export {
  binStart,
  type Candle,
  type CandleStore,
  type CandleStoreOptions,
  createCandleStore,
  type Interval,
  INTERVALS,
  isInterval,
} from "./candles.ts";
export {
  type ChartClient,
  type ChartServer,
  type ChartServerOptions,
  type ChartState,
  createChartServer,
  type LastTick,
} from "./http.ts";
export {
  createRecordHandler,
  type RecordHandlerOptions,
  type SeekOptions,
  seekToHistory,
  startReading,
  type StartReadingOptions,
} from "./ingest.ts";
export {
  type BrokerView,
  createPipelineWatch,
  type DeadLetter,
  type GroupView,
  type MemberView,
  type PartitionView,
  type PipelineSnapshot,
  type PipelineWatch,
  type PipelineWatchOptions,
  prettySchema,
  type SeenRecord,
  type SinkView,
  type SubjectView,
  type TopicView,
} from "./pipeline.ts";
export {
  connectWhenReachable,
  type ConnectWhenReachableOptions,
  createKafkaReachability,
  type KafkaReachability,
  type KafkaReachabilityOptions,
  type KafkaState,
  type KafkaStatus,
  kafkaVerdict,
} from "./reachability.ts";
