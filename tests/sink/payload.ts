/**
 * What the sink's unit tests share about kafkajs's `eachBatch` payload: the
 * offsets a commit names, and a batch handed to a sink and waited out.
 *
 * @module
 */
import type { EachBatchPayload, Offsets } from "kafkajs";
import type { Sink } from "@cryptocandles/sink";

export type { Offsets };

/**
 * The last offset written before each committed offset (a commit names the
 * next offset to read), in commit order.
 */
export function committedLasts(offsets?: Offsets): string[] {
  if (!offsets) return [];
  return offsets.topics.flatMap((t) =>
    t.partitions.map((p) => String(BigInt(p.offset) - 1n))
  );
}

/** Hands a batch to the sink, then waits until it wrote and committed all it took (or stopped). */
export async function drained(
  sink: Sink,
  payload: EachBatchPayload,
): Promise<void> {
  await sink.eachBatch(payload);
  await sink.idle();
}
