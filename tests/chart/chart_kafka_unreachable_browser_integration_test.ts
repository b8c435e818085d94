/**
 * The chart with every broker down at start (issue 14, R2b): it keeps
 * serving, its page and `/api/status` say Kafka is unreachable and since
 * when, one warning says so in its log, and it reads once Kafka answers.
 * The first test needs no Kafka (brokers on free ports where nothing
 * listens); the second ends the outage by opening TCP relays to the shared
 * stack on those ports, and is skipped when that stack is not up.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { launchChromium } from "../browser.ts";
import { type LogLine, spawnScript } from "../processes.ts";
import { cleanupLater, freePort, runScript, uniqueName } from "../support.ts";
import { waitFor } from "../support.ts";

const UNREACHABLE = /^Kafka unreachable since \d{2}:\d{2}:\d{2}$/;

interface KafkaStatus {
  state: string;
  reachable: boolean;
  since: string;
  error?: string;
}

async function kafkaStatus(port: number): Promise<KafkaStatus | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/api/status`);
    return (await response.json()).kafka;
  } catch {
    return undefined; // not serving yet
  }
}

async function badge(page: Page) {
  const data = await page.evaluate(() =>
    (globalThis as unknown as {
      chartData?: { state: string; candles: unknown[] };
    }).chartData
  );
  return {
    text: await page.textContent("#state") ?? "",
    title: await page.getAttribute("#state", "title") ?? "",
    className: await page.getAttribute("#state", "class") ?? "",
    state: data?.state,
    candles: data?.candles.length ?? 0,
  };
}

/** The chart script with its task's permission set. */
function startChart(env: Record<string, string>) {
  return spawnScript("scripts/chart.ts", {
    env: { LOG_FORMAT: "json", ...env },
    permissions: ["-q", "-P=chart"],
  });
}

const warnings = (lines: LogLine[]) =>
  lines.filter((l) => l.level === "warn" || l.level === "error");

Deno.test("with every broker down at start the chart keeps serving, and its page and /api/status say Kafka unreachable and since when", async () => {
  const brokers = [freePort(), freePort(), freePort()];
  const port = freePort();
  const addresses = brokers.map((p) => `127.0.0.1:${p}`);
  await using chart = startChart({
    KAFKA_BROKERS: addresses.join(","),
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${freePort()}/apis/ccompat/v7`,
    KAFKA_TOPIC: uniqueName("t-chart-down"),
    CHART_PORT: String(port),
  });
  const browser = await launchChromium();
  try {
    const status = await waitFor(
      "/api/status to say Kafka is unreachable",
      async () => {
        const kafka = await kafkaStatus(port);
        return kafka?.state === "unreachable" ? kafka : undefined;
      },
    );
    assert.equal(status.reachable, false);
    assert.ok(Date.now() - Date.parse(status.since) < 60_000, status.since);
    assert.equal(
      status.error,
      `no broker accepts connections (${addresses.join(", ")})`,
    );

    const page = await browser.newPage({
      viewport: { width: 1366, height: 768 },
    });
    await page.goto(`http://127.0.0.1:${port}/?coin=tBTCUSD&interval=1m`);
    const down = await waitFor(
      "the page to say Kafka is unreachable",
      async () => {
        const b = await badge(page);
        return UNREACHABLE.test(b.text) ? b : undefined;
      },
    );
    assert.equal(down.state, "kafka-unreachable");
    assert.match(down.className, /state-kafka-unreachable/);
    assert.ok(down.title.includes(addresses[0]), down.title);
    assert.equal(down.candles, 0);
    await Deno.mkdir("tests/out", { recursive: true });
    await page.screenshot({ path: "tests/out/chart-kafka-unreachable.png" });

    // Something accepts connections on one broker port (and hangs up): the
    // page follows without a reload, and back to the same outage after.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: brokers[0] });
    const accepting = (async () => {
      for await (const conn of listener) conn.close();
    })().catch(() => {});
    await waitFor(
      "the page to say it connects",
      async () => (await badge(page)).text === "connecting to Kafka…",
    );
    assert.equal((await kafkaStatus(port))?.state, "connecting");
    listener.close();
    await accepting;
    const again = await waitFor(
      "the page to say unreachable again",
      async () => {
        const b = await badge(page);
        return UNREACHABLE.test(b.text) ? b : undefined;
      },
    );
    assert.equal(again.text, down.text, "the same outage, the same since");
    assert.equal((await kafkaStatus(port))?.since, status.since);

    assert.equal(chart.exited, false, "still running");
    const unreachable = chart.logs().filter((l) =>
      l.msg.startsWith("kafka unreachable:")
    );
    assert.equal(unreachable.length, 1, chart.stderr);
    assert.equal(unreachable[0].level, "warn");
    assert.equal(
      unreachable[0].msg,
      `kafka unreachable: no broker accepts connections (${
        addresses.join(", ")
      }); serving the page and retrying`,
    );
    const stopped = await chart.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.ok(chart.logs().some((l) => l.msg === "stopped"), chart.stderr);
  } finally {
    await browser.close();
  }
});

/** Whether the shared stack's first broker answers (the second test needs it). */
async function sharedStackUp(): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port: 19090 })).close();
    return true;
  } catch {
    return false;
  }
}

