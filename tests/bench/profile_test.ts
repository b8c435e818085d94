/**
 * `topSelfTime()` of bench/profile.ts on a hand-made V8 CPU profile.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type CpuProfile, shortUrl, topSelfTime } from "../../bench/profile.ts";

const frame = (functionName: string, url = "", lineNumber = -1) => ({
  functionName,
  url,
  lineNumber,
});

Deno.test("topSelfTime() sums each sample until the next one into its function, leaving (idle) out of the busy time", () => {
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame("(root)") },
      { id: 2, callFrame: frame("(idle)") },
      {
        id: 3,
        callFrame: frame("decode", "file:///p/shared/avro/decode.ts", 9),
      },
      // the same function reached from another caller: one entry
      {
        id: 4,
        callFrame: frame("decode", "file:///p/shared/avro/decode.ts", 9),
      },
      { id: 5, callFrame: frame("(garbage collector)") },
    ],
    startTime: 1_000,
    // samples at 1,000, 2,000, 4,000, 5,000 and 9,000 µs; the profile ends at 11,000
    samples: [3, 5, 4, 2, 3],
    timeDeltas: [0, 1_000, 2_000, 1_000, 4_000],
    endTime: 11_000,
  };
  const { totalMs, busyMs, frames } = topSelfTime(profile, { root: "/p" });
  // decode: 1 ms (first) + 1 ms (third) + 2 ms (last, until endTime) = 4 ms;
  // GC: 2 ms; idle: 4 ms; total 10 ms, busy 6 ms
  assert.equal(totalMs, 10);
  assert.equal(busyMs, 6);
  assert.deepEqual(frames, [
    {
      functionName: "decode",
      url: "shared/avro/decode.ts",
      line: 10,
      selfMs: 4,
      share: 4 / 6,
    },
    {
      functionName: "(garbage collector)",
      url: "",
      line: 0,
      selfMs: 2,
      share: 2 / 6,
    },
  ]);
});

Deno.test("shortUrl() names npm packages' files by package and version", () => {
  assert.equal(
    shortUrl(
      "file:///p/node_modules/.deno/@influxdata+influxdb3-client@2.1.0/node_modules/@influxdata/influxdb3-client/dist/index.js",
      "/p",
    ),
    "npm:@influxdata/influxdb3-client@2.1.0/dist/index.js",
  );
  assert.equal(
    shortUrl(
      "file:///p/node_modules/.deno/kafkajs@2.2.4/node_modules/kafkajs/src/index.js",
      "/p",
    ),
    "npm:kafkajs@2.2.4/src/index.js",
  );
  assert.equal(
    shortUrl("ext:deno_web/01_console.js", "/p"),
    "ext:deno_web/01_console.js",
  );
});
