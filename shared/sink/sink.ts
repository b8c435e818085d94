/**
 * The consumer's sink: Kafka batches → tickers → InfluxDB points, with
 * at-least-once delivery. An offset is resolved only once its record is
 * written to InfluxDB or sent to the dead-letter topic; while InfluxDB is
 * down the batch in hand is retried (heartbeating, so the member stays in
 * the group) and nothing more is fetched.
 *
 * @module
 */
import {
  AvroDecodeError,
  type AvroType,
  decodeValue,
} from "@cryptocandles/avro";
import type {
  EachBatchPayload,
  KafkaMessage,
  Producer,
} from "@cryptocandles/kafka";
import {
  type InfluxOptions,
  InfluxWriteError,
  tickerLine,
  writeLines,
} from "@cryptocandles/influx";
import type { Logger } from "@cryptocandles/runtime";
import { backoff, delay } from "@cryptocandles/runtime";

/** What the sink needs. */
export interface SinkOptions {
  /** The v2 reader type. */
  reader: AvroType;
  /** Registry id → writer type (cached). */
  typeById: (id: number) => Promise<AvroType>;
  /** Where points go. */
  influx: InfluxOptions;
  /** Table name. */
  measurement: string;
  /** A connected producer for the dead-letter topic. */
  dlq: Producer;
  /** The dead-letter topic. */
  dlqTopic: string;
  log: Logger;
  /** Records handled per InfluxDB write. @default {5000} */
  chunk?: number;
  /** Stops the outage retry loop. */
  signal: AbortSignal;
  /** Called with an error no retry can mend (such as 401): the script stops. */
  onFatal: (error: Error) => void;
}

/** Counters the sink keeps, for logs and the status view. */
export interface SinkStats {
  /** Points written, per coin. */
  written: Record<string, number>;
  /** Records sent to the dead-letter topic. */
  deadLettered: number;
  /** Last seen lag per partition. */
  lag: Record<number, number>;
  /** Set while InfluxDB does not take writes: since when (ms). */
  influxDownSince?: number;
  /** ms from event time to InfluxDB's acknowledgement, for the last points written. */
  latency: LatencyWindow;
}

/** The last `size` latency samples, for percentiles. */
export interface LatencyWindow {
  add(ms: number): void;
  /** The p-th percentile (0-100) of the samples in the window, or undefined when empty. */
  percentile(p: number): number | undefined;
  /** Samples seen in all. */
  count(): number;
}

/**
 * A ring of the last `size` samples.
 *
 * @param size How many samples to keep.
 * @returns A {@linkcode LatencyWindow}.
 *
 * @example
 * ```ts
 * import { latencyWindow } from "@cryptocandles/sink";
 * const w = latencyWindow(100);
 * for (const ms of [5, 1, 9]) w.add(ms);
 * console.log(w.percentile(50)); // 5
 * ```
 */
export function latencyWindow(size = 10_000): LatencyWindow {
  const samples = new Float64Array(size);
  let n = 0;
  return {
    add(ms) {
      samples[n++ % size] = ms;
    },
    percentile(p) {
      const filled = samples.slice(0, Math.min(n, size)).sort();
      if (filled.length === 0) return undefined;
      return filled[
        Math.min(filled.length - 1, Math.ceil((p / 100) * filled.length) - 1)
      ];
    },
    count: () => n,
  };
}

/** A record that goes to the dead-letter topic, and why. */
interface Poison {
  message: KafkaMessage;
  reason: string;
  error: string;
}

/** What {@linkcode createSink} returns. */
export interface Sink {
  /** The kafkajs `eachBatch` handler. */
  eachBatch: (payload: EachBatchPayload) => Promise<void>;
  /** Counters for the status view. */
  stats: SinkStats;
}

/**
 * Creates the `eachBatch` handler and its counters.
 *
 * @param options Decoding, InfluxDB, dead-letter topic and logger.
 * @returns `eachBatch` for kafkajs (use with `eachBatchAutoResolve: false`) and the stats.
 *
 * @example
 * ```ts ignore
 * const sink = createSink({ reader, typeById, influx, measurement, dlq, dlqTopic, log, signal });
 * await consumer.run({ eachBatchAutoResolve: false, eachBatch: sink.eachBatch });
 * ```
 */
