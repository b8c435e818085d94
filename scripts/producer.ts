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
import { createKafka, defaultPartitioner } from "@cryptocandles/kafka";
import type { Producer } from "@cryptocandles/kafka";
import type { Logger } from "@cryptocandles/runtime";
import type { Buffer } from "node:buffer";
import { openSource } from "@cryptocandles/sources";
import type { Ticker } from "@cryptocandles/ticker";

const MAX_BATCH = 5_000;
const MAX_PENDING = 50_000;
const STATS_EVERY_MS = 5_000;

await runScript({
  name: "producer",
  async main({ config, log, signal, abort }) {
    const producer = createKafka(config.kafka, { clientId: "producer", log })
      .producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: defaultPartitioner,
        // Idempotence wants unbounded retries: a cluster outage holds the
        // ticks (MAX_PENDING, then the source waits) instead of dropping them.
        retry: {
          initialRetryTime: 300,
          maxRetryTime: 30_000,
          retries: Number.MAX_SAFE_INTEGER,
        },
      });
    const sender = createSender(producer, config, abort);
    let stats: ReturnType<typeof setInterval> | undefined;
    try {
      const { id: schemaId, type } = await registeredSchema(config);
      await producer.connect();
      const { source, kafka: { topic }, coins } = config;
      log.info("sending", { source, topic, schemaId, coins: coins.join() });
      stats = setInterval(() => logStats(log, sender), STATS_EVERY_MS);
      for await (const ticker of openSource(config, { signal, log })) {
        await sender.push(ticker, encodeWire(schemaId, type, ticker));
        if (sender.failure) break;
      }
    } catch (error) {
      sender.fail(error);
    } finally {
      await sender.drain();
      clearInterval(stats);
      await producer.disconnect().catch(() => {});
      log.info(`stopped; ${sum(sender.acked)} records acknowledged`, {
        acked: sender.acked,
        unsent: sender.pending.length,
      });
    }
    if (sender.failure instanceof UnknownPairError) {
      throw new UsageError(sender.failure.message);
    }
    if (sender.failure) throw sender.failure;
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

/**
 * Sends ticks one batch (at most MAX_BATCH) at a time: ticks that arrive
 * meanwhile wait for the next batch, and `push` waits once MAX_PENDING do.
 * A failed batch goes back to `pending` and stops the script.
 */
function createSender(producer: Producer, config: Config, abort: () => void) {
  const pending: { ticker: Ticker; value: Buffer }[] = [];
  let inFlight: Promise<void> | undefined;
  const sender = {
    acked: Object.fromEntries(config.coins.map((c) => [c, 0])),
    /** Last acknowledged [price, event time] per coin, for the status view. */
    last: {} as Record<string, [number, number]>,
    pending,
    failure: undefined as unknown,
    async push(ticker: Ticker, value: Buffer) {
      pending.push({ ticker, value });
      flush();
      if (pending.length >= MAX_PENDING) await inFlight;
    },
    /** Sends what is pending (unless a batch failed); waits for the batch in flight. */
    async drain() {
      while (inFlight || (pending.length > 0 && !sender.failure)) {
        flush();
        await inFlight;
      }
    },
    fail(error: unknown) {
      sender.failure ??= error;
      abort();
    },
  };
  function flush(): void {
    if (inFlight || pending.length === 0 || sender.failure) return;
    const batch = pending.splice(0, MAX_BATCH);
    inFlight = producer.send({
      topic: config.kafka.topic,
      acks: -1,
      messages: batch.map(({ ticker: t, value }) => ({
        key: t.nombre,
        value,
        timestamp: String(t.event_time),
        headers: { source: config.source },
      })),
    }).then(() => {
      for (const { ticker: t } of batch) {
        sender.acked[t.nombre] = (sender.acked[t.nombre] ?? 0) + 1;
        sender.last[t.nombre] = [t.precio_ultimo, t.event_time];
      }
    }, (error) => {
      pending.unshift(...batch);
      sender.fail(error);
    }).finally(() => {
      inFlight = undefined;
      flush();
    });
  }
  return sender;
}

function logStats(log: Logger, sender: ReturnType<typeof createSender>): void {
  const { acked, last, pending: { length: pending } } = sender;
  log.info(`acknowledged ${sum(acked)} records`, { acked, last, pending });
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
