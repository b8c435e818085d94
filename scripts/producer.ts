/**
 * `deno task producer`: reads tickers from the configured source and sends
 * them to Kafka as registered Avro (Confluent wire format), keyed by pair,
 * acks=all, idempotent, with the record timestamp = event time.
 *
 * @module
 */
import { encodeWire, parseSchema, readSchema } from "@cryptocandles/avro";
import { createRegistry } from "@cryptocandles/avro";
import { UnknownPairError } from "@cryptocandles/bitfinex";
import { type Config, runScript, UsageError } from "@cryptocandles/config";
import {
  type BufferedSender,
  connectPatiently,
  createBufferedSender,
  createKafka,
  defaultPartitioner,
  type SenderCounts,
} from "@cryptocandles/kafka";
import { delay, type Logger } from "@cryptocandles/runtime";
import { isLive, openSource } from "@cryptocandles/sources";
import type { Ticker } from "@cryptocandles/ticker";

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
    const producer = createKafka(config.kafka, {
      clientId: "producer",
      log,
      retry: { initialRetryTime: 300, maxRetryTime: 2_000, retries: 5 },
    }).producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: defaultPartitioner,
      retry: SEND_RETRY,
    });
    const stats = createStats(config.coins);
    let sender: BufferedSender<Sent> | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    let failure: unknown;
    try {
      const { id: schemaId, type } = await registeredSchema(config);
      await connectPatiently(producer, { signal, log });
      const { source, kafka: { topic }, coins } = config;
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

/** Schema v2 and its id under `<topic>-value`; refuses to start without it. */
async function registeredSchema(config: Config) {
  const schema = await readSchema("v2");
  const subject = `${config.kafka.topic}-value`;
  const registry = createRegistry(config.registryUrl);
  const compact = JSON.stringify(JSON.parse(schema));
  const found = await registry.lookup(subject, compact);
  if (!found) {
    throw new Error(
      `schema v2 is not registered under ${subject}: run \`deno task setup-schema\` first`,
    );
  }
  return { id: found.id, type: parseSchema(schema) };
}

/** A tick and its encoded value. */
interface Sent {
  ticker: Ticker;
  value: Uint8Array;
}

/** Acknowledged and dropped ticks per coin, and the last acknowledged price. */
function createStats(coins: string[]) {
  const zero = () => Object.fromEntries(coins.map((c) => [c, 0]));
  const stats = { acked: zero(), dropped: zero(), last: {} as Last };
  return {
    ...stats,
    onAcked(sent: readonly Sent[]) {
      for (const { ticker: t } of sent) {
        stats.acked[t.nombre]++;
        stats.last[t.nombre] = [t.precio_ultimo, t.event_time];
      }
    },
    onDropped({ ticker: t }: Sent, capacity: number, log: Logger) {
      if (Object.values(stats.dropped).every((n) => n === 0)) {
        log.warn(
          `buffer full (PRODUCER_BUFFER=${capacity}): dropping the oldest ticks`,
        );
      }
      stats.dropped[t.nombre]++;
    },
    log(log: Logger, { acked, waiting, inFlight }: SenderCounts) {
      const pending = waiting + inFlight;
      log.info(`acknowledged ${acked} records`, { ...stats, pending });
    },
  };
}
type Last = Record<string, [number, number]>;
