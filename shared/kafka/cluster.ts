/**
 * Cluster facts kafkajs's admin client does not ask for. In KRaft, the
 * `controllerId` of a Metadata response is a live broker picked at random
 * for each answer (clients send controller requests there and it forwards
 * them), so "which node is the controller" needs Kafka's DescribeQuorum
 * request (API key 55, version 0, flexible), which a broker forwards to the
 * active controller: its `LeaderId` for `__cluster_metadata` is the node
 * that `kafka-metadata-quorum describe --status` calls LeaderId.
 *
 * @module
 */

/** Options for {@linkcode describeQuorumLeader}. */
export interface QuorumOptions {
  /** Per-broker deadline in ms. @default {1000} */
  timeoutMs?: number;
  /** The client id brokers see. @default {"cryptocandles"} */
  clientId?: string;
}

const DESCRIBE_QUORUM = 55;
const METADATA_TOPIC = "__cluster_metadata";

/**
 * Asks the brokers, one after the other, for the KRaft quorum's leader
 * (the active controller) with a plaintext DescribeQuorum v0 request.
 *
 * @param brokers Bootstrap `host:port` list (plaintext, no SASL).
 * @param options Deadline and client id.
 * @returns The leader's node id, or undefined when no broker answered (or the cluster is not KRaft).
 *
 * @example
 * ```ts ignore
 * import { describeQuorumLeader } from "@cryptocandles/kafka";
 * console.log(await describeQuorumLeader(["127.0.0.1:19090"])); // 3
 * ```
 */
export async function describeQuorumLeader(
  brokers: string[],
  options: QuorumOptions = {},
): Promise<number | undefined> {
  const { timeoutMs = 1000, clientId = "cryptocandles" } = options;
  for (const broker of brokers) {
    const at = broker.lastIndexOf(":");
    const hostname = broker.slice(0, at);
    const port = Number(broker.slice(at + 1));
    try {
      const answer = await exchange(
        hostname,
        port,
        quorumRequest(clientId),
        timeoutMs,
      );
      const leader = parseQuorumLeader(answer);
      if (leader !== undefined) return leader;
    } catch {
      // the next broker
    }
  }
  return undefined;
}

/**
 * A DescribeQuorum v0 request for partition 0 of `__cluster_metadata`,
 * framed (size prefix, request header v2, compact body).
 *
 * @param clientId The client id.
 * @param correlationId The request's correlation id. @default {1}
 * @returns The bytes to send.
 *
 * @example
 * ```ts
 * import { quorumRequest } from "@cryptocandles/kafka";
 * console.log(quorumRequest("demo").length); // 47
 * ```
 */
export function quorumRequest(clientId: string, correlationId = 1): Uint8Array {
  const client = new TextEncoder().encode(clientId);
  const topic = new TextEncoder().encode(METADATA_TOPIC);
  const bytes: number[] = [];
  const i16 = (n: number) => bytes.push((n >> 8) & 255, n & 255);
  const i32 = (n: number) =>
    bytes.push((n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255);
  i16(DESCRIBE_QUORUM);
  i16(0); // version
  i32(correlationId);
  i16(client.length); // the header's client id is a plain string
  bytes.push(...client, 0); // header tags
  bytes.push(2, topic.length + 1, ...topic); // 1 topic, compact name
  bytes.push(2); // 1 partition
  i32(0);
  bytes.push(0, 0, 0); // partition, topic and body tags
  const frame = new Uint8Array(4 + bytes.length);
  new DataView(frame.buffer).setInt32(0, bytes.length);
  frame.set(bytes, 4);
  return frame;
}

/**
 * Reads `LeaderId` of the first partition from a DescribeQuorum v0
 * response (without its size prefix).
 *
 * @param response Response header v1 and body.
 * @returns The leader id, or undefined on an error code or a short answer.
 *
 * @example
 * ```ts ignore
 * import { parseQuorumLeader } from "@cryptocandles/kafka";
 * const leader = parseQuorumLeader(answer);
 * ```
 */
export function parseQuorumLeader(response: Uint8Array): number | undefined {
  const view = new DataView(
    response.buffer,
    response.byteOffset,
    response.byteLength,
  );
  let at = 4; // correlation id
  const uvarint = () => {
    let value = 0;
    for (let shift = 0;; shift += 7) {
      const b = response[at++];
      value |= (b & 0x7f) << shift;
      if (!(b & 0x80)) return value;
    }
  };
  try {
    if (uvarint() !== 0) return undefined; // header tags: none expected
    if (view.getInt16(at) !== 0) return undefined;
    at += 2;
    if (uvarint() < 2) return undefined; // topics
    const nameLength = uvarint() - 1; // (read before `at` moves on)
    at += nameLength; // topic name
    if (uvarint() < 2) return undefined; // partitions
    at += 4; // partition index
    if (view.getInt16(at) !== 0) return undefined;
    at += 2;
    const leader = view.getInt32(at);
    return leader >= 0 ? leader : undefined;
  } catch {
    return undefined;
  }
}

async function exchange(
  hostname: string,
  port: number,
  request: Uint8Array,
  timeoutMs: number,
): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname, port });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    await conn.write(request);
    const chunks: Uint8Array[] = [];
    let length = 0;
    let size = -1;
    const buffer = new Uint8Array(4096);
    while (size < 0 || length < size + 4) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("connection closed");
      chunks.push(buffer.slice(0, n));
      length += n;
      if (size < 0 && length >= 4) {
        const head = concat(chunks);
        size = new DataView(head.buffer).getInt32(0);
      }
    }
    return concat(chunks).slice(4, size + 4);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the deadline */ }
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
