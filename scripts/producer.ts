/**
 * `deno task producer`: reads tickers from the configured source and sends
 * them to Kafka as registered Avro (Confluent wire format), keyed by pair,
 * acks=all, idempotent, with the record timestamp = event time.
 *
 * @module
 */
import { Partitioners } from "kafkajs";
import { encodeWire, parseSchema, readSchema } from "@cryptocandles/avro";
import { UnknownPairError } from "@cryptocandles/bitfinex";
import {
  type Config,
  helpText,
  loadConfig,
  parseFlags,
} from "@cryptocandles/config";
import { createKafka } from "@cryptocandles/kafka";
import { createLogger } from "@cryptocandles/runtime";
import { createRegistry } from "@cryptocandles/avro";
import { onShutdownSignals } from "@cryptocandles/runtime";
import { openSource } from "@cryptocandles/sources";
import type { Ticker } from "@cryptocandles/ticker";

const MAX_BATCH = 5_000;
const MAX_PENDING = 50_000;
const STATS_EVERY_MS = 5_000;

let config: Config;
try {
  const flags = parseFlags(Deno.args);
  if (flags.help) {
    console.log(helpText("deno task producer [flags]"));
    Deno.exit(0);
  }
  config = loadConfig(Deno.env, flags.overrides);
} catch (error) {
  console.error(`producer: ${(error as Error).message}`);
  Deno.exit(2);
}

const log = createLogger("producer", { format: config.logFormat });
const controller = new AbortController();
const release = onShutdownSignals(controller, log);
const subject = `${config.kafka.topic}-value`;
const type = parseSchema(await readSchema("v2"));
const producer = createKafka(config.kafka, { clientId: "producer", log })
  .producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    // Idempotence wants unbounded retries: a cluster outage holds the ticks
    // (MAX_PENDING, then the source waits) instead of dropping them.
    retry: {
      initialRetryTime: 300,
      maxRetryTime: 30_000,
      retries: Number.MAX_SAFE_INTEGER,
    },
  });
const acked: Record<string, number> = Object.fromEntries(
  config.coins.map((c) => [c, 0]),
);
/** Last acknowledged [price, event time] per coin, for the status view. */
const last: Record<string, [number, number]> = {};
const pending: Ticker[] = [];
let inFlight: Promise<void> | undefined;
let failure: unknown;

try {
  const found = await createRegistry(config.registryUrl).lookup(
    subject,
    JSON.stringify(JSON.parse(await readSchema("v2"))),
  );
  if (!found) {
    throw new Error(
      `schema v2 is not registered under ${subject}: run \`deno task setup-schema\` first`,
    );
  }
  await producer.connect();
  log.info("sending", {
    source: config.source,
    topic: config.kafka.topic,
    schemaId: found.id,
    coins: config.coins.join(","),
  });
  const stats = setInterval(logStats, STATS_EVERY_MS);
  try {
    for await (
      const ticker of openSource(config, { signal: controller.signal, log })
    ) {
      pending.push(ticker);
      flush(found.id);
      if (pending.length >= MAX_PENDING) await inFlight;
      if (failure) break;
    }
    while ((pending.length > 0 || inFlight) && !failure) {
      flush(found.id);
      await inFlight;
    }
  } finally {
    clearInterval(stats);
  }
  if (failure) throw failure;
} catch (error) {
  failure ??= error;
  controller.abort();
  log.error((error as Error).message);
} finally {
  await inFlight?.catch(() => {});
  await producer.disconnect().catch(() => {});
  const total = Object.values(acked).reduce((a, b) => a + b, 0);
  log.info(`stopped; ${total} records acknowledged`, {
    acked,
    unsent: pending.length,
  });
  release();
}
Deno.exitCode = failure === undefined
  ? 0
  : failure instanceof UnknownPairError
  ? 2
  : 1;

/** Sends what is pending, one batch at a time; ticks that arrive meanwhile wait for the next batch. */
function flush(schemaId: number): void {
  if (inFlight || pending.length === 0 || failure) return;
  const batch = pending.splice(0, MAX_BATCH);
  inFlight = producer.send({
    topic: config.kafka.topic,
    acks: -1,
    messages: batch.map((t) => ({
      key: t.nombre,
      value: encodeWire(schemaId, type, t),
      timestamp: String(t.event_time),
      headers: { source: config.source },
    })),
  }).then(() => {
    for (const t of batch) {
      acked[t.nombre] = (acked[t.nombre] ?? 0) + 1;
      last[t.nombre] = [t.precio_ultimo, t.event_time];
    }
  }, (error) => {
    pending.unshift(...batch);
    failure = error;
    controller.abort();
  }).finally(() => {
    inFlight = undefined;
    flush(schemaId);
  });
}

function logStats(): void {
  const total = Object.values(acked).reduce((a, b) => a + b, 0);
  log.info(`acknowledged ${total} records`, {
    acked,
    last,
    pending: pending.length,
  });
}
