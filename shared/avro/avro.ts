/**
 * Avro for the ticker records: the schemas in `schemas/`, the Confluent
 * wire format (byte 0x00, 4-byte big-endian schema id, Avro binary), and
 * the original Python producer's "embedded" values (one Avro object
 * container per message). Decoding resolves any writer schema to v2.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import avro from "avsc";
import { Buffer } from "node:buffer";
import { inflateRawSync } from "node:zlib";
import type { Ticker } from "@cryptocandles/ticker";

/** An avsc type. */
export type AvroType = avro.Type;

/** Schema versions shipped in `schemas/`. */
export type SchemaVersion = "v1" | "v2";

const SCHEMA_FILES: Record<SchemaVersion, URL> = {
  v1: new URL("../../schemas/CryptoCurrency.v1.avsc", import.meta.url),
  v2: new URL("../../schemas/CryptoCurrency.v2.avsc", import.meta.url),
};

/** The first byte of a Confluent wire-format value. */
export const MAGIC_BYTE = 0;
/** The first four bytes of an Avro object container ("Obj" 0x01). */
const CONTAINER_MAGIC = [0x4f, 0x62, 0x6a, 0x01];

/**
 * Reads a schema of `schemas/` as JSON text (what the registry stores).
 *
 * @param version `v1` (the original's eleven fields) or `v2` (adds `event_time`).
 * @returns The schema's JSON text.
 *
 * @example
 * ```ts
 * import { readSchema } from "@cryptocandles/avro";
 * const text = await readSchema("v2");
 * ```
 */
export async function readSchema(version: SchemaVersion): Promise<string> {
  return await Deno.readTextFile(SCHEMA_FILES[version]);
}

/**
 * Parses a schema's JSON text into an avsc type.
 *
 * @param schema The schema as JSON text or object.
 * @returns The avsc type.
 * @throws {SyntaxError | Error} When the text is not JSON or not a valid Avro schema.
 *
 * @example
 * ```ts
 * import { parseSchema, readSchema } from "@cryptocandles/avro";
 * const type = parseSchema(await readSchema("v2"));
 * ```
 */
export function parseSchema(schema: string | object): AvroType {
  return avro.Type.forSchema(
    typeof schema === "string" ? JSON.parse(schema) : schema,
  );
}

/**
 * Encodes a value in the Confluent wire format.
 *
 * @param schemaId The registry's id for the writer schema.
 * @param type The writer schema's type.
 * @param value The record.
 * @returns `0x00`, the id as 4 bytes big-endian, then the Avro binary.
 * @throws {Error} When the value does not fit the schema, naming the field.
 *
 * @example
 * ```ts
 * import { encodeWire, parseSchema, readSchema } from "@cryptocandles/avro";
 * const type = parseSchema(await readSchema("v2"));
 * const bytes = encodeWire(1, type, { nombre: "tBTCUSD", bid: 1, bid_size: 1, ask: 1, ask_size: 1,
 *   daily_change: 0, daily_change_percentage: 0, precio_ultimo: 1, volume: 1, precio_maximo: 1,
 *   precio_minimo: 1, event_time: 0 });
 * ```
 */
export function encodeWire(
  schemaId: number,
  type: AvroType,
  value: unknown,
): Buffer {
  const paths: string[] = [];
  if (
    !type.isValid(value, { errorHook: (path) => paths.push(path.join(".")) })
  ) {
    throw new Error(
      `record does not fit schema ${type.name}: bad field ${paths.join(", ")}`,
    );
  }
  const body = type.toBuffer(value);
  const out = Buffer.alloc(5 + body.length);
  out[0] = MAGIC_BYTE;
  out.writeUInt32BE(schemaId, 1);
  body.copy(out, 5);
  return out;
}

/** How a value was framed. */
export type Framing =
  | { kind: "wire"; schemaId: number; body: Uint8Array }
  | { kind: "container"; bytes: Uint8Array };

/**
 * Tells the framing of a Kafka value: Confluent wire format or Avro object
 * container.
 *
 * @param bytes The Kafka record value.
 * @returns The schema id and Avro body, or the container bytes.
 * @throws {AvroDecodeError} Naming the byte that is wrong.
 *
 * @example
 * ```ts
 * import { frameOf } from "@cryptocandles/avro";
 * console.log(frameOf(new Uint8Array([0, 0, 0, 0, 7, 2, 65])).kind); // "wire"
 * ```
 */
