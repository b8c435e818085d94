/**
 * `bitfinexRestTicks()` after a rate-limit answer, without the network and
 * without waiting a minute: the test passes its own `fetch`, and measures
 * the wait itself by catching the timer the source arms (`setTimeout`,
 * through `delay()` of @cryptocandles/runtime) and firing it at once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { bitfinexRestTicks } from "@cryptocandles/bitfinex";
import { createLogger } from "@cryptocandles/runtime";

const ROW = [
  66371,
  2.57,
  66372,
  6.48,
  -644,
  -0.0096,
  66401,
  639.7,
  67045,
  65088,
];

/** Runs `body` with `setTimeout` replaced: each call's delay is recorded, and the callback runs at once. */
async function withTimersRecorded<T>(
  body: (delays: number[]) => Promise<T>,
): Promise<T> {
  const original = globalThis.setTimeout;
  const delays: number[] = [];
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    return original(fn, 0);
  }) as typeof setTimeout;
  try {
    return await body(delays);
  } finally {
    globalThis.setTimeout = original;
  }
}

for (
  const [name, answer] of [
    [
      "HTTP 429",
      () =>
        Response.json(["error", 11010, "ratelimit: error"], { status: 429 }),
    ],
    [
      'a 200 whose body is ["error", …, "ratelimit: error"]',
      () => Response.json(["error", 11010, "ratelimit: error"]),
    ],
  ] as const
) {
  Deno.test(`bitfinexRestTicks(): ${name} makes the next request wait 60 s (the armed timer), and polling goes on after it`, async () => {
    const lines: string[] = [];
    const requests: number[] = [];
    const controller = new AbortController();
    const fetch = ((_url: string) => {
      requests.push(requests.length);
      return Promise.resolve(
        requests.length === 1
          ? answer()
          : Response.json([["tBTCUSD", ...ROW], ["tETHUSD", ...ROW]]),
      );
    }) as unknown as typeof globalThis.fetch;
    const got = await withTimersRecorded(async (delays) => {
      const ticks = [];
      for await (
        const tick of bitfinexRestTicks({
          url: "http://bitfinex.invalid/v2",
          coins: ["tBTCUSD", "tETHUSD"],
          pollMs: 5000,
          signal: controller.signal,
          log: createLogger("rest-test", {
            format: "json",
            write: (line) => lines.push(JSON.parse(line).msg),
          }),
          fetch,
        })
      ) {
        ticks.push(tick);
        if (ticks.length === 2) controller.abort();
      }
      return { ticks, delays: [...delays] };
    });
    assert.equal(requests.length, 2);
    // The one timer of a second or more is the wait after the rate limit
    // (the poll interval after the ticks is never armed: the test stops
    // the source first).
    assert.deepEqual(got.delays.filter((ms) => ms >= 1000), [60_000]);
    assert.deepEqual(got.ticks.map((t) => t.nombre), ["tBTCUSD", "tETHUSD"]);
    assert.ok(
      lines.some((l) => l.includes("next request in 60 s")),
      lines.join("\n"),
    );
  });
}
