/**
 * The `Candle` record of the history topic (`<KAFKA_TOPIC>.candles`): its
 * schema in `schemas/Candle.v1.avsc`, its key `pair|1m|start`, and its
 * Confluent wire-format values.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import {
  AvroDecodeError,
  type AvroType,
  decodeBody,
  encodeWire,
  frameOf,
} from "./avro.ts";
import { registeredType, type RegistryClient } from "./registry.ts";
import type { Candle } from "@cryptocandles/ticker";

const CANDLE_SCHEMA_FILE = new URL(
  "../../schemas/Candle.v1.avsc",
  import.meta.url,
);

/** A `Candle` record (the record of `@cryptocandles/ticker`). */
export type CandleRecord = Candle;

/**
 * Reads `schemas/Candle.v1.avsc` as JSON text (what the registry stores).
 *
 * @returns The schema's JSON text.
 *
 * @example
 * ```ts
 * import { readCandleSchema } from "@cryptocandles/avro";
 * console.log(JSON.parse(await readCandleSchema()).name); // "Candle"
 * ```
 */
export async function readCandleSchema(): Promise<string> {
  return await Deno.readTextFile(CANDLE_SCHEMA_FILE);
}

/**
 * The Kafka key of a candle: `pair|interval|start` (start in ms), so a
 * compacted topic keeps one record per pair and minute.
 *
 * @param candle Its pair, interval and start.
 * @returns The key.
 *
 * @example
 * ```ts
 * import { candleKey } from "@cryptocandles/avro";
 * console.log(candleKey({ pair: "tBTCUSD", interval: "1m", start: 60000 })); // "tBTCUSD|1m|60000"
 * ```
 */
export function candleKey(
  candle: Pick<CandleRecord, "pair" | "interval" | "start">,
): string {
  return `${candle.pair}|${candle.interval}|${candle.start}`;
}

/**
 * Encodes a candle in the Confluent wire format.
 *
 * @param schemaId The registry's id of the Candle schema.
 * @param type The Candle type (`parseSchema` of {@linkcode readCandleSchema}).
 * @param candle The candle.
 * @returns The value bytes.
 * @throws {Error} When the candle does not fit the schema, naming the field.
 *
 * @example
 * ```ts ignore
 * const bytes = encodeCandle(id, type, candle);
 * ```
 */
export function encodeCandle(
  schemaId: number,
  type: AvroType,
  candle: CandleRecord,
): Buffer {
  const { pair, interval, start, open, high, low, close, volume, empty } =
    candle;
  return encodeWire(schemaId, type, {
    pair,
    interval,
    start,
    open,
    high,
    low,
    close,
    volume,
    empty,
  });
}

/**
 * Decodes a candle value (Confluent wire format) written with any
 * registered version of the Candle schema.
 *
 * @param bytes The Kafka record value.
 * @param reader The Candle type of this code.
 * @param typeById Resolves a registry id to its type (cached by the caller).
 * @returns The candle.
 * @throws {AvroDecodeError} For a value that is not wire format or not a Candle.
 *
 * @example
 * ```ts ignore
 * const candle = await decodeCandle(message.value, type, (id) => registry.typeById(id));
 * ```
 */
export async function decodeCandle(
  bytes: Uint8Array | null | undefined,
  reader: AvroType,
  typeById: (id: number) => Promise<AvroType>,
): Promise<CandleRecord> {
  const frame = frameOf(bytes);
  if (frame.kind !== "wire") {
    throw new AvroDecodeError(
      "a candle value must be in the Confluent wire format",
      "magic",
    );
  }
  const writer = await typeById(frame.schemaId);
  // a plain object, not avsc's record class
  return {
    ...decodeBody(frame.body, writer, reader),
  } as unknown as CandleRecord;
}

/** Encodes and decodes candles of one registered subject; see {@linkcode candleCodec}. */
export interface CandleCodec {
  /** The registry's id of this code's Candle schema. */
  id: number;
  /** The Kafka record of a candle: key `pair|1m|start`, wire-format value, timestamp = start. */
  toRecord(candle: CandleRecord): {
    key: string;
    value: Buffer;
    timestamp: string;
  };
  /** Decodes a value written with any registered Candle version. */
  decode(bytes: Uint8Array | null | undefined): Promise<CandleRecord>;
}

/**
 * A codec for the candles of `subject`, whose Candle schema must already be
 * registered (by setup-schema).
 *
 * @param registry A registry client (its type cache is used for decoding).
 * @param subject Such as `CRIPTOMONEDAS.candles-value`.
 * @returns The codec.
 * @throws {Error} When the Candle schema is not registered there.
 *
 * @example
 * ```ts ignore
 * const codec = await candleCodec(registry, "CRIPTOMONEDAS.candles-value");
 * await producer.send({ topic, messages: candles.map(codec.toRecord) });
 * ```
 */
export async function candleCodec(
  registry: RegistryClient,
  subject: string,
): Promise<CandleCodec> {
  const { id, type } = await registeredType(
    registry,
    subject,
    await readCandleSchema(),
  );
  const typeById = (writer: number) => registry.typeById(writer);
  return {
    id,
    toRecord: (candle) => ({
      key: candleKey(candle),
      value: encodeCandle(id, type, candle),
      timestamp: String(candle.start),
    }),
    decode: (bytes) => decodeCandle(bytes, type, typeById),
  };
}
