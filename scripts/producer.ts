/**
 * `deno task producer`: reads tickers from the configured source and sends
 * them to Kafka as registered Avro (Confluent wire format), keyed by pair,
 * acks=all, idempotent, with the record timestamp = event time. Before the
 * first live tick it backfills `BACKFILL` of 1-minute history candles into
 * the compacted `<topic>.candles` (only the minutes not stored yet), and
 * again after each reconnect of a Bitfinex source (the minutes it missed).
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
import { UnknownPairError } from "@cryptocandles/bitfinex";
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
  renewWith,
  sendAll,
} from "@cryptocandles/kafka";
import { delay } from "@cryptocandles/runtime";
import {
  createTickStats,
  type GapFiller,
  type HistoryStore,
  isLive,
  openSource,
  type SentTick as Sent,
  startHistory,
} from "@cryptocandles/sources";

const STATS_EVERY_MS = 5_000;
/**
 * Idempotent, one request in flight, keys partitioned as Java does; unbounded
 * retries at most 2 s apart: sending resumes within ~2 s of the brokers'
 * return (at 30 s apart it stayed stuck long after, issue 14).
 */
const PRODUCER = {
  idempotent: true,
  maxInFlightRequests: 1,
  createPartitioner: defaultPartitioner,
  retry: { initialRetryTime: 300, maxRetryTime: 2_000, retries: 2 ** 53 - 1 },
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
    const newProducer = () => kafka.producer(PRODUCER);
    let producer = newProducer(), failure: unknown;
    const stats = createTickStats(config.coins);
    let sender: BufferedSender<Sent> | undefined;
    let history: GapFiller | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    try {
      const { source, kafka: { topic }, coins } = config;
      const registry = createRegistry(config.registryUrl);
      const { id: schemaId, type } = await readSchema("v2")
        .then((text) => registeredType(registry, `${topic}-value`, text));
      await connectPatiently(producer, { signal, log });
      const open = () => candleStore(config, kafka, () => producer, signal);
      history = await startHistory(config, { open, signal, log });
      const capacity = config.producer.buffer;
      sender = createBufferedSender<Sent>(producer, {
        topic,
        capacity,
        log,
        dropOldest: isLive(config), // a file or a flat-out walk waits instead
        toRecord: ({ ticker: t, value }) => ({
          key: t.nombre,
          value,
          timestamp: String(t.event_time),
          headers: { source },
        }),
        onAcked: stats.onAcked,
        onDropped: (sent) => stats.onDropped(sent, capacity, log),
        renew: renewWith(newProducer, {
          signal,
          log,
          use: (p) => producer = p,
        }),
      });
      log.info("sending", { source, topic, schemaId, coins: coins.join() });
      const { counts } = sender;
      timer = setInterval(() => stats.log(log, counts()), STATS_EVERY_MS);
      const live = { signal, log, onReconnect: history?.reconnected };
      for await (const ticker of openSource(config, live)) {
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
      await history?.idle(1_000); // a page of history under way
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

/** The compacted `<topic>.candles`: the candles it holds, and adding to them. */
async function candleStore(
  config: Config,
  kafka: Kafka,
  producer: () => Producer,
  signal: AbortSignal,
): Promise<HistoryStore> {
  const topic = `${config.kafka.topic}.candles`;
  const registry = createRegistry(config.registryUrl);
  const codec = await candleCodec(registry, `${topic}-value`);
  return {
    read: (onCandle) =>
      readTopicToEnd(kafka, topic, {
        signal,
        onMessage: async (m) => onCandle(await codec.decode(m.value)),
      }),
    send: (candles) => sendAll(producer(), topic, candles.map(codec.toRecord)),
  };
}