export function createSink(options: SinkOptions): Sink {
  const { chunk = 5000 } = options;
  const stats: SinkStats = {
    written: {},
    deadLettered: 0,
    lag: {},
    latency: latencyWindow(),
  };

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const {
      batch,
      resolveOffset,
      heartbeat,
      isRunning,
      isStale,
      commitOffsetsIfNecessary,
    } = payload;
    for (let start = 0; start < batch.messages.length; start += chunk) {
      if (!isRunning() || isStale()) return;
      const messages = batch.messages.slice(start, start + chunk);
      const done = await handleChunk(
        batch.topic,
        batch.partition,
        messages,
        payload,
      );
      if (!done) return;
      resolveOffset(messages[messages.length - 1].offset);
      await commitOffsetsIfNecessary();
      await heartbeat();
    }
    stats.lag[batch.partition] = Number(batch.offsetLag());
  }

  /** Writes one chunk; false when stopped before it was written (its offsets stay unresolved). */
  async function handleChunk(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    payload: EachBatchPayload,
  ): Promise<boolean> {
    const { log } = options;
    const lines: string[] = [];
    const owners: KafkaMessage[] = [];
    const coins: string[] = [];
    const times: number[] = [];
    const poison: Poison[] = [];
    for (const message of messages) {
      try {
        const tickers = await decodeValue(
          message.value,
          options.reader,
          options.typeById,
        );
        const made = tickers.map((ticker) => {
          const time = ticker.event_time > 0
            ? ticker.event_time
            : Number(message.timestamp);
          return {
            ticker,
            time,
            line: tickerLine(options.measurement, ticker, time),
          };
        });
        for (const { ticker, time, line } of made) {
          lines.push(line);
          owners.push(message);
          coins.push(ticker.nombre);
          times.push(time);
        }
      } catch (error) {
        if (error instanceof AvroDecodeError) {
          poison.push({ message, reason: error.reason, error: error.message });
        } else if (error instanceof RangeError) {
          poison.push({
            message,
            reason: "invalid-value",
            error: error.message,
          });
        } else throw error;
      }
    }
    const rejected = await writeUntilDone(lines, payload);
    if (rejected === undefined) return false;
    const bad = new Set(rejected.map((r) => r.index));
    for (const r of rejected) {
      poison.push({
        message: owners[r.index],
        reason: "influx-rejected",
        error: r.message,
      });
    }
    const writtenAt = Date.now();
    coins.forEach((coin, i) => {
      if (bad.has(i)) return;
      stats.written[coin] = (stats.written[coin] ?? 0) + 1;
      stats.latency.add(writtenAt - times[i]);
    });
    if (poison.length > 0) {
      await options.dlq.send({
        topic: options.dlqTopic,
        acks: -1,
        messages: poison.map(({ message, reason, error }) => ({
          key: message.key,
          value: message.value,
          timestamp: message.timestamp,
          headers: {
            "error.reason": reason,
            "error.message": error,
            "original.topic": topic,
            "original.partition": String(partition),
            "original.offset": message.offset,
          },
        })),
      });
      stats.deadLettered += poison.length;
      log.warn(`sent ${poison.length} records to ${options.dlqTopic}`, {
        partition,
        first: `${poison[0].reason}: ${poison[0].error}`,
      });
    }
    return true;
  }

  /** Retries while InfluxDB is unreachable, heartbeating; undefined when stopped first. */
  async function writeUntilDone(lines: string[], payload: EachBatchPayload) {
    const { log, influx, signal } = options;
    for (let attempt = 1;; attempt++) {
      try {
        const rejected = await writeLines(lines, influx, {
          signal,
          retry: { maxAttempts: 1 },
        });
        if (stats.influxDownSince !== undefined) {
          log.info("resumed: InfluxDB takes writes again", {
            downForS: Math.round((Date.now() - stats.influxDownSince) / 1000),
          });
          stats.influxDownSince = undefined;
        }
        return rejected;
      } catch (error) {
        if (signal.aborted) return undefined;
        if (!(error instanceof InfluxWriteError) || !error.retriable) {
          options.onFatal(error as Error);
          return undefined;
        }
        if (stats.influxDownSince === undefined) {
          stats.influxDownSince = Date.now();
          log.warn(
            `paused: influx unreachable since ${new Date().toISOString()}`,
            { error: error.message },
          );
        }
        if (signal.aborted || !payload.isRunning() || payload.isStale()) {
          return undefined;
        }
        await payload.heartbeat().catch(() => {});
        await delay(
          backoff(attempt, { minTimeout: 500, maxTimeout: 5000 }),
          signal,
        ).catch(() => {});
        if (signal.aborted || !payload.isRunning() || payload.isStale()) {
          return undefined;
        }
      }
    }
  }

  return { eachBatch, stats };
}
