/**
 * The `/pipeline` page of the chart server, in Chromium, on the real
 * 3-broker stack with two consumers (InfluxDB 3 double) and the synthetic
 * producer: brokers, partitions with replicas and ISR, keys, the group's
 * members and assignor, the sink's metrics, a poison record in the DLQ
 * panel, and `/api/pipeline` checked against Kafka's own TopicCommand and
 * GetOffsetShell. Stopping a broker is in
 * pipeline_broker_down_integration_test.ts (a private stack).
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { launchChromium } from "../browser.ts";
import { consumerRig, isMsg, openReader } from "../pipeline/fixtures.ts";
import { spawnScript } from "../processes.ts";
import { freePort, waitFor } from "../support.ts";

const BROKER = "127.0.0.1:19090";

interface Snapshot {
  at: number;
  brokers: { id: number; address: string; up: boolean }[];
  topics: {
    name: string;
    partitions: {
      partition: number;
      leader: number;
      replicas: number[];
      isr: number[];
      end: number;
    }[];
  }[];
  group?: { assignor: string; members: { partitions: number[] }[] };
}

/** Rows of the page's tables as the user sees them: text of each cell. */
function cells(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(
    selector,
    (rows) =>
      rows.map((r) =>
        [...r.querySelectorAll("td")].map((td) => td.textContent ?? "")
      ),
  );
}

