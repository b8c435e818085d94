/**
 * The consumer's sink: Kafka batches → tickers → InfluxDB points, with
 * at-least-once delivery. An offset is resolved only once its record is
 * written to InfluxDB or sent to the dead-letter topic; while InfluxDB is
 * down the batch in hand is retried (heartbeating, so the member stays in
 * the group) and nothing more is fetched.
 *
 * A chunk that fails for one infrastructure reason is not poison: when the
 * schema registry does not answer, or knows none of the schema ids of a
 * chunk (every record "unknown schema", as after the registry lost its
 * schemas), the consumer pauses with one line and retries the chunk with
 * back-off, committing nothing. A lone unknown id among records that decode
 * is still poison. Dead-letter writes go in requests below the broker's
 * largest message (`dlqMaxBytes`).
 *
 * The chunks of a batch are written concurrently (`inFlight` at a time, as
 * InfluxDB 3 answers each write only at its next WAL flush), but resolved in
 * offset order: a chunk's last offset is resolved once it and every chunk
 * before it are written or dead-lettered. A chunk that cannot be written
 * (stopped, fatal) stops the batch: later chunks, written or not, stay
 * unresolved and are read again.
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
  type RejectedLine,
  tickerLine,
  writeLines,
} from "@cryptocandles/influx";
import type { Buffer } from "node:buffer";
import type { Logger } from "@cryptocandles/runtime";
import { backoff, delay, HttpError } from "@cryptocandles/runtime";

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
  /**
   * Chunks of one batch written at once. InfluxDB 3 answers a write only
   * after its next WAL flush (`--wal-flush-interval`, 1 s by default), so
   * one write at a time would write at most `chunk` points a flush. Records
   * in flight stay within `chunk × inFlight` a partition. @default {8}
   */
  inFlight?: number;
  /** Stops the outage retry loop. */
  signal: AbortSignal;
  /** Called once, with the first error no retry can mend (such as 401): the script stops. */
  onFatal: (error: Error) => void;
  /**
   * Largest dead-letter request, in bytes (keys, values and headers plus
   * 100 bytes a record). Kafka refuses a record batch above the broker's
   * `message.max.bytes` (1,048,588 by default) with "The request included a
   * message larger than the max message size the server will accept".
   * @default {524288}
   */
  dlqMaxBytes?: number;
  /** Back-off between retries of a paused chunk, in ms. @default {{ minTimeout: 500, maxTimeout: 5000 }} */
  pauseBackoff?: { minTimeout?: number; maxTimeout?: number };
  /**
   * Whether the registry lost the topic's schemas (it no longer knows the
   * schema the consumer reads with, as after it was emptied). Asked when
   * every record of a chunk names an unknown schema id: true pauses the
   * consumer, false sends the chunk to the dead-letter topic. Without it,
   * such a chunk always pauses.
   */
  registryEmptied?: () => Promise<boolean>;
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
  /** Set while the schema registry does not answer, or knows none of a chunk's schema ids: since when (ms). */
  registryDownSince?: number;
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

/** A chunk decoded: its lines (with the record, coin and time of each) and its poison. */
interface Decoded {
  lines: string[];
  owners: KafkaMessage[];
  coins: string[];
  times: number[];
  poison: Poison[];
}

/** Why a chunk cannot be handled now: one infrastructure reason, not the records. */
interface Blocked {
  blocked: string;
}

/** What the chunks of one batch share: whether to go on, and the heartbeat. */
interface Turn {
  /** False once the batch is stopped (a chunk could not be written), stale or the consumer stops. */
  going: () => boolean;
  heartbeat: () => Promise<void>;
}