/** Relays TCP connections from `port` to `target` until closed. */
function relay(port: number, target: number): { close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const conn of listener) {
      Deno.connect({ hostname: "127.0.0.1", port: target }).then((far) => {
        conns.add(conn).add(far);
        conn.readable.pipeTo(far.writable).catch(() => {});
        far.readable.pipeTo(conn.writable).catch(() => {});
      }, () => conn.close());
    }
  })().catch(() => {});
  return {
    async close() {
      listener.close();
      await accepting;
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
    },
  };
}

Deno.test({
  name:
    "when the brokers answer after an outage at start, the chart page goes from Kafka unreachable to live and shows candles by itself",
  ignore: !(await sharedStackUp()),
  // The relays' sockets outlive the test body until the chart exits.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const topic = uniqueName("t-chart-late");
    await using _cleanup = cleanupLater([topic]);
    const env = {
      KAFKA_TOPIC: topic,
      SOURCE: "synthetic",
      SYNTHETIC_RATE: "5",
    };
    const setup = await runScript("scripts/setup-schema.ts", [], env);
    assert.equal(setup.code, 0, setup.stderr);
    await using _producer = spawnScript("scripts/producer.ts", { env });
    // The chart bootstraps through ports where nothing listens yet; the
    // cluster then advertises its own addresses.
    const ports = [freePort(), freePort(), freePort()];
    const port = freePort();
    await using chart = startChart({
      ...env,
      KAFKA_BROKERS: ports.map((p) => `127.0.0.1:${p}`).join(","),
      CHART_PORT: String(port),
    });
    const browser = await launchChromium();
    const relays: { close(): Promise<void> }[] = [];
    try {
      const page = await browser.newPage({
        viewport: { width: 1366, height: 768 },
      });
      await waitFor(
        "the chart server",
        async () => (await kafkaStatus(port))?.state === "unreachable",
      );
      await page.goto(`http://127.0.0.1:${port}/?coin=tBTCUSD&interval=1m`);
      await waitFor(
        "the page to say Kafka is unreachable",
        async () => UNREACHABLE.test((await badge(page)).text),
      );

      ports.forEach((p, i) => relays.push(relay(p, 19090 + i)));
      const live = await waitFor("live candles on the page", async () => {
        const b = await badge(page);
        return b.text === "live" && b.candles > 0 ? b : undefined;
      }, { timeoutMs: 45_000 });
      assert.equal(live.state, "live");
      const status = await kafkaStatus(port);
      assert.equal(status?.state, "reachable");
      assert.equal(status?.reachable, true);
      const back = chart.logs().filter((l) =>
        l.msg.startsWith("kafka reachable again after ")
      );
      assert.equal(back.length, 1, chart.stderr);
      assert.equal(back[0].level, "info");
      assert.equal(
        warnings(chart.logs()).filter((l) => l.msg.startsWith("kafka ")).length,
        1,
        "one warning for the outage",
      );
      assert.equal(chart.exited, false);
    } finally {
      await browser.close();
      await chart.stop();
      for (const r of relays) await r.close();
    }
  },
});
