/**
 * The consumer's sink: Kafka batches → tickers → InfluxDB points, with
 * at-least-once delivery. An offset is committed only once its record, and
 * every record before it, is written to InfluxDB or sent to the dead-letter
 * topic; while InfluxDB is down the chunks in hand are retried, and once a
 * partition holds `maxRecords` nothing more is fetched for it.
 *
 * A chunk that fails for one infrastructure reason is not poison: when the
 * schema registry does not answer, or knows none of the schema ids of a
 * chunk (every record "unknown schema", as after the registry lost its
 * schemas), the consumer pauses with one line and retries the chunk with
 * back-off, committing nothing. A lone unknown id among records that decode
 * is still poison. Dead-letter writes go in requests below the broker's
 * largest message (`dlqMaxBytes`).
 *
 * Writing and committing are apart from fetching: a batch's chunks are
 * handed to their partition's lane and their offsets resolved at once, so
 * kafkajs fetches the next batch while InfluxDB 3 holds the writes until its
 * next WAL flush (`--wal-flush-interval`, 1 s by default). A tick therefore
 * waits for one flush, not for the flush of the batch before it. Offsets are
 * committed (the payload's `commitOffsetsIfNecessary` with explicit offsets,
 * kafkajs's auto-commit off) in offset order, only up to the last chunk that is
 * written or dead-lettered together with every chunk before it. Memory is
 * bounded by design: a lane holds at most `maxRecords` records not yet
 * committed; past that, `eachBatch` waits (heartbeating), and kafkajs
 * fetches nothing more for that partition. A batch that starts at or below
 * what its lane already holds (read again after a rebalance or a restart of
 * the kafkajs runner) starts a new lane; the old one stops retrying and
 * commits nothing more. {@linkcode Sink.close} stops taking batches, waits
 * for the writes in flight and commits them.
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
import { Buffer } from "node:buffer";
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
   * Records a partition holds between fetch and commit: read, being written
   * or waiting for InfluxDB's WAL flush. Each chunk is one write, all in
   * flight at once, so a flush can take up to `maxRecords` points a
   * partition. @default {20000}
   */
  maxRecords?: number;
  /**
   * Stops fetching (the consumer's `pause` of the topic), called as the sink
   * closes; an error (the consumer never ran) is ignored.
   */
  pause?: () => void;
  /**
   * The consumer stops: no batch is taken any more, and writes still
   * retrying give up after `closeTimeoutMs` (unless {@linkcode Sink.close}
   * ends them sooner).
   */
  signal: AbortSignal;
  /** How long writes in flight may take once `signal` aborts. @default {5000} */
  closeTimeoutMs?: number;
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
  /** The kafkajs `eachBatch` handler (run with `autoCommit: false`). */
  eachBatch: (payload: EachBatchPayload) => Promise<void>;
  /** Counters for the status view. */
  stats: SinkStats;
  /** Resolves once every record taken so far is written (or dead-lettered) and committed, or its lane stopped. */
  idle: () => Promise<void>;
  /**
   * Takes no more batches (calling `pause`), waits up to `timeoutMs` for the
   * writes in flight and their commits, then gives up the rest (read again
   * next time, said in one line). Also run when `signal` aborts.
   * @returns How many records were left uncommitted.
   */
  close: (timeoutMs?: number) => Promise<number>;
}

/** A chunk decoded: its lines (with the record, coin and time of each) and its poison. */
interface Decoded {
  /** The lines, joined: one write's body. */
  body: string;
  /** How many lines `body` holds. */
  count: number;
  /** Per line, the index of its record in the chunk. */
  owners: number[];
  coins: string[];
  times: number[];
  poison: Poison[];
}

/** Why a chunk cannot be handled now: one infrastructure reason, not the records. */
interface Blocked {
  blocked: string;
}

/**
 * What the chunks of one lane share: whether to go on. Their retries do not
 * heartbeat: kafkajs's runner is free (it heartbeats between fetches, and
 * must see a rebalance's answer itself to join again).
 */
interface Turn {
  /** False once the lane is stopped (a chunk could not be written, or it was replaced) or the sink closed. */
  going: () => boolean;
}

