/**
 * The HTTP helper against a real server on 127.0.0.1 (`Deno.serve` on a
 * free port): statuses, Retry-After, timeout, abort, network errors, JSON
 * and text bodies.
 */
import assert from "node:assert/strict";
import {
  HttpError,
  httpRequest,
  parseRetryAfter,
  requestJson,
} from "@cryptocandles/runtime";

/** One request the server saw. */
interface Seen {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/**
 * A server on a free port of 127.0.0.1 that answers with `handler` and
 * records what it was asked; disposed at the end of the test.
 */
function serve(handler: (request: Request) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const url = new URL(request.url);
      seen.push({
        method: request.method,
        path: `${url.pathname}${url.search}`,
        headers: request.headers,
        body: await request.text(),
      });
      return handler(request);
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

const json = (status: number, body: unknown, headers = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

/** Runs `fn` and returns what it threw. */
async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

Deno.test("requestJson() sends a value as JSON and returns the parsed answer", async () => {
  await using server = serve(() => json(200, { id: 7, names: ["a"] }));
  const body = await requestJson(`${server.url}/things`, {
    method: "POST",
    body: { name: "x", n: 1 },
  });
  assert.deepEqual(body, { id: 7, names: ["a"] });
  assert.equal(server.seen[0].method, "POST");
  assert.equal(server.seen[0].path, "/things");
  assert.equal(server.seen[0].body, '{"name":"x","n":1}');
  assert.equal(server.seen[0].headers.get("content-type"), "application/json");
  assert.equal(server.seen[0].headers.get("accept"), "application/json");
});

Deno.test("requestJson() sends a string body as it is, with the caller's headers winning", async () => {
  await using server = serve(() => new Response(null, { status: 204 }));
  const body = await requestJson(`${server.url}/write?db=d`, {
    method: "POST",
    body: "m,Coin=a x=1 1",
    headers: { "content-type": "text/plain", authorization: "Bearer t" },
  });
  assert.equal(body, undefined);
  assert.equal(server.seen[0].body, "m,Coin=a x=1 1");
  assert.equal(server.seen[0].headers.get("content-type"), "text/plain");
  assert.equal(server.seen[0].headers.get("authorization"), "Bearer t");
});

Deno.test("requestJson() returns text or nothing when asked, and undefined for an empty JSON answer", async () => {
  await using server = serve((request) =>
    new URL(request.url).pathname === "/empty"
      ? new Response("", { status: 200 })
      : new Response("plain words", { status: 200 })
  );
  assert.equal(
    await requestJson(`${server.url}/text`, { parse: "text" }),
    "plain words",
  );
  assert.equal(
    await requestJson(`${server.url}/text`, { parse: "none" }),
    undefined,
  );
  assert.equal(await requestJson(`${server.url}/empty`), undefined);
});

Deno.test("requestJson() refuses a 2xx answer that is not JSON, without retrying it", async () => {
  await using server = serve(() => new Response("<html>hi</html>"));
  const error = await thrown(() => requestJson(`${server.url}/x`));
  assert.ok(error instanceof HttpError);
  assert.equal(error.status, 200);
  assert.equal(error.retriable, false);
  assert.match(error.message, /not JSON: <html>hi<\/html>/);
});

Deno.test("httpRequest() returns a status listed in expect as an answer, with its body", async () => {
  await using server = serve(() => json(404, { message: "no such thing" }));
  const answer = await httpRequest(`${server.url}/x`, { expect: [404] });
  assert.equal(answer.status, 404);
  assert.deepEqual(answer.body, { message: "no such thing" });
  assert.equal(answer.headers.get("content-type"), "application/json");
});

Deno.test("a refused request is an HttpError naming the method, the URL and the server's message, never a token", async () => {
  await using server = serve(() =>
    json(409, { error_code: 40901, message: "Schema is incompatible" })
  );
  const error = await thrown(() =>
    requestJson(`${server.url}/api/subjects/s?token=abc123&v=1`, {
      method: "PUT",
      body: {},
      headers: { authorization: "Bearer s3cret-token" },
      service: "schema registry",
    })
  );
  assert.ok(error instanceof HttpError);
  assert.equal(error.name, "HttpError");
  assert.equal(error.status, 409);
  assert.equal(error.retriable, false);
  assert.equal(error.method, "PUT");
  assert.deepEqual(error.body, {
    error_code: 40901,
    message: "Schema is incompatible",
  });
  assert.equal(
    error.message,
    `schema registry at ${server.url} answered PUT /api/subjects/s?token=***&v=1 with 409 Schema is incompatible`,
  );
  assert.equal(error.url, `${server.url}/api/subjects/s?token=***&v=1`);
  assert.doesNotMatch(error.message, /abc123|s3cret/);
});

Deno.test("the error message shows the path after baseUrl, drops user info, and ends with the hint", async () => {
  await using server = serve(() => json(401, { error: "bad token" }));
  const withUser = server.url.replace("http://", "http://admin:pw@");
  const error = await thrown(() =>
    requestJson(`${withUser}/apis/v7/schemas/ids/1`, {
      baseUrl: `${withUser}/apis/v7`,
      service: "registry",
      hint: (status) => status === 401 ? " (check the token)" : "",
    })
  );
  assert.ok(error instanceof HttpError);
  assert.equal(
    error.message,
    `registry at ${server.url}/apis/v7 answered GET /schemas/ids/1 with 401 bad token (check the token)`,
  );
  assert.doesNotMatch(error.message, /admin|pw@/);
});

Deno.test("an error body that is not JSON gives the start of its text", async () => {
  const page = `<html>${"x".repeat(400)}</html>`;
  await using server = serve(() => new Response(page, { status: 400 }));
  const error = await thrown(() => requestJson(`${server.url}/x`));
  assert.ok(error instanceof HttpError);
  assert.equal(error.body, page);
  assert.ok(error.message.endsWith(`with 400 ${page.slice(0, 300)}`));
});

Deno.test("network errors, 408, 429 and 5xx are retriable; other 4xx are not", async () => {
  await using server = serve((request) =>
    new Response("{}", {
      status: Number(new URL(request.url).pathname.slice(1)),
    })
  );
  const retriable: Record<number, boolean> = {};
  for (
    const status of [400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503]
  ) {
    const error = await thrown(() => requestJson(`${server.url}/${status}`));
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, status);
    retriable[status] = error.retriable;
  }
  assert.deepEqual(retriable, {
    400: false,
    401: false,
    403: false,
    404: false,
    408: true,
    409: false,
    422: false,
    429: true,
    500: true,
    502: true,
    503: true,
  });
});

Deno.test("Retry-After in seconds becomes retryAfterMs", async () => {
  await using server = serve(() =>
    json(429, { message: "slow down" }, { "retry-after": "3" })
  );
  const error = await thrown(() => requestJson(`${server.url}/x`));
  assert.ok(error instanceof HttpError);
  assert.equal(error.retryAfterMs, 3000);
  assert.equal(error.retriable, true);
});

Deno.test("Retry-After as an HTTP date becomes the ms until that date", async () => {
  // HTTP dates have whole seconds: 10 s ahead, rounded down to a second.
  const at = Math.floor((Date.now() + 10_000) / 1000) * 1000;
  await using server = serve(() =>
    json(503, {}, { "retry-after": new Date(at).toUTCString() })
  );
  const before = Date.now();
  const error = await thrown(() => requestJson(`${server.url}/x`));
  const after = Date.now();
  assert.ok(error instanceof HttpError);
  assert.ok(
    error.retryAfterMs! <= at - before && error.retryAfterMs! >= at - after,
    `retryAfterMs ${error.retryAfterMs} not in [${at - after}, ${at - before}]`,
  );
});

Deno.test("parseRetryAfter() reads seconds and HTTP dates, and ignores anything else", () => {
  const now = Date.UTC(2015, 9, 21, 7, 28, 0);
  assert.equal(parseRetryAfter("120", now), 120_000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("1.5", now), 1500);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), 30_000);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter("-5", now), undefined);
  assert.equal(parseRetryAfter("", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

Deno.test("a server that does not answer in timeoutMs is a retriable HttpError with status 0", async () => {
  const release = Promise.withResolvers<void>();
  await using server = serve(async () => {
    await release.promise;
    return new Response("late");
  });
  const error = await thrown(() =>
    requestJson(`${server.url}/slow`, { timeoutMs: 100, service: "InfluxDB" })
  );
  assert.ok(error instanceof HttpError);
  assert.equal(error.status, 0);
  assert.equal(error.retriable, true);
  assert.equal(
    error.message,
    `InfluxDB at ${server.url} did not answer GET /slow: no answer in 100 ms`,
  );
  release.resolve();
});

Deno.test("a body that stops half-way is a timeout too", async () => {
  const release = Promise.withResolvers<void>();
  await using server = serve(() =>
    new Response(
      new ReadableStream({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode('{"partial": '));
          await release.promise;
          controller.close();
        },
      }),
      { status: 200, headers: { "content-type": "application/json" } },
    )
  );
  const error = await thrown(() =>
    requestJson(`${server.url}/stream`, { timeoutMs: 100 })
  );
  assert.ok(error instanceof HttpError);
  assert.equal(error.status, 0);
  assert.match(
    error.message,
    /did not answer GET \/stream: no answer in 100 ms/,
  );
  release.resolve();
});

Deno.test("an aborted signal rejects with its reason, not an HttpError", async () => {
  const arrived = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  await using server = serve(async () => {
    arrived.resolve();
    await release.promise;
    return new Response("late");
  });
  const controller = new AbortController();
  const reason = new Error("shutting down");
  const pending = requestJson(`${server.url}/slow`, {
    signal: controller.signal,
  });
  await arrived.promise;
  controller.abort(reason);
  assert.equal(await thrown(() => pending), reason);
  release.resolve();
});

Deno.test("a signal aborted before the call rejects with its reason and sends nothing", async () => {
  await using server = serve(() => json(200, {}));
  const reason = new Error("already stopped");
  const error = await thrown(() =>
    requestJson(`${server.url}/x`, { signal: AbortSignal.abort(reason) })
  );
  assert.equal(error, reason);
  assert.equal(server.seen.length, 0);
});

Deno.test("a refused connection is a retriable HttpError with status 0 and fetch's error as cause", async () => {
  const url = `http://127.0.0.1:${closedPort()}`;
  const error = await thrown(() =>
    requestJson(`${url}/health`, { method: "HEAD", service: "Grafana" })
  );
  assert.ok(error instanceof HttpError);
  assert.equal(error.status, 0);
  assert.equal(error.retriable, true);
  assert.ok(error.cause instanceof TypeError);
  assert.ok(
    error.message.startsWith(`Grafana at ${url} did not answer HEAD /health: `),
    error.message,
  );
});

Deno.test("errorClass makes the helper throw the client's own subclass", async () => {
  class ClientError extends HttpError {
    constructor(...args: ConstructorParameters<typeof HttpError>) {
      super(...args);
      this.name = "ClientError";
    }
  }
  await using server = serve(() => json(500, { message: "boom" }));
  const error = await thrown(() =>
    requestJson(`${server.url}/x`, { errorClass: ClientError })
  );
  assert.ok(error instanceof ClientError);
  assert.ok(error instanceof HttpError);
  assert.equal(error.name, "ClientError");
  assert.equal(error.retriable, true);
});
