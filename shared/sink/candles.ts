/**
 * The consumer's second sink: history candles of `<KAFKA_TOPIC>.candles` →
 * InfluxDB 3 table `<INFLUX_MEASUREMENT>_candles`, at least once (offsets
 * resolved only after the write). A candle point is keyed by (Coin,
 * interval, start), so reading the topic again writes no second point.
 * A value that does not decode, or a line InfluxDB refuses, is logged and
 * skipped (the history can be backfilled again); while InfluxDB does not
 * answer, the chunk is retried with back-off and heartbeats.
 *
 * @module
 */
import { candleCodec, type RegistryClient } from "@cryptocandles/avro";
import type { Consumer, EachBatchPayload } from "@cryptocandles/kafka";
import {
  type CandleFields,
  candleLine,
  type InfluxOptions,
  InfluxWriteError,
  type RejectedLine,
  writeLines,
} from "@cryptocandles/influx";
import type { Logger } from "@cryptocandles/runtime";
import { backoff, delay } from "@cryptocandles/runtime";

/** Options for {@linkcode createCandleSink}. */
export interface CandleSinkOptions {
  /** Decodes one record value into a candle. */
  decode: (value: Uint8Array | null) => Promise<CandleFields>;
  /** Where points go. */
  influx: InfluxOptions;
  /** `INFLUX_MEASUREMENT` (candles go to its `_candles` table). */
  measurement: string;
  log: Logger;
  /** Stops the retry loop. */
  signal: AbortSignal;
  /** Called with an error no retry can mend (such as 401). */
  onFatal: (error: Error) => void;
  /** Records per write. @default {5000} */
  chunk?: number;
}

/** Counters of a {@linkcode CandleSink}. */
export interface CandleSinkStats {
  /** Candle points written, per pair. */
  written: Record<string, number>;
  /** Records skipped (undecodable or refused). */
  skipped: number;
}

/** The `eachBatch` handler of the history topic and its counters. */
export interface CandleSink {
  eachBatch: (payload: EachBatchPayload) => Promise<void>;
  stats: CandleSinkStats;
}

/**
 * Creates the history-candle sink.
 *
 * @param options Decoder, InfluxDB, table, logger and signal.
 * @returns `eachBatch` (use with `eachBatchAutoResolve: false`) and the counters.
 *
 * @example
 * ```ts ignore
 * const sink = createCandleSink({ decode: codec.decode, influx, measurement, log, signal, onFatal });
 * await consumer.run({ eachBatchAutoResolve: false, eachBatch: sink.eachBatch });
 * ```
 */
export function createCandleSink(options: CandleSinkOptions): CandleSink {
  const { decode, influx, measurement, log, signal, chunk = 5000 } = options;
  const stats: CandleSinkStats = { written: {}, skipped: 0 };

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    for (let at = 0; at < batch.messages.length; at += chunk) {
      if (!isRunning() || isStale()) return;
      const messages = batch.messages.slice(at, at + chunk);
      const lines: string[] = [];
      const pairs: string[] = [];
      for (const message of messages) {
        try {
          const candle = await decode(message.value);
          lines.push(candleLine(measurement, candle));
          pairs.push(candle.pair);
        } catch (error) {
          stats.skipped++;
          log.warn(`skipped a history record: ${(error as Error).message}`, {
            partition: batch.partition,
            offset: message.offset,
          });
        }
      }
      const rejected = await writeUntilDone(lines, heartbeat);
      if (rejected === undefined) return;
      const bad = new Set(rejected.map((r) => r.index));
      pairs.forEach((pair, i) => {
        if (!bad.has(i)) stats.written[pair] = (stats.written[pair] ?? 0) + 1;
      });
      if (rejected.length > 0) {
        stats.skipped += rejected.length;
        log.warn(`InfluxDB refused ${rejected.length} candle points`, {
          first: rejected[0].message,
        });
      }
      resolveOffset(messages[messages.length - 1].offset);
      await payload.commitOffsetsIfNecessary();
      await heartbeat();
    }
  }

  /** Writes, retrying while InfluxDB does not answer; undefined when stopped or fatal. */
  async function writeUntilDone(
    lines: string[],
    heartbeat: () => Promise<void>,
  ): Promise<RejectedLine[] | undefined> {
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        return await writeLines(lines, influx, { signal });
      } catch (error) {
        if (signal.aborted) return undefined;
        if (!(error instanceof InfluxWriteError) || !error.retriable) {
          options.onFatal(error as Error);
          return undefined;
        }
        if (attempt === 1) {
          log.warn(`candles: influx unreachable: ${error.message}`);
        }
        await delay(
          backoff(attempt, { minTimeout: 500, maxTimeout: 5000 }),
          signal,
        )
          .catch(() => {});
        await heartbeat().catch(() => {});
      }
    }
    return undefined;
  }

  return { eachBatch, stats };
}

/** Options for {@linkcode runCandleSink}. */
export interface RunCandleSinkOptions
  extends Omit<CandleSinkOptions, "decode"> {
  /** The history topic, `<KAFKA_TOPIC>.candles`. */
  topic: string;
  /** The registry (the Candle schema must be registered under `<topic>-value`). */
  registry: RegistryClient;
}

/**
 * Subscribes a connected consumer to the history topic from its start and
 * runs the candle sink on it. When the Candle schema is not registered
 * (setup-schema has not made the history topic) it logs one line and does
 * nothing.
 *
 * @param consumer A connected consumer of its own group.
 * @param options The topic, registry, InfluxDB, table, logger and signal.
 * @returns The sink (undefined when skipped).
 *
 * @example
 * ```ts ignore
 * await runCandleSink(history, { topic: "CRIPTOMONEDAS.candles", registry, influx, measurement, log, signal, onFatal });
 * ```
 */
export async function runCandleSink(
  consumer: Consumer,
  options: RunCandleSinkOptions,
): Promise<CandleSink | undefined> {
  const { topic, registry, log } = options;
  let decode: CandleSinkOptions["decode"];
  try {
    decode = (await candleCodec(registry, `${topic}-value`)).decode;
  } catch (error) {
    log.warn(`history candles are not written: ${(error as Error).message}`);
    return undefined;
  }
  const sink = createCandleSink({ ...options, decode });
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: sink.eachBatch,
  });
  return sink;
}
