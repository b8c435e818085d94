/**
 * `deno task producer`: reads tickers from the configured source and sends
 * them to Kafka as registered Avro (Confluent wire format), keyed by pair,
 * acks=all, idempotent, with the record timestamp = event time. Before the
 * first live tick it backfills `BACKFILL` of 1-minute history candles into
 * the compacted `<topic>.candles` (only the minutes not stored yet).
 *
 * @module
 */
import {
  candleCodec,
  createRegistry,
  encodeWire,
  readSchema,
  registeredType,
} from "@cryptocandles/avro";
import { type Candle, UnknownPairError } from "@cryptocandles/bitfinex";
import { type Config, runScript, UsageError } from "@cryptocandles/config";
import {
  type BufferedSender,
  connectPatiently,
  createBufferedSender,
  createKafka,
  defaultPartitioner,
  type Kafka,
  type Producer,
  readTopicToEnd,
  sendAll,
} from "@cryptocandles/kafka";
import { delay, type Logger } from "@cryptocandles/runtime";
import {
  addStored,
  backfill,
  createTickStats,
  isLive,
  openSource,
  type SentTick as Sent,
  type StoredSpan,
} from "@cryptocandles/sources";

const STATS_EVERY_MS = 5_000;
/**
 * Idempotence wants unbounded retries (kafkajs retries a batch with the same
 * sequence numbers); at most 2 s apart, sending resumes within ~2 s of the
 * brokers' return (at 30 s apart it stayed stuck long after, issue 14).
 */
const SEND_RETRY = {
  initialRetryTime: 300,
  maxRetryTime: 2_000,
  retries: Number.MAX_SAFE_INTEGER,
};
const FLUSH_MS = 7_000; // to send what is buffered after SIGTERM (hard exit: 10 s)

await runScript({
  name: "producer",
  async main({ config, log, signal, abort }) {
    const kafka = createKafka(config.kafka, {
      clientId: "producer",
      log,
      retry: { initialRetryTime: 300, maxRetryTime: 2_000, retries: 5 },
    });
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: defaultPartitioner,
      retry: SEND_RETRY,
    });
    const stats = createTickStats(config.coins);
    let sender: BufferedSender<Sent> | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    let failure: unknown;
    try {
      const { source, kafka: { topic }, coins } = config;
      const registry = createRegistry(config.registryUrl);
      const { id: schemaId, type } = await readSchema("v2")
        .then((text) => registeredType(registry, `${topic}-value`, text));
      await connectPatiently(producer, { signal, log });
      if (config.producer.backfillMs > 0) {
        await backfillHistory(config, kafka, producer, { signal, log });
      }
      const capacity = config.producer.buffer;
      sender = createBufferedSender<Sent>(producer, {
        topic,
        capacity,
        dropOldest: isLive(config), // a file or a flat-out walk waits instead
        toRecord: ({ ticker: t, value }) => ({
          key: t.nombre,
          value,
          timestamp: String(t.event_time),
          headers: { source },
        }),
        onAcked: stats.onAcked,
        onDropped: (sent) => stats.onDropped(sent, capacity, log),
      });
      log.info("sending", { source, topic, schemaId, coins: coins.join() });
      const { counts } = sender;
      timer = setInterval(() => stats.log(log, counts()), STATS_EVERY_MS);
      for await (const ticker of openSource(config, { signal, log })) {
        await sender.push({
          ticker,
          value: encodeWire(schemaId, type, ticker),
        });
        if (sender.failure !== undefined) break;
      }
    } catch (error) {
      if (!signal.aborted) failure = error;
    } finally {
      const left = await sender?.flush(Date.now() + FLUSH_MS);
      failure ??= sender?.failure;
      clearInterval(timer);
      await Promise.race([producer.disconnect().catch(() => {}), delay(1_000)]);
      const unsent = (left?.waiting ?? 0) + (left?.inFlight ?? 0);
      log[unsent > 0 ? "warn" : "info"](
        `stopped; ${left?.acked ?? 0} records acknowledged, ${unsent} unsent`,
        { ...left, unsent, acked: stats.acked, dropped: stats.dropped },
      );
      abort();
    }
    if (failure instanceof UnknownPairError) {
      throw new UsageError(failure.message);
    }
    if (failure !== undefined) throw failure;
  },
});

/** Sends what `<topic>.candles` lacks; only an unknown pair is fatal. */
async function backfillHistory(
  config: Config,
  kafka: Kafka,
  producer: Producer,
  { signal, log }: { signal: AbortSignal; log: Logger },
) {
  const topic = `${config.kafka.topic}.candles`;
  try {
    const registry = createRegistry(config.registryUrl);
    const codec = await candleCodec(registry, `${topic}-value`);
    const stored = new Map<string, StoredSpan>();
    await readTopicToEnd(kafka, topic, {
      signal,
      onMessage: async (m) => addStored(stored, await codec.decode(m.value)),
    });
    const send = (candles: Candle[]) =>
      sendAll(producer, topic, candles.map(codec.toRecord));
    await backfill(config, { stored, signal, log, send });
  } catch (error) {
    if (error instanceof UnknownPairError || signal.aborted) throw error;
    log.warn(`backfill: stopped (${(error as Error).message}); going live`);
  }
}
