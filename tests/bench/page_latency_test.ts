/**
 * bench/page_latency.ts: `summarise()` by hand, and `watchPageLatency()`
 * against a page that counts (no chart, no Kafka): every sample read once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { summarise, watchPageLatency } from "../../bench/page_latency.ts";

Deno.test("summarise() gives nearest-rank percentiles: the ceil(p × n)-th smallest", () => {
  // 1..200 shuffled: p50 is the 100th smallest, p99 the 198th
  const samples = Array.from({ length: 200 }, (_, i) => ((i * 37) % 200) + 1);
  assert.deepEqual(summarise(samples), {
    count: 200,
    p50: 100,
    p99: 198,
    max: 200,
  });
  assert.deepEqual(summarise([7]), { count: 1, p50: 7, p99: 7, max: 7 });
  assert.deepEqual(summarise([]), {
    count: 0,
    p50: null,
    p99: null,
    max: null,
  });
});

Deno.test("watchPageLatency() reads every sample of the page once, the warm-up's left out", async () => {
  // A page that pushes 0, 1, 2 … every 10 ms as app.js pushes latencies
  // (the last 500 kept), so a lost or doubled sample shows as a gap or a repeat.
  const html = `<script>
    globalThis.chartData = { latencies: [] };
    let next = 0;
    setInterval(() => {
      const d = globalThis.chartData;
      d.latencies = [...d.latencies.slice(-499), next++];
    }, 10);
  </script>`;
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(html, { headers: { "content-type": "text/html" } }),
  );
  const page = watchPageLatency(`http://127.0.0.1:${server.addr.port}/`, {
    everyMs: 300,
    warmupMs: 300,
  });
  await page.ready;
  await new Promise((r) => setTimeout(r, 1_500));
  const result = await page.stop();
  assert.equal(result.error, undefined);
  assert.equal(result.fullReads, 0);
  assert.ok(result.warmupSamples > 0);
  const { samples } = result;
  assert.ok(samples.length > 50, `${samples.length} samples`);
  // the first after the warm-up's, then each the one before plus one
  assert.equal(samples[0], result.warmupSamples);
  assert.deepEqual(
    samples,
    samples.map((_, i) => samples[0] + i),
  );
});
