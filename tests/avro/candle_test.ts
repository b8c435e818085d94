import assert from "node:assert/strict";
import {
  candleKey,
  decodeCandle,
  encodeCandle,
  frameOf,
  parseSchema,
  readCandleSchema,
} from "@cryptocandles/avro";

const type = parseSchema(await readCandleSchema());
const CANDLE = {
  pair: "tBTCUSD",
  interval: "1m",
  start: Date.UTC(2026, 0, 5, 12, 0),
  open: 66_000.5,
  high: 66_010,
  low: 65_990,
  close: 66_001,
  volume: 3.25,
  empty: false,
};

Deno.test("the Candle schema has the contract's fields, start as timestamp-millis", async () => {
  const schema = JSON.parse(await readCandleSchema());
  assert.equal(schema.name, "Candle");
  assert.deepEqual(
    schema.fields.map((f: { name: string }) => f.name),
    [
      "pair",
      "interval",
      "start",
      "open",
      "high",
      "low",
      "close",
      "volume",
      "empty",
    ],
  );
  const start = schema.fields.find((f: { name: string }) => f.name === "start");
  assert.deepEqual(start.type, {
    type: "long",
    logicalType: "timestamp-millis",
  });
});

Deno.test("encodeCandle() writes the wire format and decodeCandle() reads it back", async () => {
  const bytes = encodeCandle(7, type, CANDLE);
  const frame = frameOf(bytes);
  assert.equal(frame.kind, "wire");
  assert.equal(frame.kind === "wire" && frame.schemaId, 7);
  const back = await decodeCandle(bytes, type, (id) => {
    assert.equal(id, 7);
    return Promise.resolve(type);
  });
  assert.deepEqual(back, CANDLE);
});

Deno.test("candleKey() is pair|1m|start", () => {
  assert.equal(candleKey(CANDLE), `tBTCUSD|1m|${CANDLE.start}`);
});