/** Statuses of a write InfluxDB refused as a whole for what it holds: its records go to the DLQ. */
const REFUSED_WRITE = new Set([400, 422]);

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
  const { chunk = 5000, inFlight = 8, dlqMaxBytes = 524_288 } = options;
  const pausePolicy = { minTimeout: 500, maxTimeout: 5000 };
  Object.assign(pausePolicy, options.pauseBackoff);
  let fatalSeen = false;
  const fatal = (error: Error) => {
    if (!fatalSeen) options.onFatal(error);
    fatalSeen = true;
  };
  /** The registryEmptied answer; a registry that does not answer blocks too. */
  const registryEmptied = async (): Promise<boolean> => {
    if (!options.registryEmptied) return true;
    try {
      return await options.registryEmptied();
    } catch (error) {
      if (error instanceof HttpError && error.retriable) return true;
      throw error;
    }
  };
  const stats: SinkStats = {
    written: {},
    deadLettered: 0,
    lag: {},
    latency: latencyWindow(),
  };

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary } =
      payload;
    const { topic, partition, messages } = batch;
    let stopped = false;
    const turn: Turn = {
      going: () => !stopped && payload.isRunning() && !payload.isStale(),
      heartbeat,
    };
    const chunks: KafkaMessage[][] = [];
    for (let start = 0; start < messages.length; start += chunk) {
      chunks.push(messages.slice(start, start + chunk));
    }
    // Every chunk is written at once, at most `inFlight` at a time (each
    // write waits for InfluxDB's WAL flush); offsets are resolved in order.
    const slots = limiter(Math.max(1, inFlight));
    const written = chunks.map((records) =>
      slots(async () => {
        if (!turn.going()) return undefined;
        const poison = await handleChunk(partition, records, turn);
        if (poison === undefined) stopped = true;
        return poison;
      })
    );
    const beat = setInterval(() => heartbeat().catch(() => {}), 1000);
    try {
      for (const [i, records] of chunks.entries()) {
        const poison = await written[i];
        if (poison === undefined) return;
        await deadLetterChunk(topic, partition, poison);
        resolveOffset(records[records.length - 1].offset);
        await commitOffsetsIfNecessary();
        await heartbeat();
      }
    } finally {
      stopped = true;
      clearInterval(beat);
      await Promise.allSettled(written);
    }
    stats.lag[partition] = Number(batch.offsetLag());
  }

  /**
   * Decodes and writes one chunk; returns its poison (for the dead-letter
   * topic), or undefined when stopped before it was written (its offsets
   * stay unresolved).
   */
  async function handleChunk(
    partition: number,
    messages: KafkaMessage[],
    turn: Turn,
  ): Promise<Poison[] | undefined> {
    const decoded = await decodeUntilDone(partition, messages, turn);
    if (decoded === undefined) return undefined;
    const { lines, owners, coins, times, poison } = decoded;
    const rejected = await writeUntilDone(lines, turn);
    if (rejected === undefined) return undefined;
    const bad = new Set(rejected.map((r) => r.index));
    for (const r of rejected) {
      poison.push({
        message: owners[r.index],
        reason: r.reason,
        error: r.message,
      });
    }
    const writtenAt = Date.now();
    coins.forEach((coin, i) => {
      if (bad.has(i)) return;
      stats.written[coin] = (stats.written[coin] ?? 0) + 1;
      stats.latency.add(writtenAt - times[i]);
    });
    return poison;
  }

  /** Sends a written chunk's poison to the dead-letter topic, with one line. */
  async function deadLetterChunk(
    topic: string,
    partition: number,
    poison: Poison[],
  ): Promise<void> {
    if (poison.length === 0) return;
    const requests = await deadLetter(topic, partition, poison);
    stats.deadLettered += poison.length;
    options.log.warn(`sent ${poison.length} records to ${options.dlqTopic}`, {
      partition,
      requests,
      first: `${poison[0].reason}: ${poison[0].error}`,
    });
  }

  /**
   * Decodes a chunk, pausing (one line, back-off, heartbeats) while it is
   * blocked for one infrastructure reason; undefined when stopped first.
   */
  async function decodeUntilDone(
    partition: number,
    messages: KafkaMessage[],
    turn: Turn,
  ): Promise<Decoded | undefined> {
    const { log, signal } = options;
    for (let attempt = 1;; attempt++) {
      let outcome: Decoded | Blocked;
      try {
        outcome = await decodeChunk(partition, messages);
      } catch (error) {
        if (signal.aborted) return undefined;
        fatal(error as Error);
        return undefined;
      }
      if (!("blocked" in outcome)) {
        if (stats.registryDownSince !== undefined) {
          log.info("resumed: the schema registry resolves the records again", {
            partition,
            pausedForS: Math.round(
              (Date.now() - stats.registryDownSince) / 1000,
            ),
          });
          stats.registryDownSince = undefined;
        }
        return outcome;
      }
      if (stats.registryDownSince === undefined) {
        stats.registryDownSince = Date.now();
        log.warn(
          `paused: ${outcome.blocked}; retrying with back-off, committing nothing`,
        );
      }
      if (!(await pause(attempt, turn))) return undefined;
    }
  }

  /** Decodes every record of a chunk into lines, or says why the chunk is blocked. */
  async function decodeChunk(
    partition: number,
    messages: KafkaMessage[],
  ): Promise<Decoded | Blocked> {
    const decoded: Decoded = {
      lines: [],
      owners: [],
      coins: [],
      times: [],
      poison: [],
    };
    // One registry call per id and chunk, failures included: a backlog of
    // records naming an id the registry lost asks once, not once a record.
    const types = new Map<number, Promise<AvroType>>();
    const typeById = (id: number) => {
      let type = types.get(id);
      if (!type) {
        type = options.typeById(id);
        types.set(id, type);
      }
      return type;
    };
    const unknownIds = new Set<number>();
    for (const message of messages) {
      try {
        const tickers = await decodeValue(
          message.value,
          options.reader,
          typeById,
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
          decoded.lines.push(line);
          decoded.owners.push(message);
          decoded.coins.push(ticker.nombre);
          decoded.times.push(time);
        }
      } catch (error) {
        if (error instanceof AvroDecodeError) {
          if (error.reason === "unknown-schema") {
            unknownIds.add(error.schemaId ?? -1);
          }
          decoded.poison.push({
            message,
            reason: error.reason,
            error: error.message,
          });
        } else if (error instanceof RangeError) {
          decoded.poison.push({
            message,
            reason: "invalid-value",
            error: error.message,
          });
        } else if (error instanceof HttpError && error.retriable) {
          return {
            blocked: `schema registry unreachable since ${
              new Date().toISOString()
            } (${error.message})`,
          };
        } else throw error;
      }
    }
    const everyUnknown = decoded.poison.length === messages.length &&
      decoded.poison.every((p) => p.reason === "unknown-schema");
    // A registry that still holds the topic's schemas makes a chunk of
    // unknown ids poison (a lone bad record in a slow stream is a chunk of
    // its own); only a registry that lost them blocks the chunk.
    if (everyUnknown && !(await registryEmptied())) return decoded;
    if (everyUnknown) {
      const first = messages[0].offset;
      const last = messages[messages.length - 1].offset;
      return {
        blocked: `the schema registry knows none of the schema ids (${
          [...unknownIds].join(", ")
        }) of the ${messages.length} records at offsets ${first}-${last} of partition ${partition}: was it emptied? Register the schemas these records were written with (deno task setup-schema)`,
      };
    }
    return decoded;
  }

  /** Heartbeats and waits out one back-off step; false when stopped or stale meanwhile. */
  async function pause(attempt: number, turn: Turn): Promise<boolean> {
    const { signal } = options;
    const going = () => !signal.aborted && turn.going();
    if (!going()) return false;
    await turn.heartbeat().catch(() => {});
    await delay(backoff(attempt, pausePolicy), signal).catch(() => {});
    return going();
  }

  /** Sends poison records to the dead-letter topic in requests of at most `dlqMaxBytes`; returns how many requests. */
  async function deadLetter(
    topic: string,
    partition: number,
    poison: Poison[],
  ): Promise<number> {
    const records = poison.map(({ message, reason, error }) => ({
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
    }));
    let requests = 0;
    for (const group of bySize(records, dlqMaxBytes)) {
      await options.dlq.send({
        topic: options.dlqTopic,
        acks: -1,
        messages: group,
      });
      requests++;
    }
    return requests;
  }

  /**
   * Writes the lines, retrying with back-off and heartbeats while InfluxDB is
   * unreachable (no answer, refused connections, 5xx, 429); undefined when
   * stopped first. Lines InfluxDB refuses come back with their reason: those
   * it names in a 400, or every line of a write refused as a whole (400, or
   * 422 for a limit such as tables, columns or databases).
   */
  async function writeUntilDone(
    lines: string[],
    turn: Turn,
  ): Promise<(RejectedLine & { reason: string })[] | undefined> {
    const { log, influx, signal } = options;
    if (lines.length === 0) return [];
    for (let attempt = 1;; attempt++) {
      try {
        const rejected = await writeLines(lines, influx, {
          signal,
          retry: { maxAttempts: 1 },
        });
        resumed();
        return rejected.map((r) => ({ ...r, reason: "influx-rejected" }));
      } catch (error) {
        if (signal.aborted) return undefined;
        if (
          error instanceof InfluxWriteError && REFUSED_WRITE.has(error.status)
        ) {
          resumed();
          return lines.map((_, index) => ({
            index,
            reason: `influx-refused-${error.status}`,
            message: error.message,
          }));
        }
        if (!(error instanceof InfluxWriteError) || !error.retriable) {
          fatal(error as Error);
          return undefined;
        }
        if (stats.influxDownSince === undefined) {
          stats.influxDownSince = Date.now();
          log.warn(
            `paused: influx unreachable since ${new Date().toISOString()}`,
            { error: error.message },
          );
        }
        if (!(await pause(attempt, turn))) return undefined;
      }
    }
  }

  function resumed(): void {
    if (stats.influxDownSince === undefined) return;
    options.log.info("resumed: InfluxDB takes writes again", {
      downForS: Math.round((Date.now() - stats.influxDownSince) / 1000),
    });
    stats.influxDownSince = undefined;
  }

  return { eachBatch, stats };
}

/**
 * Runs at most `n` tasks at once, the others waiting in the order they came.
 */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    while (active >= n) await new Promise<void>((go) => waiting.push(go));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** Kafka's overhead of a record beyond its key, value and headers, rounded up. */
const RECORD_OVERHEAD = 100;

/**
 * Groups records so that each group's keys, values and headers (plus
 * {@linkcode RECORD_OVERHEAD} a record) stay within `maxBytes`; a record
 * larger than that goes alone.
 */
function bySize<
  T extends {
    key?: Buffer | string | null;
    value: Buffer | string | null;
    headers: Record<string, string>;
  },
>(records: T[], maxBytes: number): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let size = 0;
  for (const record of records) {
    let bytes = RECORD_OVERHEAD + byteLength(record.key) +
      byteLength(record.value);
    for (const [name, value] of Object.entries(record.headers)) {
      bytes += byteLength(name) + byteLength(value);
    }
    if (group.length > 0 && size + bytes > maxBytes) {
      groups.push(group);
      group = [];
      size = 0;
    }
    group.push(record);
    size += bytes;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

function byteLength(value: Buffer | string | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === "string"
    ? new TextEncoder().encode(value).length
    : value.length;
}
