import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// shared/avro.ts first: it silences avsc's SlowBuffer warning before avsc loads.
import {
  AvroDecodeError,
  decodeBody,
  decodeContainer,
  encodeWire,
  frameOf,
  parseSchema,
  readSchema,
} from "@cryptocandles/avro";
import avro from "avsc";
import type { Ticker } from "@cryptocandles/ticker";

/** The project venv's Python (fastavro, when installed, is an independent Avro implementation). */
const VENV_PYTHON = new URL("../../.venv/bin/python", import.meta.url).pathname;

const v1 = parseSchema(await readSchema("v1"));
const v2 = parseSchema(await readSchema("v2"));

/** The record of the original README's Kafka-UI screenshot (v1 fields). */
const ORIGINAL = {
  nombre: "tBTCUSD",
  bid: 66371.0,
  bid_size: 2.57989939,
  ask: 66372.0,
  ask_size: 6.48303529,
  daily_change: -644.0,
  daily_change_percentage: -0.00960549,
  precio_ultimo: 66401.0,
  volume: 639.72121182,
  precio_maximo: 67045.0,
  precio_minimo: 65088.0,
};
const TICKER: Ticker = { ...ORIGINAL, event_time: 1_718_465_131_000 };

Deno.test("encodeWire() frames a v2 record that frameOf() and decodeBody() read back", () => {
  const bytes = encodeWire(42, v2, TICKER);
  assert.deepEqual([...bytes.subarray(0, 5)], [0, 0, 0, 0, 42]);
  const frame = frameOf(bytes);
  assert.equal(frame.kind, "wire");
  if (frame.kind !== "wire") return;
  assert.equal(frame.schemaId, 42);
  assert.deepEqual(plain(decodeBody(frame.body, v2, v2)), TICKER);
});

Deno.test("encodeWire() writes the schema id big-endian", () => {
  const frame = frameOf(encodeWire(0x01020304, v2, TICKER));
  assert.equal(frame.kind === "wire" && frame.schemaId, 0x01020304);
});

Deno.test("decodeBody() reads a v1 body as v2 with event_time 0", () => {
  const frame = frameOf(encodeWire(1, v1, ORIGINAL));
  assert.equal(frame.kind, "wire");
  if (frame.kind !== "wire") return;
  assert.deepEqual(plain(decodeBody(frame.body, v1, v2)), {
    ...ORIGINAL,
    event_time: 0,
  });
});

Deno.test("frameOf() names byte 0 when it is not the magic byte", () => {
  const json = new TextEncoder().encode(JSON.stringify(TICKER));
  assert.throws(() => frameOf(json), (error) => {
    assert.ok(error instanceof AvroDecodeError);
    assert.equal(error.reason, "magic");
    assert.match(error.message, /byte 0 is 0x7b/);
    return true;
  });
});

Deno.test("frameOf() says the schema id is cut when fewer than 5 bytes", () => {
  assert.throws(() => frameOf(new Uint8Array([0, 0, 0])), (error) => {
    assert.ok(error instanceof AvroDecodeError);
    assert.equal(error.reason, "truncated");
    assert.match(error.message, /value is 3 bytes: the 4-byte schema id/);
    return true;
  });
});

Deno.test("frameOf() calls an empty or missing value a tombstone", () => {
  for (const value of [new Uint8Array(0), null, undefined]) {
    assert.throws(
      () => frameOf(value),
      (error) => error instanceof AvroDecodeError && error.reason === "empty",
    );
  }
});

Deno.test("frameOf() tells an Avro object container from the wire format", () => {
  const bytes = new Uint8Array([0x4f, 0x62, 0x6a, 0x01, 0, 0]);
  assert.deepEqual(frameOf(bytes), { kind: "container", bytes });
});

Deno.test("frameOf() reads a value that sits inside a larger buffer", () => {
  const wire = encodeWire(9, v2, TICKER);
  const padded = new Uint8Array(wire.length + 7);
  padded.set(wire, 3);
  const frame = frameOf(padded.subarray(3, 3 + wire.length));
  assert.equal(frame.kind === "wire" && frame.schemaId, 9);
  if (frame.kind !== "wire") return;
  assert.deepEqual(plain(decodeBody(frame.body, v2, v2)), TICKER);
});