export function frameOf(bytes: Uint8Array | null | undefined): Framing {
  if (!bytes || bytes.length === 0) {
    throw new AvroDecodeError("empty value (a tombstone?)", "empty");
  }
  if (CONTAINER_MAGIC.every((b, i) => bytes[i] === b)) {
    return { kind: "container", bytes };
  }
  if (bytes[0] !== MAGIC_BYTE) {
    throw new AvroDecodeError(
      `byte 0 is 0x${
        bytes[0].toString(16).padStart(2, "0")
      }: neither the Confluent magic byte 0x00 nor an Avro container ("Obj\\x01")`,
      "magic",
    );
  }
  if (bytes.length < 5) {
    throw new AvroDecodeError(
      `value is ${bytes.length} bytes: the 4-byte schema id after byte 0 is cut`,
      "truncated",
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { kind: "wire", schemaId: view.getUint32(1), body: bytes.subarray(5) };
}

/** Why a value could not be decoded; `reason` is short and stable (for DLQ headers). */
export class AvroDecodeError extends Error {
  /** `magic`, `truncated`, `unknown-schema`, `invalid` or `empty`. */
  readonly reason: string;
  /** The schema id, when the framing named one. */
  readonly schemaId?: number;
  /**
   * @param message What was wrong, naming the byte or field.
   * @param reason A short stable code.
   * @param options The schema id and the cause.
   */
  constructor(
    message: string,
    reason: string,
    options: { schemaId?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "AvroDecodeError";
    this.reason = reason;
    this.schemaId = options.schemaId;
  }
}

/**
 * Decodes an Avro binary body written with `writer` into a v2
 * {@linkcode Ticker} (a v1 body gets `event_time` 0).
 *
 * @param body The Avro binary (without framing).
 * @param writer The writer schema's type.
 * @param reader The v2 type (see {@linkcode parseSchema}).
 * @returns The ticker.
 * @throws {AvroDecodeError} When the body is cut or has bytes left over, naming the field.
 *
 * @example
 * ```ts ignore
 * const ticker = decodeBody(frame.body, writerType, v2Type);
 * ```
 */
export function decodeBody(
  body: Uint8Array,
  writer: AvroType,
  reader: AvroType,
): Ticker {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const resolver = resolverFor(reader, writer);
  const { value, offset } = reader.decode(buf, 0, resolver);
  if (offset < 0 || value === undefined) {
    throw new AvroDecodeError(
      `Avro body of ${buf.length} bytes is cut ${cutAt(buf, writer)}`,
      "truncated",
    );
  }
  if (offset !== buf.length) {
    throw new AvroDecodeError(
      `Avro body has ${
        buf.length - offset
      } bytes left after the record (wrong schema id?)`,
      "invalid",
    );
  }
  return value as Ticker;
}

/**
 * Decodes one Avro object container (the original producer's "embedded"
 * value) into v2 tickers, resolving its embedded schema to `reader`.
 *
 * @param bytes The container bytes.
 * @param reader The v2 type.
 * @returns The records it holds (usually one).
 * @throws {AvroDecodeError} When the container is cut or its schema does not resolve to v2.
 *
 * @example
 * ```ts ignore
 * const [ticker] = await decodeContainer(value, v2Type);
 * ```
 */
export function decodeContainer(
  bytes: Uint8Array,
  reader: AvroType,
): Promise<Ticker[]> {
  try {
    return Promise.resolve(readContainer(bytes, reader));
  } catch (error) {
    return Promise.reject(error);
  }
}

const CONTAINER_SYNC = { type: "fixed", name: "Sync", size: 16 } as const;
const CONTAINER_HEADER = avro.Type.forSchema({
  type: "record",
  name: "org.apache.avro.file.Header",
  fields: [
    { name: "magic", type: { type: "fixed", name: "Magic", size: 4 } },
    { name: "meta", type: { type: "map", values: "bytes" } },
    { name: "sync", type: CONTAINER_SYNC },
  ],
});
const CONTAINER_BLOCK = avro.Type.forSchema({
  type: "record",
  name: "org.apache.avro.file.Block",
  fields: [
    { name: "count", type: "long" },
    { name: "data", type: "bytes" },
    { name: "sync", type: CONTAINER_SYNC },
  ],
});

/** Reads every block to the last byte: a cut block or trailing bytes throw. */
function readContainer(bytes: Uint8Array, reader: AvroType): Ticker[] {
  if (CONTAINER_MAGIC.some((b, i) => i < bytes.length && bytes[i] !== b)) {
    throw new AvroDecodeError(
      'value does not start with an Avro container\'s "Obj\\x01"',
      "magic",
    );
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = CONTAINER_HEADER.decode(buf, 0);
  if (header.offset < 0) {
    throw new AvroDecodeError(
      `Avro container of ${buf.length} bytes: the header is cut`,
      "truncated",
    );
  }
  const { meta, sync } = header.value as {
    meta: Record<string, Buffer>;
    sync: Buffer;
  };
  const codec = meta["avro.codec"]?.toString() || "null";
  if (codec !== "null" && codec !== "deflate") {
    throw new AvroDecodeError(
      `Avro container codec ${codec} is not supported (null or deflate)`,
      "invalid",
    );
  }
  const schema = meta["avro.schema"]?.toString() ?? "";
  const resolver = containerResolver(reader, schema);
  const records: Ticker[] = [];
  for (let pos = header.offset, block = 0; pos < buf.length; block++) {
    const read = CONTAINER_BLOCK.decode(buf, pos);
    if (read.offset < 0) {
      throw new AvroDecodeError(
        `Avro container block ${block} (from byte ${pos}) is cut`,
        "truncated",
      );
    }
    const { count, data, sync: marker } = read.value as {
      count: number;
      data: Buffer;
      sync: Buffer;
    };
    if (!sync.equals(marker)) {
      throw new AvroDecodeError(
        `Avro container block ${block} ends without the header's sync marker`,
        "invalid",
      );
    }
    const raw = codec === "deflate" ? inflateRawSync(data) : data;
    let at = 0;
    for (let i = 0; i < count; i++) {
      const { value, offset } = reader.decode(raw, at, resolver);
      if (offset < 0) {
        throw new AvroDecodeError(
          `Avro container block ${block}: record ${i} of ${count} is cut`,
          "truncated",
        );
      }
      records.push(value as Ticker);
      at = offset;
    }
    if (at !== raw.length) {
      throw new AvroDecodeError(
        `Avro container block ${block} has ${
          raw.length - at
        } bytes after its ${count} records`,
        "invalid",
      );
    }
    pos = read.offset;
  }
  return records;
}

/** Resolvers of container schemas, by schema text: each container parses its own. */
const containerResolvers = new WeakMap<AvroType, Map<string, unknown>>();

function containerResolver(reader: AvroType, schema: string): never {
  let bySchema = containerResolvers.get(reader);
  if (!bySchema) containerResolvers.set(reader, bySchema = new Map());
  if (!bySchema.has(schema)) {
    let writer: AvroType;
    try {
      writer = parseSchema(schema);
    } catch (cause) {
      throw new AvroDecodeError(
        `Avro container schema is not valid: ${(cause as Error).message}`,
        "invalid",
        { cause },
      );
    }
    bySchema.set(schema, resolverFor(reader, writer));
  }
  return bySchema.get(schema) as never;
}

const resolvers = new WeakMap<AvroType, Map<AvroType, unknown>>();

function resolverFor(reader: AvroType, writer: AvroType): never {
  let byWriter = resolvers.get(reader);
  if (!byWriter) resolvers.set(reader, byWriter = new Map());
  if (!byWriter.has(writer)) {
    try {
      byWriter.set(writer, reader.createResolver(writer));
    } catch (cause) {
      throw new AvroDecodeError(
        `writer schema ${
          writer.name ?? writer.typeName
        } cannot be read as ${reader.name}: ${(cause as Error).message}`,
        "invalid",
        { cause },
      );
    }
  }
  return byWriter.get(writer) as never;
}

/** Names the first field of a record type that the bytes cannot hold. */
function cutAt(buf: Buffer, writer: AvroType): string {
  const fields =
    (writer as unknown as { fields?: { name: string; type: AvroType }[] })
      .fields;
  if (!fields) return "";
  let pos = 0;
  for (const field of fields) {
    const { offset } = field.type.decode(buf, pos);
    if (offset < 0) {
      return `at field ${field.name} (byte ${5 + pos} of the value)`;
    }
    pos = offset;
  }
  return "";
}

/**
 * Decodes a Kafka value in either framing into v2 tickers: Confluent wire
 * format (writer schema fetched by id through `typeById`) or an Avro object
 * container (the original producer's embedded form).
 *
 * @param bytes The Kafka record value.
 * @param reader The v2 type.
 * @param typeById Resolves a registry id to its type (cache it: see registry.ts).
 * @returns The tickers (one for wire format; a container may hold several).
 * @throws {AvroDecodeError} For a bad magic byte, an unknown schema id, or cut or invalid Avro.
 *
 * @example
 * ```ts ignore
 * const tickers = await decodeValue(message.value, v2, (id) => registry.typeById(id));
 * ```
 */
export async function decodeValue(
  bytes: Uint8Array | null | undefined,
  reader: AvroType,
  typeById: (id: number) => Promise<AvroType>,
): Promise<Ticker[]> {
  const frame = frameOf(bytes);
  if (frame.kind === "container") {
    return await decodeContainer(frame.bytes, reader);
  }
  let writer: AvroType;
  try {
    writer = await typeById(frame.schemaId);
  } catch (cause) {
    const status = (cause as { status?: number }).status;
    if (status === 404) {
      throw new AvroDecodeError(
        `schema id ${frame.schemaId} is unknown to the registry`,
        "unknown-schema",
        {
          schemaId: frame.schemaId,
          cause,
        },
      );
    }
    throw cause;
  }
  try {
    return [decodeBody(frame.body, writer, reader)];
  } catch (error) {
    if (error instanceof AvroDecodeError) {
      throw new AvroDecodeError(
        `schema id ${frame.schemaId}: ${error.message}`,
        error.reason,
        {
          schemaId: frame.schemaId,
          cause: error.cause,
        },
      );
    }
    throw error;
  }
}
