/**
 * Avro for the ticker records: the schemas in `schemas/`, the Confluent wire
 * format (magic byte, 4-byte schema id, Avro binary), the original's
 * "embedded" object containers, and a client of the Confluent-compatible
 * schema-registry API (Apicurio's `ccompat/v7`). The one package that
 * imports `avsc`.
 *
 * @example Encode a ticker as the producer does
 * ```ts ignore
 * import { createRegistry, encodeWire, parseSchema, readSchema } from "@cryptocandles/avro";
 * const text = await readSchema("v2");
 * const { id } = await createRegistry("http://127.0.0.1:8081/apis/ccompat/v7")
 *   .register("CRIPTOMONEDAS-value", text);
 * const bytes = encodeWire(id, parseSchema(text), ticker);
 * ```
 *
 * @module
 */
export {
  AvroDecodeError,
  type AvroType,
  decodeBody,
  decodeContainer,
  decodeValue,
  encodeWire,
  frameOf,
  type Framing,
  MAGIC_BYTE,
  parseSchema,
  readSchema,
  type SchemaVersion,
} from "./avro.ts";
export * from "./registry.ts";
export {
  type CandleCodec,
  candleCodec,
  candleKey,
  type CandleRecord,
  decodeCandle,
  encodeCandle,
  readCandleSchema,
} from "./candle.ts";