Deno.test("decodeBody() names the field where a truncated body is cut", () => {
  // nombre is 1 + 7 bytes, then each double is 8: ask starts at body byte 24.
  const body = v2.toBuffer(TICKER).subarray(0, 28);
  assert.throws(() => decodeBody(body, v2, v2), (error) => {
    assert.ok(error instanceof AvroDecodeError);
    assert.equal(error.reason, "truncated");
    assert.match(error.message, /cut at field ask \(byte 29 of the value\)/);
    return true;
  });
});

Deno.test("decodeBody() names the first field missing when the body ends on a field boundary", () => {
  const body = v1.toBuffer(ORIGINAL).subarray(0, 8 + 9 * 8);
  assert.throws(
    () => decodeBody(body, v1, v2),
    /cut at field precio_minimo/,
  );
});

Deno.test("decodeBody() refuses bytes left over after the record", () => {
  const body = Buffer.concat([v2.toBuffer(TICKER), Buffer.from([1, 2])]);
  assert.throws(() => decodeBody(body, v2, v2), (error) => {
    assert.ok(error instanceof AvroDecodeError);
    assert.equal(error.reason, "invalid");
    assert.match(error.message, /2 bytes left after the record/);
    return true;
  });
});

Deno.test("decodeBody() refuses a writer schema that cannot be read as v2", () => {
  const other = parseSchema({
    type: "record",
    name: "CryptoCurrency",
    fields: [{ name: "nombre", type: "long" }],
  });
  assert.throws(() => decodeBody(other.toBuffer({ nombre: 1 }), other, v2), (
    error,
  ) => {
    assert.ok(error instanceof AvroDecodeError);
    assert.equal(error.reason, "invalid");
    assert.match(error.message, /cannot be read as CryptoCurrency/);
    return true;
  });
});

Deno.test("encodeWire() names the field of a record that does not fit the schema", () => {
  assert.throws(
    () => encodeWire(1, v2, { ...TICKER, bid: "66371" }),
    /record does not fit schema CryptoCurrency: bad field bid$/,
  );
  assert.throws(
    () => encodeWire(1, v2, { ...TICKER, nombre: undefined }),
    /bad field nombre$/,
  );
});

Deno.test("decodeContainer() reads a container written by avsc's BlockEncoder", async () => {
  const bytes = await blockEncode(await readSchema("v2"), [TICKER]);
  assert.equal(frameOf(bytes).kind, "container");
  assert.deepEqual(plainAll(await decodeContainer(bytes, v2)), [TICKER]);
});

Deno.test("decodeContainer() resolves a container of the original's 11-field schema to v2 with event_time 0", async () => {
  const bytes = await blockEncode(await readSchema("v1"), [ORIGINAL]);
  assert.deepEqual(plainAll(await decodeContainer(bytes, v2)), [
    { ...ORIGINAL, event_time: 0 },
  ]);
});

Deno.test("decodeContainer() returns every record of a container", async () => {
  const second = { ...TICKER, nombre: "tETHUSD", bid: 3500 };
  const bytes = await blockEncode(await readSchema("v2"), [TICKER, second]);
  assert.deepEqual(plainAll(await decodeContainer(bytes, v2)), [
    TICKER,
    second,
  ]);
});

Deno.test("decodeContainer() reads the original producer's embedded value (fastavro fixture)", async () => {
  const bytes = await Deno.readFile(
    new URL("../fixtures/original_embedded.avro", import.meta.url),
  );
  // The original's Kafka-UI showed this value as 675 bytes.
  assert.equal(bytes.length, 675);
  assert.equal(frameOf(bytes).kind, "container");
  assert.deepEqual(plainAll(await decodeContainer(bytes, v2)), [
    { ...ORIGINAL, event_time: 0 },
  ]);
});