/** A chunk handed to a lane: its size, last offset and outcome. */
interface Pending {
  records: number;
  last: string;
  /** Its poison once written, or undefined when it could not be. */
  done: Promise<Poison[] | undefined>;
  settled: boolean;
}

/** One partition's chunks between fetch and commit, in offset order. */
interface Lane {
  topic: string;
  partition: number;
  pending: Pending[];
  /** Records in `pending`. */
  records: number;
  /** The last offset taken. */
  tail?: bigint;
  /** False once it stopped: replaced by a newer lane, or a chunk could not be written. */
  live: boolean;
  /** Runs while `pending` has chunks: dead-letters, then commits, in order. */
  pump?: Promise<void>;
  /** Wakes an `eachBatch` waiting for room. */
  room: () => void;
  /** The newest batch's commit. */
  commit: EachBatchPayload["commitOffsetsIfNecessary"];
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
 * const pause = () => consumer.pause([{ topic }]);
 * const sink = createSink({ reader, typeById, influx, measurement, dlq, dlqTopic, log, signal, onFatal, pause });
 * await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: sink.eachBatch });
 * // on the way out, before disconnecting
 * await sink.close();
 * ```
 */
export function createSink(options: SinkOptions): Sink {
  const { chunk = 5000, maxRecords = 20_000, dlqMaxBytes = 524_288 } = options;
  const { closeTimeoutMs = 5000 } = options;
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
    latency: latencyWindow(40_000), // 30 minutes of 4 coins × 5 ticks/s
  };

  /** Aborted when writes in flight are given up (the sink closed). */
  const writes = new AbortController();
  const lanes = new Map<string, Lane>();
  let closing = false;
  let closed = false;
  options.signal.addEventListener("abort", () => void close(), { once: true });

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat } = payload;
    const { topic, partition, messages } = batch;
    const open = () => !closing && payload.isRunning() && !payload.isStale();
    if (messages.length === 0) return;
    const lane = laneFor(topic, partition, BigInt(messages[0].offset));
    lane.commit = payload.commitOffsetsIfNecessary;
    for (let start = 0; start < messages.length; start += chunk) {
      const records = messages.slice(start, start + chunk);
      // Room for the chunk, or wait for commits to make it, heartbeating:
      // a rebalance's answer ends the batch (kafkajs joins again, then
      // fetches from the committed offsets).
      while (lane.records > 0 && lane.records + records.length > maxRecords) {
        if (!open() || !lane.live) return;
        await new Promise<void>((woken) => {
          const beat = setTimeout(woken, 1000);
          lane.room = () => (clearTimeout(beat), woken());
        });
        await heartbeat();
      }
      if (!open() || !lane.live) return;
      take(lane, records);
      resolveOffset(records[records.length - 1].offset);
    }
    stats.lag[partition] = Number(batch.offsetLag());
  }

  /** The partition's lane; a new one when the batch starts at or below what it took (read again). */
  function laneFor(topic: string, partition: number, first: bigint): Lane {
    const key = `${topic}\u0000${partition}`;
    const old = lanes.get(key);
    if (old && old.live && (old.tail === undefined || first > old.tail)) {
      return old;
    }
    if (old) {
      if (old.live) {
        options.log.info(
          `partition ${partition} read again from offset ${first} (taken up to ${old.tail}): its uncommitted records are written again`,
        );
      }
      old.live = false;
      old.room();
    }
    const lane: Lane = {
      topic,
      partition,
      pending: [],
      records: 0,
      live: true,
      room: () => {},
      commit: () => Promise.resolve(),
    };
    lanes.set(key, lane);
    return lane;
  }

  /** Starts writing a chunk in its lane, and the lane's pump if idle. */
  function take(lane: Lane, records: KafkaMessage[]): void {
    const turn: Turn = {
      going: () => lane.live && !writes.signal.aborted,
    };
    const entry: Pending = {
      records: records.length,
      last: records[records.length - 1].offset,
      done: handleChunk(lane.partition, records, turn),
      settled: false,
    };
    entry.done.finally(() => (entry.settled = true));
    lane.pending.push(entry);
    lane.records += records.length;
    lane.tail = BigInt(entry.last);
    lane.pump ??= pump(lane).finally(() => (lane.pump = undefined));
  }

  /**
   * Takes a lane's written chunks in order: dead-letters their poison, then
   * commits past them (once for a run of chunks already written).
   */
  async function pump(lane: Lane): Promise<void> {
    let done: string | undefined;
    while (lane.pending.length > 0) {
      const head = lane.pending[0];
      const poison = await head.done;
      if (poison === undefined || !lane.live) {
        lane.live = false;
        break;
      }
      if (!(await deadLetterUntilDone(lane, poison))) break;
      lane.pending.shift();
      lane.records -= head.records;
      done = head.last;
      lane.room();
      if (lane.pending[0]?.settled) continue;
      await commitPast(lane, done);
      done = undefined;
    }
    if (done !== undefined && lane.live) {
      await commitPast(lane, done);
    }
    lane.room();
  }

  /** Commits the offset after `last`; a failure is logged (the next commit goes further). */
  async function commitPast(lane: Lane, last: string): Promise<void> {
    const { topic, partition } = lane;
    const offset = String(BigInt(last) + 1n);
    try {
      await lane.commit({
        topics: [{ topic, partitions: [{ partition, offset }] }],
      });
    } catch (error) {
      options.log.warn(
        `commit of offset ${offset} (partition ${partition}) failed: ${
          (error as Error).message
        }; its records may be read and written again`,
      );
    }
  }

  /** Sends a chunk's poison, retrying while Kafka does not take it; false when the lane stopped first. */
  async function deadLetterUntilDone(
    lane: Lane,
    poison: Poison[],
  ): Promise<boolean> {
    for (let attempt = 1;; attempt++) {
      try {
        await deadLetterChunk(lane.topic, lane.partition, poison);
        return true;
      } catch (error) {
        options.log.warn(
          `dead-letter write failed: ${(error as Error).message}; retrying`,
        );
        const turn = {
          going: () => lane.live && !writes.signal.aborted,
        };
        if (!(await pause(attempt, turn))) return false;
      }
    }
  }

  /** Resolves once no lane has a pump running. */
  async function idle(): Promise<void> {
    for (;;) {
      const pumps = [...lanes.values()].flatMap((l) => l.pump ? [l.pump] : []);
      if (pumps.length === 0) return;
      await Promise.all(pumps);
    }
  }

  async function close(timeoutMs = closeTimeoutMs): Promise<number> {
    closing = true;
    try {
      options.pause?.();
    } catch { /* the consumer never ran: nothing is fetched */ }
    for (const lane of lanes.values()) lane.room();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([idle(), late]);
    clearTimeout(timer);
    writes.abort();
    await idle();
    let left = 0;
    for (const lane of lanes.values()) left += lane.records;
    if (left > 0 && !closed) {
      options.log.warn(
        `${left} records not committed as the consumer stops: they are read again next time`,
      );
    }
    closed = true;
    return left;
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
    // While the write waits for InfluxDB's flush, the chunk holds its body
    // and its records' bytes (for lines InfluxDB may refuse), not kafkajs's
    // message objects, which hold on to whole fetch responses.
    const kept = keepBytes(messages);
    messages = [];
    const { body, count, owners, coins, times, poison } = decoded;
    const rejected = await writeUntilDone(body, count, turn);
    if (rejected === undefined) return undefined;
    const bad = new Set(rejected.map((r) => r.index));
    for (const r of rejected) {
      poison.push({
        message: kept(owners[r.index]),
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
   * Decodes a chunk, pausing (one line, back-off) while it is
   * blocked for one infrastructure reason; undefined when stopped first.
   */
  async function decodeUntilDone(
    partition: number,
    messages: KafkaMessage[],
    turn: Turn,
  ): Promise<Decoded | undefined> {
    const { log } = options;
    const { signal } = writes;
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
    const lines: string[] = [];
    const decoded: Decoded = {
      body: "",
      count: 0,
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
    for (const [index, message] of messages.entries()) {
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
          lines.push(line);
          decoded.owners.push(index);
          decoded.coins.push(interned(ticker.nombre));
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
    decoded.body = lines.join("\n");
    decoded.count = lines.length;
    const everyUnknown = decoded.poison.length === messages.length &&
      decoded.poison.every((p) => p.reason === "unknown-schema");
    // A registry that still holds the topic's schemas makes a chunk of
    // unknown ids poison (a lone bad record in a slow stream is a chunk of
    // its own); only a registry that lost them blocks the chunk.
    if (everyUnknown && !(await registryEmptied())) {
      // The registry may have come back between its 404s and that answer
      // (as after it was restored): an id it resolves now means the chunk
      // was blocked, not poison, so it is decoded again.
      const known = await Promise.all(
        [...unknownIds].map((id) =>
          options.typeById(id).then(() => true, () => false)
        ),
      );
      return known.some(Boolean) ? decodeChunk(partition, messages) : decoded;
    }
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

  /** Waits out one back-off step; false when the lane stopped or the sink closed meanwhile. */
  async function pause(attempt: number, turn: Turn): Promise<boolean> {
    const { signal } = writes;
    const going = () => !signal.aborted && turn.going();
    if (!going()) return false;
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
   * Writes the lines, retrying with back-off while InfluxDB is
   * unreachable (no answer, refused connections, 5xx, 429); undefined when
   * stopped first. Lines InfluxDB refuses come back with their reason: those
   * it names in a 400, or every line of a write refused as a whole (400, or
   * 422 for a limit such as tables, columns or databases).
   */
  async function writeUntilDone(
    body: string,
    count: number,
    turn: Turn,
  ): Promise<(RejectedLine & { reason: string })[] | undefined> {
    const { log, influx } = options;
    const { signal } = writes;
    if (count === 0) return [];
    for (let attempt = 1;; attempt++) {
      try {
        // One body, one request: a refused line's index is its line in it.
        const rejected = await writeLines([body], influx, {
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
          return Array.from({ length: count }, (_, index) => ({
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

  return { eachBatch, stats, idle, close };
}

/**
 * A copy of the bytes of a chunk's records (keys and values, each in one
 * buffer) with their offsets and timestamps, giving each record back as a
 * message for the dead-letter topic. kafkajs's messages are views into the
 * fetch response they came in: keeping one keeps the whole response.
 */
function keepBytes(messages: KafkaMessage[]): (index: number) => KafkaMessage {
  const n = messages.length;
  const keyEnds = new Int32Array(n);
  const valueEnds = new Uint32Array(n);
  let keyBytes = 0;
  let valueBytes = 0;
  messages.forEach((m, i) => {
    keyBytes += m.key?.length ?? 0;
    valueBytes += m.value?.length ?? 0;
    keyEnds[i] = m.key === null || m.key === undefined ? -1 : keyBytes;
    valueEnds[i] = valueBytes;
  });
  const keys = Buffer.concat(messages.flatMap((m) => m.key ? [m.key] : []));
  const values = Buffer.concat(
    messages.flatMap((m) => m.value ? [m.value] : []),
  );
  const offsets = messages.map((m) => m.offset);
  const timestamps = messages.map((m) => m.timestamp);
  const keyStart = (i: number) => {
    for (let j = i - 1; j >= 0; j--) if (keyEnds[j] >= 0) return keyEnds[j];
    return 0;
  };
  return (i) => ({
    key: keyEnds[i] < 0 ? null : keys.subarray(keyStart(i), keyEnds[i]),
    value: values.subarray(i === 0 ? 0 : valueEnds[i - 1], valueEnds[i]),
    offset: offsets[i],
    timestamp: timestamps[i],
    headers: {},
    attributes: 0,
  } as KafkaMessage);
}

/** One string per coin name, instead of one a record. */
const names = new Map<string, string>();
function interned(name: string): string {
  let known = names.get(name);
  if (known === undefined) {
    if (names.size < 10_000) names.set(name, name);
    known = name;
  }
  return known;
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