/** Runs one of Kafka's own tools (kafka-tools jar) on the stack's JDK; its stdout. */
async function kafkaTool(main: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(".stack/jdk/bin/java", {
    args: ["-cp", ".stack/libs/*", main, "--bootstrap-server", BROKER, ...args],
    stdin: "null",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("the pipeline page shows brokers, partitions, keys, the group with its assignor, sink metrics and dead letters live, and its JSON matches Kafka's own tools", async () => {
  await using rig = await consumerRig("pipeline-page");
  const port = freePort();
  // The chart runs with its own task's permission set, as launch runs it.
  await using chart = spawnScript("scripts/chart.ts", {
    env: {
      KAFKA_TOPIC: rig.topic,
      CONSUMER_GROUP: rig.group,
      CHART_PORT: String(port),
      LOG_FORMAT: "json",
    },
    permissions: ["-q", "-P=chart"],
  });
  const c1 = rig.startConsumer("c1");
  const c2 = rig.startConsumer("c2");
  const producer = rig.startProducer({ SYNTHETIC_RATE: "5" });
  await producer.waitForLog("the producer to send", isMsg("sending"));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    "the chart server",
    () =>
      fetch(`${base}/api/status`).then(
        (r) => (r.body?.cancel(), r.ok),
        () => false,
      ),
  );
  const browser = await launchChromium();
  await Deno.mkdir("tests/out", { recursive: true });
  try {
    const page = await browser.newPage({
      viewport: { width: 1366, height: 768 },
    });
    await page.goto(`${base}/pipeline`);
    const topicRows = `tr[data-topic="${rig.topic}"]`;
    await waitFor(
      "3 brokers up",
      async () =>
        (await page.$$('tr[data-broker][data-state="up"]')).length === 3,
    );
    const brokers = await cells(page, "tr[data-broker]");
    assert.deepEqual(brokers.map((b) => b[1]), [
      "127.0.0.1:19090",
      "127.0.0.1:19091",
      "127.0.0.1:19092",
    ]);
    assert.equal(
      brokers.filter((b) => b[2] === "controller").length,
      1,
      "one controller: the KRaft quorum leader",
    );
    const partitions = await waitFor(
      "2 partitions",
      async () => {
        const rows = await page.$$eval(topicRows, (rs) =>
          rs.map((r) => ({
            partition: r.getAttribute("data-partition"),
            replicas: r.getAttribute("data-replicas"),
            isr: r.getAttribute("data-isr"),
          })));
        return rows.length === 2 ? rows : undefined;
      },
    );
    assert.deepEqual(partitions, [
      { partition: "0", replicas: "3", isr: "3" },
      { partition: "1", replicas: "3", isr: "3" },
    ]);
    await waitFor("tBTCUSD and tETHUSD in the keys panel", async () => {
      const keys = Object.fromEntries(
        (await cells(page, "tr[data-key]")).map(([k, p]) => [k, p]),
      );
      return keys.tBTCUSD === "1" && keys.tETHUSD === "0";
    });
    const members = await waitFor(
      "two members with one partition each",
      async () => {
        const rows = await cells(page, "tr[data-member]");
        return rows.length === 2 && rows.every((r) => /^\d$/.test(r[2]))
          ? rows
          : undefined;
      },
      { timeoutMs: 40_000 },
    );
    assert.deepEqual(members.map((m) => m[0]), ["c1", "c2"]);
    assert.deepEqual(members.map((m) => m[2]).sort(), ["0", "1"]);
    assert.equal(await page.textContent("#assignor"), "range");
    await waitFor("both consumers' sink metrics with points", async () => {
      const rows = await cells(page, "tr[data-sink]");
      return rows.length === 2 &&
        rows.every((r) =>
          /tBTCUSD|tETHUSD/.test(r[1]) && /^\d+ ms$/.test(r[2])
        );
    }, { timeoutMs: 30_000 });
    assert.equal(await page.textContent("#state"), "live");

    // A poison record: not the wire format's magic byte.
    const poison = rig.kafka.producer();
    await poison.connect();
    await poison.send({
      topic: rig.topic,
      messages: [{ key: "tBTCUSD", value: "not avro" }],
    });
    await poison.disconnect();
    await using dlq = await openReader(`${rig.topic}.dlq`, { decode: false });
    const dead = await waitFor(
      "the record in the DLQ topic",
      () => dlq.records[0],
    );
    const reason = dead.headers["error.reason"];
    assert.ok(reason, JSON.stringify(dead.headers));
    await waitFor(
      "the dead letter on the page",
      async () =>
        (await cells(page, `tr[data-reason]`)).some((r) => r[0] === reason),
    );
    console.log(`dead letter shown with reason ${reason}`);

    await page.screenshot({
      path: "tests/out/pipeline-1366x768.png",
      fullPage: true,
    });
    await page.setViewportSize({ width: 390, height: 844 });
    // Laid out at the new width: the resize seen, then two frames drawn.
    await page.waitForFunction("window.innerWidth === 390");
    await page.evaluate(
      "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))",
    );
    const overflow = await page.evaluate<number>(
      "document.documentElement.scrollWidth - window.innerWidth",
    );
    assert.ok(overflow <= 0, `no horizontal scroll at 390 px (${overflow}px)`);
    await page.screenshot({ path: "tests/out/pipeline-390x844.png" });

    // The JSON behind the page against kcat's metadata and Kafka's own
    // GetOffsetShell, once the producer has stopped (offsets stay put).
    assert.equal((await producer.stop()).code, 0);
    const shell = await kafkaTool("org.apache.kafka.tools.GetOffsetShell", [
      "--topic",
      rig.topic,
    ]);
    const ends = new Map(
      shell.trim().split("\n").map((l) => {
        const [, p, o] = l.split(":");
        return [Number(p), Number(o)];
      }),
    );
    const described = await kafkaTool("org.apache.kafka.tools.TopicCommand", [
      "--describe",
      "--topic",
      rig.topic,
    ]);
    const expected = [
      ...described.matchAll(
        /Partition: (\d+)\s+Leader: (-?\d+)\s+Replicas: ([\d,]+)\s+Isr: ([\d,]+)/g,
      ),
    ].map(([, p, leader, replicas, isr]) => ({
      partition: Number(p),
      leader: Number(leader),
      replicas: replicas.split(",").map(Number),
      isr: isr.split(",").map(Number).sort(),
    }));
    const api = await waitFor(
      "a snapshot taken after the producer stopped",
      async () => {
        const snap: Snapshot = await (await fetch(`${base}/api/pipeline`))
          .json();
        const t = snap.topics.find((x) => x.name === rig.topic);
        return t?.partitions.every((p) => p.end === ends.get(p.partition))
          ? snap
          : undefined;
      },
    );
    const topic = api.topics.find((t) => t.name === rig.topic)!;
    assert.equal(expected.length, 2, described);
    assert.deepEqual(
      topic.partitions.map((p) => ({
        partition: p.partition,
        leader: p.leader,
        replicas: p.replicas,
        isr: [...p.isr].sort(),
      })),
      expected,
    );
    console.log(
      `/api/pipeline = kafka-topics --describe ${JSON.stringify(expected)}; ` +
        `end offsets = GetOffsetShell ${
          JSON.stringify(Object.fromEntries(ends))
        }`,
    );

    // The group restarts with the sticky assignor: the page follows.
    await page.setViewportSize({ width: 1366, height: 768 });
    for (const exit of await Promise.all([c1.stop(), c2.stop()])) {
      assert.equal(exit.code, 0, exit.stderr.slice(-1000));
      assert.equal(exit.killedAfterTimeout, false, "metrics endpoint closed");
    }
    rig.startConsumer("c3", { ASSIGNOR: "sticky" });
    rig.startConsumer("c4", { ASSIGNOR: "sticky" });
    await waitFor(
      "the sticky assignor on the page",
      async () =>
        await page.textContent("#assignor") === "sticky" &&
        (await cells(page, "tr[data-member]")).length === 2,
      {
        timeoutMs: 40_000,
      },
    );
    console.log(
      `after the restart: ${await page.textContent("#group p")}`,
    );
  } finally {
    await browser.close();
  }
  void chart;
});