Deno.test({
  name:
    "decodeContainer() reads a container fastavro writes now (when .venv has fastavro)",
  ignore: !(await venvHasFastavro()),
  async fn() {
    const bytes = await fastavroContainer(await readSchema("v1"), ORIGINAL);
    assert.deepEqual(plainAll(await decodeContainer(bytes, v2)), [
      { ...ORIGINAL, event_time: 0 },
    ]);
  },
});

Deno.test("decodeContainer() rejects a container whose header is cut", async () => {
  const bytes = await blockEncode(await readSchema("v2"), [TICKER]);
  for (const end of [3, 20, 300]) {
    await assert.rejects(
      decodeContainer(bytes.subarray(0, end), v2),
      (error) =>
        error instanceof AvroDecodeError && /header is cut/.test(error.message),
    );
  }
});

Deno.test("decodeContainer() reads a deflate container", async () => {
  const bytes = await blockEncode(await readSchema("v2"), [TICKER], "deflate");
  assert.deepEqual(plainAll(await decodeContainer(bytes, v2)), [TICKER]);
});

Deno.test({
  name: "decodeContainer() rejects a container cut inside its data block",
  async fn() {
    const bytes = await Deno.readFile(
      new URL("../fixtures/original_embedded.avro", import.meta.url),
    );
    // The fixture's header (schema, then sync marker) is its first 568 bytes.
    for (const end of [569, 580, 600, 660, 674]) {
      await assert.rejects(
        decodeContainer(bytes.subarray(0, end), v2),
        (error) =>
          error instanceof AvroDecodeError && error.reason === "truncated",
        `cut at ${end}`,
      );
    }
  },
});

Deno.test({
  name: "decodeContainer() rejects bytes after the last block",
  async fn() {
    const bytes = await blockEncode(await readSchema("v2"), [TICKER]);
    await assert.rejects(
      decodeContainer(new Uint8Array([...bytes, 1, 2, 3]), v2),
      AvroDecodeError,
    );
  },
});

Deno.test("decodeContainer() rejects a container whose schema cannot be read as v2", async () => {
  const schema = JSON.stringify({
    type: "record",
    name: "CryptoCurrency",
    fields: [{ name: "nombre", type: "long" }],
  });
  const bytes = await blockEncode(schema, [{ nombre: 1 }]);
  await assert.rejects(decodeContainer(bytes, v2), (error) => {
    assert.ok(error instanceof AvroDecodeError);
    assert.equal(error.reason, "invalid");
    assert.match(error.message, /cannot be read as CryptoCurrency/);
    return true;
  });
});

/** The ticker as a plain object (avsc decodes to instances of a record class). */
function plain(ticker: Ticker): Ticker {
  return { ...ticker };
}

function plainAll(tickers: Ticker[]): Ticker[] {
  return tickers.map(plain);
}

/** An Avro object container of `records` made by avsc's own BlockEncoder. */
function blockEncode(
  schema: string,
  records: unknown[],
  codec = "null",
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const encoder = new avro.streams.BlockEncoder(JSON.parse(schema), {
      codec,
    });
    const chunks: Buffer[] = [];
    encoder.on("data", (chunk: Buffer) => chunks.push(chunk));
    encoder.on("error", reject);
    encoder.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    for (const record of records) encoder.write(record);
    encoder.end();
  });
}

/** Whether the project's .venv can import fastavro (false when it cannot run at all). */
async function venvHasFastavro(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(VENV_PYTHON, {
      args: ["-c", "import fastavro"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** One container holding `record`, written by fastavro in .venv. */
async function fastavroContainer(
  schema: string,
  record: unknown,
): Promise<Uint8Array> {
  const script = [
    "import fastavro, json, sys",
    "schema = fastavro.parse_schema(json.loads(sys.argv[1]))",
    "fastavro.writer(sys.stdout.buffer, schema, [json.loads(sys.argv[2])])",
  ].join("\n");
  const { success, stdout, stderr } = await new Deno.Command(VENV_PYTHON, {
    args: ["-c", script, schema, JSON.stringify(record)],
    stdin: "null",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return stdout;
}
