/**
 * The consumer's sink: kafkajs batches of ticker records → InfluxDB 3
 * points, at least once, poison records to the dead-letter topic.
 *
 * @example Run a consumer through the sink
 * ```ts ignore
 * import { createSink } from "@cryptocandles/sink";
 * const sink = createSink({ reader, typeById, influx, measurement, dlq, dlqTopic, log, signal, onFatal });
 * await consumer.run({ eachBatchAutoResolve: false, eachBatch: sink.eachBatch });
 * ```
 *
 * @module
 */
export * from "./sink.ts";
export * from "./metrics.ts";
export * from "./candles.ts";
