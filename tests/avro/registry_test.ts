import assert from "node:assert/strict";
import { readSchema } from "@cryptocandles/avro";
import { createRegistry, RegistryError } from "@cryptocandles/avro";
import { HttpError } from "@cryptocandles/runtime";

const BASE = "http://registry.test/apis/ccompat/v7";
const SUBJECT = "CRIPTOMONEDAS-value";
const V2 = await readSchema("v2");
/** Retries that take a few ms, with no randomness. */
const FAST = { maxAttempts: 3, minTimeout: 1, maxTimeout: 2, jitter: 0 };

/** One request the fake registry saw. */
interface Seen {
  method: string;
  url: string;
  body?: unknown;
  headers: Headers;
}

/**
 * A fake `fetch` that answers each call with the next of `answers` (the last
 * one repeats) and records what it was asked. An Error answer rejects, like
 * an unreachable host.
 */
function fakeFetch(...answers: (() => Response | Error)[]) {
  const seen: Seen[] = [];
  const fetch = (input: string | URL | Request, init: RequestInit = {}) => {
    seen.push({
      method: init.method ?? "GET",
      url: String(input),
      body: init.body ? JSON.parse(String(init.body)) : undefined,
      headers: new Headers(init.headers),
    });
    const answer = answers[Math.min(seen.length, answers.length) - 1]();
    return answer instanceof Error
      ? Promise.reject(answer)
      : Promise.resolve(answer);
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

const json = (status: number, body: unknown) => () =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/vnd.schemaregistry.v1+json" },
  });

Deno.test("typeById() fetches a schema once and caches it", async () => {
  const { fetch, seen } = fakeFetch(json(200, { schema: V2 }));
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  const type = await registry.typeById(7);
  assert.equal(type.name, "CryptoCurrency");
  assert.equal(await registry.typeById(7), type);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].method, "GET");
  assert.equal(seen[0].url, `${BASE}/schemas/ids/7`);
});

Deno.test("typeById() shares one fetch between concurrent calls", async () => {
  const { fetch, seen } = fakeFetch(json(200, { schema: V2 }));
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  const [a, b] = await Promise.all([
    registry.typeById(3),
    registry.typeById(3),
  ]);
  assert.equal(a, b);
  assert.equal(seen.length, 1);
});

Deno.test("typeById() does not cache a failed fetch", async () => {
  const { fetch, seen } = fakeFetch(
    json(404, { error_code: 40403, message: "Schema 5 not found" }),
    json(200, { schema: V2 }),
  );
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  await assert.rejects(registry.typeById(5), RegistryError);
  const type = await registry.typeById(5);
  assert.equal(type.name, "CryptoCurrency");
  assert.equal(seen.length, 2);
});

Deno.test("typeById() retries a 5xx answer until it succeeds", async () => {
  const { fetch, seen } = fakeFetch(
    json(503, { message: "starting" }),
    json(500, { message: "busy" }),
    json(200, { schema: V2 }),
  );
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  assert.equal((await registry.typeById(1)).name, "CryptoCurrency");
  assert.equal(seen.length, 3);
});

Deno.test("register() retries a 429 answer", async () => {
  const { fetch, seen } = fakeFetch(
    json(429, { message: "slow down" }),
    json(200, { id: 11 }),
  );
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  assert.deepEqual(await registry.register(SUBJECT, V2), { id: 11 });
  assert.equal(seen.length, 2);
});

Deno.test("register() does not retry a 4xx and its error carries the status and the registry's message", async () => {
  const { fetch, seen } = fakeFetch(json(409, {
    error_code: 409,
    message: "Schema being registered is incompatible with an earlier schema",
  }));
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  await assert.rejects(registry.register(SUBJECT, V2), (error) => {
    assert.ok(error instanceof RegistryError);
    assert.equal(error.name, "RegistryError");
    assert.equal(error.status, 409);
    assert.equal(error.code, 409);
    assert.equal(error.retriable, false);
    assert.match(
      error.message,
      /409 Schema being registered is incompatible with an earlier schema/,
    );
    return true;
  });
  assert.equal(seen.length, 1);
});

Deno.test("typeById() error carries the start of a 4xx body that is not JSON", async () => {
  const { fetch } = fakeFetch(() =>
    new Response("<html>Bad gateway config</html>", { status: 400 })
  );
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  await assert.rejects(
    registry.typeById(2),
    /400 <html>Bad gateway config<\/html>/,
  );
});

