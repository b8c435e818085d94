/**
 * What the chart server reads and does with each record: the ticker topic
 * from the history's start, the history topic from its start and the
 * dead-letter topic's last records ({@linkcode startReading}); ticks become
 * candles, the header's last prices and SSE updates; every record tells the
 * pipeline watch its key's partition; dead letters go to its DLQ panel.
 *
 * @module
 */
import {
  type AvroType,
  candleCodec,
  type CandleRecord,
  decodeValue,
  parseSchema,
  readSchema,
  type RegistryClient,
} from "@cryptocandles/avro";
import type { Admin, Consumer, KafkaMessage } from "@cryptocandles/kafka";
import { isUnreachable } from "@cryptocandles/kafka";
import { type Logger, retry } from "@cryptocandles/runtime";
import type { CandleStore } from "./candles.ts";
import type { ChartServer, ChartState } from "./http.ts";
import type { PipelineWatch } from "./pipeline.ts";

/** Options for {@linkcode createRecordHandler}. */
export interface RecordHandlerOptions {
  /** The ticker topic. */
  topic: string;
  /** The v2 reader type. */
  reader: AvroType;
  /** Registry id → writer type (cached). */
  typeById: (id: number) => Promise<AvroType>;
  state: ChartState;
  store: CandleStore;
  chart: ChartServer;
  /** Told every record's key and partition, and every dead letter. */
  watch?: PipelineWatch;
  log: Logger;
  /** The history topic (`<topic>.candles`) and its decoder, when it is read. */
  history?: {
    topic: string;
    decode: (value: Uint8Array | null) => Promise<CandleRecord>;
  };
}

/**
 * Creates the kafkajs `eachMessage` handler of the chart server.
 *
 * @param options Topic, decoding, state, candles, server, watch and logger.
 * @returns A handler for `consumer.run({ eachMessage })`.
 *
 * @example
 * ```ts ignore
 * import { createRecordHandler } from "@cryptocandles/chart";
 * const eachMessage = createRecordHandler({ topic, reader, typeById, state, store, chart, watch, log });
 * await consumer.run({ eachMessage });
 * ```
 */
export function createRecordHandler(
  options: RecordHandlerOptions,
): (payload: {
  topic: string;
  partition: number;
  message: KafkaMessage;
}) => Promise<void> {
  const { topic: ticksTopic, reader, typeById, state, store, chart, watch } =
    options;
  /** The rolling 24 h volume of each coin's previous tick: a tick traded the rise. */
  const dayVolume = new Map<string, number>();
  return async ({ topic, partition, message }) => {
    const headers = Object.fromEntries(
      Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
    );
    const key = message.key?.toString();
    watch?.seen({ topic, partition, offset: message.offset, key, headers });
    if (options.history && topic === options.history.topic) {
      return addHistory(message);
    }
    if (topic !== ticksTopic) return;
    let tickers;
    try {
      tickers = await decodeValue(message.value, reader, typeById);
    } catch (error) {
      const { offset } = message;
      options.log.warn(`skipped a record: ${(error as Error).message}`, {
        offset,
      });
      return;
    }
    if (headers.source) state.source = headers.source;
    for (const t of tickers) {
      const time = t.event_time > 0 ? t.event_time : Number(message.timestamp);
      state.ticks++;
      if ((state.last[t.nombre]?.time ?? -Infinity) <= time) {
        const { precio_ultimo: price, daily_change_percentage: change } = t;
        state.last[t.nombre] = { price, change, time };
      }
      const before = dayVolume.get(t.nombre);
      const traded = before === undefined ? 0 : Math.max(0, t.volume - before);
      dayVolume.set(t.nombre, t.volume);
      chart.publish(
        t.nombre,
        store.add(t.nombre, time, t.precio_ultimo, traded),
      );
    }
  };

  async function addHistory(message: KafkaMessage): Promise<void> {
    try {
      const c = await options.history!.decode(message.value);
      const { start: time, open, high, low, close, volume } = c;
      chart.publish(
        c.pair,
        store.addCandle(c.pair, { time, open, high, low, close, volume }),
      );
    } catch (error) {
      options.log.warn(
        `skipped a history record: ${(error as Error).message}`,
        { offset: message.offset },
      );
    }
  }
}

/** Options for {@linkcode seekToHistory}. */
export interface SeekOptions {
  /** The ticker topic. */
  topic: string;
  /** Its first offsets since the history's start (`fetchTopicOffsetsByTimestamp`), read before the consumer ran. */
  offsets: { partition: number; offset: string }[];
  /** The dead-letter topic, when subscribed: its last `deadLetters` records are read. */
  dlqTopic?: string;
  /** Dead letters read at start. @default {10} */
  deadLetters?: number;
}

