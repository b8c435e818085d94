import assert from "node:assert/strict";
import { backoff, delay, retry } from "@cryptocandles/runtime";

/** A random source that always returns `value`. */
const fixed = (value: number) => () => value;

Deno.test("backoff() grows by the multiplier from minTimeout", () => {
  const options = { minTimeout: 100, multiplier: 3, jitter: 0 };
  assert.deepEqual(
    [1, 2, 3, 4].map((attempt) => backoff(attempt, options)),
    [100, 300, 900, 2700],
  );
});

Deno.test("backoff() doubles from 200 ms by default", () => {
  const options = { jitter: 0 };
  assert.deepEqual([1, 2, 3].map((a) => backoff(a, options)), [200, 400, 800]);
});

Deno.test("backoff() caps the delay at maxTimeout", () => {
  const options = { minTimeout: 100, maxTimeout: 500, jitter: 0 };
  assert.deepEqual(
    [3, 4, 10, 100].map((attempt) => backoff(attempt, options)),
    [400, 500, 500, 500],
  );
});

Deno.test("backoff() takes up to jitter of the delay off at random", () => {
  const options = { minTimeout: 1000, jitter: 0.5 };
  assert.equal(backoff(1, { ...options, random: fixed(0) }), 1000);
  assert.equal(backoff(1, { ...options, random: fixed(0.5) }), 750);
  assert.equal(backoff(1, { ...options, random: fixed(0.99) }), 505);
  assert.equal(backoff(1, { ...options, jitter: 1, random: fixed(0.25) }), 750);
});

Deno.test("backoff() throws a RangeError when jitter is not between 0 and 1", () => {
  for (const jitter of [2, -0.1]) {
    assert.throws(
      () => backoff(1, { jitter }),
      (error) =>
        error instanceof RangeError &&
        error.message ===
          `Cannot back off as 'jitter' must be between 0 and 1: current value is ${jitter}`,
    );
  }
});

Deno.test("retry() returns the value after transient failures", async () => {
  const attempts: number[] = [];
  const retried: [string, number, number][] = [];
  const value = await retry(
    (attempt) => {
      attempts.push(attempt);
      return attempt < 3
        ? Promise.reject(new Error(`flaky ${attempt}`))
        : Promise.resolve("done");
    },
    {
      minTimeout: 1,
      jitter: 0,
      onRetry: (error, attempt, ms) =>
        retried.push([(error as Error).message, attempt, ms]),
    },
  );
  assert.equal(value, "done");
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.deepEqual(retried, [["flaky 1", 1, 1], ["flaky 2", 2, 2]]);
});

Deno.test("retry() stops at an error that is not retriable", async () => {
  const fatal = new TypeError("bad request");
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(calls === 1 ? new Error("transient") : fatal);
    }, {
      minTimeout: 1,
      isRetriable: (error) => !(error instanceof TypeError),
    }),
    (error) => error === fatal,
  );
  assert.equal(calls, 2);
});

Deno.test("retry() rethrows the last error unchanged after maxAttempts", async () => {
  const errors: Error[] = [];
  await assert.rejects(
    retry(() => {
      const error = new Error(`attempt ${errors.length + 1} failed`);
      errors.push(error);
      return Promise.reject(error);
    }, { maxAttempts: 4, minTimeout: 1, jitter: 0 }),
    (error) => {
      assert.equal(error, errors[3]);
      assert.equal((error as Error).message, "attempt 4 failed");
      return true;
    },
  );
  assert.equal(errors.length, 4);
});

Deno.test("retry() waits as long as delayFor asks instead of the backoff", async () => {
  const waits: number[] = [];
  let calls = 0;
  await retry(() => {
    calls++;
    return calls < 3
      ? Promise.reject(Object.assign(new Error("429"), { retryAfter: calls }))
      : Promise.resolve();
  }, {
    minTimeout: 10_000,
    delayFor: (error) => (error as { retryAfter: number }).retryAfter,
    onRetry: (_, __, ms) => waits.push(ms),
  });
  assert.deepEqual(waits, [1, 2]);
});

Deno.test("retry() falls back to the backoff when delayFor has no answer", async () => {
  const waits: number[] = [];
  await assert.rejects(
    retry(() => Promise.reject(new Error("no")), {
      maxAttempts: 2,
      minTimeout: 3,
      jitter: 0,
      delayFor: () => undefined,
      onRetry: (_, __, ms) => waits.push(ms),
    }),
    /no/,
  );
  assert.deepEqual(waits, [3]);
});

Deno.test("retry() stops with the signal's reason when it aborts during a wait", async () => {
  const controller = new AbortController();
  const reason = new Error("shutting down");
  let calls = 0;
  const started = performance.now();
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(new Error("down"));
    }, {
      minTimeout: 60_000,
      signal: controller.signal,
      onRetry: () => controller.abort(reason),
    }),
    (error) => error === reason,
  );
  assert.equal(calls, 1);
  assert.ok(performance.now() - started < 1000);
});

Deno.test("retry() does not call fn once the signal has aborted", async () => {
  const reason = new Error("stopped");
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.resolve();
    }, { signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
  assert.equal(calls, 0);
});

Deno.test("retry() rethrows fn's error when the signal aborts during the attempt", async () => {
  const controller = new AbortController();
  const failure = new Error("interrupted");
  await assert.rejects(
    retry(() => {
      controller.abort(new Error("stop"));
      return Promise.reject(failure);
    }, { minTimeout: 1, signal: controller.signal }),
    (error) => error === failure,
  );
});

Deno.test("delay() resolves after the time has passed", async () => {
  const started = performance.now();
  await delay(15);
  assert.ok(performance.now() - started >= 14);
});

Deno.test("delay() rejects with the signal's reason when it aborts", async () => {
  const controller = new AbortController();
  const reason = new Error("abort");
  const waiting = delay(60_000, controller.signal);
  controller.abort(reason);
  await assert.rejects(waiting, (error) => error === reason);
});

Deno.test("delay() rejects at once when the signal has already aborted", async () => {
  await assert.rejects(
    delay(60_000, AbortSignal.abort()),
    (error) => error instanceof DOMException && error.name === "AbortError",
  );
});