Deno.test("register() waits what a 429's Retry-After asks, and its RegistryError is an HttpError", async () => {
  const { fetch, seen } = fakeFetch(
    () =>
      new Response(JSON.stringify({ message: "slow down" }), {
        status: 429,
        headers: { "retry-after": "0" },
      }),
    json(200, { id: 12 }),
  );
  const delays: number[] = [];
  const registry = createRegistry(BASE, {
    fetch,
    retry: {
      ...FAST,
      minTimeout: 5000,
      onRetry: (_, __, ms) => delays.push(ms),
    },
  });
  assert.deepEqual(await registry.register(SUBJECT, V2), { id: 12 });
  assert.deepEqual(delays, [0]);
  assert.equal(seen.length, 2);

  const refused = fakeFetch(json(422, { error_code: 42201, message: "bad" }));
  const error = await createRegistry(BASE, {
    fetch: refused.fetch,
    retry: FAST,
  })
    .register(SUBJECT, V2).catch((e) => e);
  assert.ok(error instanceof RegistryError);
  assert.ok(error instanceof HttpError);
  assert.equal(error.method, "POST");
  assert.equal(error.url, `${BASE}/subjects/${SUBJECT}/versions`);
  assert.equal(error.code, 42201);
});

Deno.test("register() posts the schema as AVRO to the subject's versions", async () => {
  const { fetch, seen } = fakeFetch(json(200, { id: 4 }));
  const registry = createRegistry(`${BASE}/`, { fetch, retry: FAST });
  await registry.register(SUBJECT, V2);
  assert.equal(seen[0].method, "POST");
  assert.equal(seen[0].url, `${BASE}/subjects/${SUBJECT}/versions`);
  assert.deepEqual(seen[0].body, { schema: V2, schemaType: "AVRO" });
  assert.equal(
    seen[0].headers.get("content-type"),
    "application/vnd.schemaregistry.v1+json",
  );
});

Deno.test("lookup() returns the id and version of a registered schema", async () => {
  const { fetch, seen } = fakeFetch(
    json(200, { subject: SUBJECT, id: 4, version: 2, schema: V2 }),
  );
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  assert.deepEqual(await registry.lookup(SUBJECT, V2), { id: 4, version: 2 });
  assert.equal(seen[0].url, `${BASE}/subjects/${SUBJECT}`);
});

Deno.test("lookup() returns undefined on 404", async () => {
  const { fetch, seen } = fakeFetch(
    json(404, { error_code: 40401, message: "Subject not found" }),
  );
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  assert.equal(await registry.lookup(SUBJECT, V2), undefined);
  assert.equal(seen.length, 1);
});

Deno.test("lookup() rethrows an error other than 404", async () => {
  const { fetch } = fakeFetch(
    json(422, { error_code: 42201, message: "Invalid schema" }),
  );
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  await assert.rejects(
    registry.lookup(SUBJECT, "{"),
    (error) => error instanceof RegistryError && error.status === 422,
  );
});

Deno.test("setCompatibility() puts the level in the subject's config", async () => {
  const { fetch, seen } = fakeFetch(json(200, { compatibility: "BACKWARD" }));
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  await registry.setCompatibility(SUBJECT, "BACKWARD");
  assert.equal(seen[0].method, "PUT");
  assert.equal(seen[0].url, `${BASE}/config/${SUBJECT}`);
  assert.deepEqual(seen[0].body, { compatibility: "BACKWARD" });
});

Deno.test("typeById() gives a retriable RegistryError with status 0 when the registry never answers", async () => {
  const { fetch, seen } = fakeFetch(
    () => new TypeError("error sending request: Connection refused"),
  );
  const registry = createRegistry(BASE, { fetch, retry: FAST });
  await assert.rejects(registry.typeById(1), (error) => {
    assert.ok(error instanceof RegistryError);
    assert.equal(error.status, 0);
    assert.equal(error.retriable, true);
    assert.ok(error.cause instanceof TypeError);
    assert.match(
      error.message,
      /registry.test\/apis\/ccompat\/v7 did not answer GET \/schemas\/ids\/1: .*Connection refused/,
    );
    return true;
  });
  assert.equal(seen.length, FAST.maxAttempts);
});

Deno.test("setCompatibility() gives status 0 when the call times out", async () => {
  const fetch =
    ((_: string, init: RequestInit) =>
      new Promise((_, reject) =>
        init.signal!.addEventListener(
          "abort",
          () => reject(init.signal!.reason),
        )
      )) as typeof globalThis.fetch;
  const registry = createRegistry(BASE, {
    fetch,
    retry: { ...FAST, maxAttempts: 1 },
    timeoutMs: 5,
  });
  await assert.rejects(
    registry.setCompatibility(SUBJECT, "BACKWARD"),
    (error) => error instanceof RegistryError && error.status === 0,
  );
});