/**
 * Starts each partition of the ticker topic at its first offset since
 * the history start (its end when none is), and each dead-letter partition a few
 * records before its end.
 *
 * @param admin A connected admin client.
 * @param consumer The running consumer.
 * @param options Topics, time and offsets.
 *
 * @example
 * ```ts ignore
 * import { seekToHistory } from "@cryptocandles/chart";
 * const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, since);
 * await consumer.run({ eachMessage });
 * await seekToHistory(admin, consumer, { topic, offsets, dlqTopic });
 * ```
 */
export async function seekToHistory(
  admin: Admin,
  consumer: Consumer,
  options: SeekOptions,
): Promise<void> {
  const { topic, offsets, dlqTopic, deadLetters = 10 } = options;
  const ends = await admin.fetchTopicOffsets(topic);
  for (const { partition, offset } of offsets) {
    const end = ends.find((e) => e.partition === partition)?.high ?? offset;
    consumer.seek({ topic, partition, offset: offset === "-1" ? end : offset });
  }
  if (!dlqTopic) return;
  for (
    const { partition, low, high } of await admin.fetchTopicOffsets(dlqTopic)
  ) {
    const offset = Math.max(Number(low), Number(high) - deadLetters);
    consumer.seek({ topic: dlqTopic, partition, offset: String(offset) });
  }
}

/** Options for {@linkcode startReading}. */
export interface StartReadingOptions {
  /** The ticker topic (its history topic is `<topic>.candles`). */
  topic: string;
  /** The dead-letter topic, read when it exists. */
  dlqTopic: string;
  /** Ticks from this time on, ms since the epoch. */
  since: number;
  /** Writer schemas of the records, and the history topic's. */
  registry: RegistryClient;
  state: ChartState;
  store: CandleStore;
  chart: ChartServer;
  /** Told every record's key and partition, and every dead letter. */
  watch?: PipelineWatch;
  log: Logger;
  /** Stops waiting out a cluster between leaders. */
  signal?: AbortSignal;
}

/**
 * Subscribes the chart's consumer to the ticker topic, and to the
 * dead-letter and history topics when they exist, runs it with
 * {@linkcode createRecordHandler} and seeks as {@linkcode seekToHistory}
 * does (ticks since `since`), committing no offsets. History without its
 * schema is left out with one warning.
 *
 * @param consumer A connected consumer, not yet running.
 * @param admin A connected admin client.
 * @param options Topics, start time, registry, state, candles, server, watch and logger.
 * @returns Once the consumer runs.
 *
 * @example
 * ```ts ignore
 * import { startReading } from "@cryptocandles/chart";
 * const since = Date.now() - 24 * 3_600_000;
 * await startReading(consumer, admin, { topic, dlqTopic, since, registry, state, store, chart, log });
 * ```
 */
export async function startReading(
  consumer: Consumer,
  admin: Admin,
  options: StartReadingOptions,
): Promise<void> {
  const { topic, dlqTopic, since, registry, state, store, chart, log } =
    options;
  // Right after the brokers are back, a partition can still be between
  // leaders ("This server is not the leader for that topic-partition"):
  // such answers are waited out, as kafkajs marks them retriable.
  const settled = <T>(request: () => Promise<T>) =>
    retry(request, {
      maxAttempts: 30,
      minTimeout: 500,
      maxTimeout: 5_000,
      signal: options.signal,
      isRetriable: (e) =>
        (e as { retriable?: boolean }).retriable === true || isUnreachable(e),
    });
  const offsets = await settled(() =>
    admin.fetchTopicOffsetsByTimestamp(topic, since)
  );
  const existing = await settled(() => admin.listTopics());
  const dlq = existing.includes(dlqTopic) ? dlqTopic : undefined;
  const candles = `${topic}.candles`;
  const history = existing.includes(candles)
    ? await candleCodec(registry, `${candles}-value`)
      .then(({ decode }) => ({ topic: candles, decode }))
      .catch((e) => void log.warn(`no history: ${e.message}`))
    : undefined;
  const topics = [topic, ...(dlq ? [dlq] : []), ...(history ? [candles] : [])];
  await consumer.subscribe({ topics, fromBeginning: true });
  const eachMessage = createRecordHandler({
    topic,
    reader: parseSchema(await readSchema("v2")),
    typeById: (id) => registry.typeById(id),
    state,
    store,
    chart,
    watch: options.watch,
    log,
    history: history ?? undefined,
  });
  // No offset commits: the group is new at every start, which seeks by
  // time. kafkajs commits after each batch otherwise, and the next batches
  // (every partition's: one handler at a time) wait for that commit's
  // replication: tens to hundreds of ms on a busy machine.
  await consumer.run({ eachMessage, autoCommit: false });
  await settled(() =>
    seekToHistory(admin, consumer, { topic, offsets, dlqTopic: dlq })
  );
}
