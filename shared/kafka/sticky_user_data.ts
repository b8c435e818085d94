/**
 * The sticky assignor's subscription `userData`, in the Java client's
 * `StickyAssignorUserData` layout (v0 without a generation, v1 with one),
 * so members of this project and Java members can share a group.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { compare, type PartitionsByTopic } from "./assignment.ts";

/** The sticky `userData` a member sends in its subscription. */
export interface StickyUserData {
  /** Partitions the member owned. */
  partitions: PartitionsByTopic;
  /** Generation they were assigned in, when the member knows it. */
  generation?: number;
}

/**
 * Encodes sticky `userData` as the Java client's `StickyAssignorUserData`
 * (v1 with a generation, v0 without): an array of `(topic: string,
 * partitions: int32[])` and then an `int32` generation.
 *
 * @param data The partitions the member owns and their generation.
 * @returns The bytes for `MemberMetadata.userData`.
 * @throws {RangeError} When the generation or a partition is out of the int32 range.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeStickyUserData, encodeStickyUserData } from "@cryptocandles/kafka";
 *
 * const data = { partitions: { t0: [0, 2] }, generation: 7 };
 * assert.deepEqual(decodeStickyUserData(encodeStickyUserData(data)), data);
 * ```
 */
export function encodeStickyUserData(data: StickyUserData): Buffer {
  const topics = Object.keys(data.partitions).sort(compare);
  const parts: Buffer[] = [int32(topics.length)];
  for (const topic of topics) {
    const name = Buffer.from(topic, "utf8");
    const owned = data.partitions[topic];
    parts.push(int16(name.length), name, int32(owned.length));
    for (const partition of owned) parts.push(int32(partition));
  }
  if (data.generation !== undefined) parts.push(int32(data.generation));
  return Buffer.concat(parts);
}

/**
 * Decodes sticky `userData` written by {@linkcode encodeStickyUserData} or
 * by a Java `StickyAssignor` (v0 or v1). Empty bytes mean "owned nothing".
 *
 * @param bytes The `userData` of a member's subscription.
 * @returns The partitions the member owned, and the generation when present.
 * @throws {RangeError} When the bytes are truncated or hold a negative length.
 *
 * @example A member that owned nothing
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeStickyUserData } from "@cryptocandles/kafka";
 *
 * assert.deepEqual(decodeStickyUserData(new Uint8Array()), { partitions: {} });
 * ```
 */
export function decodeStickyUserData(bytes: Uint8Array): StickyUserData {
  if (bytes.length === 0) return { partitions: {} };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  const need = (size: number) => {
    if (size < 0 || offset + size > bytes.length) {
      throw new RangeError(
        `Cannot decode sticky userData as it is ${bytes.length} bytes long: ${size} bytes expected at byte ${offset}`,
      );
    }
    const at = offset;
    offset += size;
    return at;
  };
  const entries: [string, number[]][] = [];
  const topicCount = view.getInt32(need(4));
  for (let t = 0; t < topicCount; t++) {
    const length = view.getInt16(need(2));
    const start = need(length);
    const topic = new TextDecoder().decode(bytes.subarray(start, offset));
    const partitionCount = view.getInt32(need(4));
    const owned: number[] = [];
    for (let p = 0; p < partitionCount; p++) {
      owned.push(view.getInt32(need(4)));
    }
    entries.push([topic, owned]);
  }
  const partitions = Object.fromEntries(entries);
  if (bytes.length - offset < 4) return { partitions };
  return { partitions, generation: view.getInt32(need(4)) };
}

function int16(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeInt16BE(value);
  return bytes;
}

function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}
