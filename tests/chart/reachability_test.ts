import assert from "node:assert/strict";
import {
  connectWhenReachable,
  createCandleStore,
  createChartServer,
  createKafkaReachability,
  type KafkaStatus,
  kafkaVerdict,
  type PipelineSnapshot,
  type PipelineWatch,
} from "@cryptocandles/chart";
import { createLogger } from "@cryptocandles/runtime";

const BROKERS = ["127.0.0.1:19090", "127.0.0.1:19091", "127.0.0.1:19092"];

/** A watch on fake brokers (`up` says which ports accept), a clock and the log lines. */
function fixture(up: Set<number> = new Set()) {
  const clock = { now: Date.UTC(2026, 0, 1, 12, 0, 0) };
  const lines: string[] = [];
  const probed: string[] = [];
  const log = createLogger("chart", { write: (line) => lines.push(line) });
  const watch = createKafkaReachability({
    brokers: BROKERS,
    log,
    now: () => clock.now,
    probe: (host, port) => {
      probed.push(`${host}:${port}`);
      return Promise.resolve(up.has(port));
    },
  });
  return { watch, clock, lines, probed, up, log };
}

function snapshot(
  brokers: { port: number; up: boolean }[],
  errors: Record<string, string> = {},
): PipelineSnapshot {
  return {
    at: 0,
    brokers: brokers.map(({ port, up }, i) => ({
      id: i + 1,
      address: `127.0.0.1:${port}`,
      controller: i === 0,
      up,
    })),
    topics: [],
    keys: {},
    dlq: { count: 0, recent: [] },
    registry: [],
    sinks: [],
    errors,
  };
}

const NO_ANSWER = "brokers: no answer within 1500 ms";

Deno.test("createKafkaReachability() is connecting until a verdict, and connecting while brokers answer but the chart has not connected yet", async () => {
  const { watch, up, lines } = fixture();
  assert.equal(watch.status().state, "connecting");
  assert.equal(watch.status().reachable, false);
  up.add(19091);
  assert.equal((await watch.check()).state, "connecting");
  watch.connected();
  assert.deepEqual(watch.status(), {
    state: "reachable",
    reachable: true,
    since: "2026-01-01T12:00:00.000Z",
  });
  assert.deepEqual(lines, [], "nothing to say when Kafka was never down");
});

Deno.test("createKafkaReachability() says unreachable with since and the addresses when no broker accepts connections at start, with one warning however many probes fail", async () => {
  const { watch, clock, lines, probed } = fixture();
  clock.now += 1500;
  const status = await watch.check();
  assert.deepEqual(probed, BROKERS, "every bootstrap broker is probed");
  assert.equal(status.state, "unreachable");
  assert.equal(status.reachable, false);
  assert.equal(status.since, "2026-01-01T12:00:01.500Z");
  assert.equal(
    status.error,
    "no broker accepts connections (127.0.0.1:19090, 127.0.0.1:19091, 127.0.0.1:19092)",
  );
  for (let i = 0; i < 10; i++) {
    clock.now += 2000;
    await watch.check();
  }
  assert.equal(watch.status().since, "2026-01-01T12:00:01.500Z");
  assert.deepEqual(lines, [
    "chart: warn: kafka unreachable: no broker accepts connections (127.0.0.1:19090, 127.0.0.1:19091, 127.0.0.1:19092); serving the page and retrying",
  ]);
});

Deno.test("createKafkaReachability() goes unreachable mid-stream when every broker is gone and back to reachable with one line when one returns", async () => {
  const { watch, clock, lines, up } = fixture(new Set([19090, 19091, 19092]));
  watch.connected();
  await watch.check();
  assert.equal(watch.status().state, "reachable");
  up.clear();
  clock.now += 10_000;
  assert.equal((await watch.check()).state, "unreachable");
  assert.equal(watch.status().since, "2026-01-01T12:00:10.000Z");
  clock.now += 31_000;
  up.add(19092);
  assert.equal((await watch.check()).state, "reachable");
  assert.equal(watch.status().since, "2026-01-01T12:00:41.000Z");
  assert.equal(watch.status().error, undefined);
  assert.deepEqual(lines, [
    "chart: warn: kafka unreachable: no broker accepts connections (127.0.0.1:19090, 127.0.0.1:19091, 127.0.0.1:19092); serving the page and retrying",
    "chart: kafka reachable again after 31 s",
  ]);
});

Deno.test("createKafkaReachability() keeps the outage's start while brokers accept connections again before the chart could connect", async () => {
  const { watch, clock, lines, up } = fixture();
  await watch.check();
  clock.now += 5000;
  up.add(19090);
  assert.equal((await watch.check()).state, "connecting");
  up.clear();
  clock.now += 5000;
  const again = await watch.check();
  assert.equal(again.state, "unreachable");
  assert.equal(again.since, "2026-01-01T12:00:00.000Z", "the same outage");
  up.add(19090);
  clock.now += 5000;
  await watch.check();
  watch.connected();
  assert.equal(watch.status().state, "reachable");
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.equal(lines[1], "chart: kafka reachable again after 15 s");
});

Deno.test("createKafkaReachability() tells listeners each change of state once, not each probe", async () => {
  const { watch, up } = fixture();
  const seen: KafkaStatus["state"][] = [];
  const off = watch.onChange((s) => seen.push(s.state));
  await watch.check();
  await watch.check();
  up.add(19090);
  await watch.check();
  watch.connected();
  await watch.check();
  off();
  up.clear();
  await watch.check();
  assert.deepEqual(seen, ["unreachable", "connecting", "reachable"]);
});

Deno.test("createKafkaReachability() probes the brokers the pipeline knows besides the bootstrap ones", async () => {
  const probed: string[] = [];
  const watch = createKafkaReachability({
    brokers: ["127.0.0.1:19090"],
    log: createLogger("chart", { write: () => {} }),
    latest: () =>
      snapshot([{ port: 19090, up: true }, { port: 19093, up: true }]),
    probe: (
      host,
      port,
    ) => (probed.push(`${host}:${port}`), Promise.resolve(false)),
  });
  await watch.check();
  assert.deepEqual(probed, ["127.0.0.1:19090", "127.0.0.1:19093"]);
});

Deno.test("kafkajsLog holds kafkajs warnings for the next probe: written when a broker answers, left out and counted when none does", async () => {
  const { watch, clock, lines, up } = fixture(new Set([19090]));
  watch.connected();
  watch.kafkajsLog.warn("kafkajs Connection: Connection error: ECONNREFUSED", {
    broker: "127.0.0.1:19091",
  });
  watch.kafkajsLog.info("kafkajs Consumer: Starting"); // passes at once
  await watch.check();
  assert.deepEqual(lines, [
    "chart: kafkajs Consumer: Starting",
    "chart: warn: kafkajs Connection: Connection error: ECONNREFUSED broker=127.0.0.1:19091",
  ]);
  lines.length = 0;
  up.clear();
  watch.kafkajsLog.warn("kafkajs Connection: Connection error: ECONNREFUSED");
  watch.kafkajsLog.error(
    "kafkajs Consumer: Crash: KafkaJSNumberOfRetriesExceeded",
  );
  await watch.check();
  for (let i = 0; i < 20; i++) {
    watch.kafkajsLog.warn("kafkajs Connection: Connection error: ECONNREFUSED");
  }
  clock.now += 30_000;
  up.add(19090);
  await watch.check();
  assert.deepEqual(lines, [
    "chart: warn: kafka unreachable: no broker accepts connections (127.0.0.1:19090, 127.0.0.1:19091, 127.0.0.1:19092); serving the page and retrying",
    "chart: kafka reachable again after 30 s (22 kafkajs warnings left out)",
  ]);
});

Deno.test("kafkaVerdict() says unreachable when the cluster did not answer and every known broker is down, reachable when one is up or the cluster answered", () => {
  const down = [19090, 19091, 19092].map((port) => ({ port, up: false }));
  assert.deepEqual(kafkaVerdict(snapshot(down, { brokers: NO_ANSWER })), {
    reachable: false,
    error:
      "every broker is down (127.0.0.1:19090, 127.0.0.1:19091, 127.0.0.1:19092): brokers: no answer within 1500 ms",
  });
  const oneUp = down.map((b, i) => ({ ...b, up: i === 1 }));
  assert.deepEqual(kafkaVerdict(snapshot(oneUp, { brokers: NO_ANSWER })), {
    reachable: true,
  });
  // The cluster answered describeCluster: Kafka is there, whatever TCP says
  // of the addresses it advertises.
  assert.deepEqual(kafkaVerdict(snapshot(down)), { reachable: true });
  assert.deepEqual(kafkaVerdict(snapshot([], { brokers: NO_ANSWER })), {
    reachable: false,
    error: "the cluster does not answer: brokers: no answer within 1500 ms",
  });
  assert.equal(kafkaVerdict(snapshot([])), undefined);
});

Deno.test("observe() turns pipeline snapshots into the state: all brokers down → unreachable, one up → reachable", () => {
  const { watch, lines } = fixture();
  watch.connected();
  const down = [19090, 19091, 19092].map((port) => ({ port, up: false }));
  watch.observe(snapshot(down, { brokers: NO_ANSWER }));
  assert.equal(watch.status().state, "unreachable");
  assert.match(watch.status().error ?? "", /^every broker is down/);
  watch.observe(snapshot([]));
  assert.equal(watch.status().state, "unreachable", "no verdict, no change");
  watch.observe(
    snapshot(down.map((b, i) => ({ ...b, up: i === 2 })), {
      brokers: NO_ANSWER,
    }),
  );
  assert.equal(watch.status().state, "reachable");
  assert.equal(lines.length, 2);
});

Deno.test("untilReachable() waits while unreachable, resolves once a broker answers, and rejects when aborted", async () => {
  const { watch, up } = fixture();
  await watch.untilReachable(); // connecting: at once
  await watch.check();
  let resolved = false;
  const waiting = watch.untilReachable().then(() => resolved = true);
  await watch.check();
  assert.equal(resolved, false);
  up.add(19090);
  await watch.check();
  await waiting;
  up.clear();
  await watch.check();
  const controller = new AbortController();
  const aborted = watch.untilReachable(controller.signal);
  controller.abort(new DOMException("stop", "AbortError"));
  await assert.rejects(aborted, { name: "AbortError" });
});

Deno.test("connectWhenReachable() does not connect while no broker answers, connects once one does, then the state is reachable", async () => {
  const { watch, up } = fixture();
  let calls = 0;
  const connecting = connectWhenReachable(
    () => {
      calls++;
      return Promise.resolve();
    },
    watch,
    { minTimeout: 1, maxTimeout: 5 },
  );
  await watch.check();
  await watch.check();
  assert.equal(calls, 0);
  assert.equal(watch.status().state, "unreachable");
  up.add(19090);
  await watch.check();
  await connecting;
  assert.equal(calls, 1);
  assert.equal(watch.status().state, "reachable");
});

Deno.test("connectWhenReachable() retries a failing connect to brokers that answer, saying each new reason once", async () => {
  const { watch, lines, log } = fixture(new Set([19090]));
  const errors = ["broker not ready", "broker not ready", "broker not ready"];
  let calls = 0;
  await connectWhenReachable(
    () => {
      calls++;
      const message = errors.shift();
      return message ? Promise.reject(new Error(message)) : Promise.resolve();
    },
    watch,
    { log, minTimeout: 1, maxTimeout: 2 },
  );
  assert.equal(calls, 4);
  assert.equal(watch.status().state, "reachable");
  assert.deepEqual(lines, [
    "chart: warn: cannot connect to kafka yet: broker not ready; retrying",
  ]);
});

Deno.test("connectWhenReachable() stops at once on refused credentials, naming the variables", async () => {
  const { watch } = fixture(new Set([19090]));
  let calls = 0;
  await assert.rejects(
    connectWhenReachable(
      () => {
        calls++;
        return Promise.reject(
          Object.assign(new Error("SASL SCRAM SHA512 authentication failed"), {
            name: "KafkaJSSASLAuthenticationError",
          }),
        );
      },
      watch,
      { minTimeout: 1 },
    ),
    /KAFKA_SASL_PASSWORD/,
  );
  assert.equal(calls, 1);
  assert.notEqual(watch.status().state, "reachable");
});

Deno.test("connectWhenReachable() rejects with the abort reason when stopped while Kafka is unreachable", async () => {
  const { watch } = fixture();
  const controller = new AbortController();
  const connecting = connectWhenReachable(
    () => Promise.resolve(),
    watch,
    { signal: controller.signal },
  );
  await watch.check();
  controller.abort(new DOMException("stop", "AbortError"));
  await assert.rejects(connecting, { name: "AbortError" });
});

/** Reads SSE events off a response body until `count` events came. */
async function readEvents(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  count: number,
): Promise<{ event: string; data: unknown }[]> {
  const decoder = new TextDecoder();
  let text = "";
  const events: { event: string; data: unknown }[] = [];
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null");
      events.push({ event, data });
    }
  }
  return events;
}

function server(
  watch: ReturnType<typeof fixture>["watch"],
  pipeline?: PipelineWatch,
) {
  const controller = new AbortController();
  const chart = createChartServer({
    store: createCandleStore(),
    state: { source: "unknown", last: {}, ticks: 0, coins: ["tBTCUSD"] },
    pageDir: new URL("../../scripts/chart_page/", import.meta.url),
    libraryFile: new URL("file:///nowhere.js"),
    signal: controller.signal,
    pipeline,
    kafka: watch,
  });
  return { chart, controller };
}

Deno.test("createChartServer() puts Kafka's status in /api/status, in the snapshot, and pushes each change to open pages", async () => {
  const { watch, up } = fixture();
  const { chart, controller } = server(watch);
  try {
    await watch.check();
    const status = await (await chart.handler(
      new Request("http://chart/api/status"),
    )).json();
    assert.deepEqual(status.kafka, watch.status());
    assert.equal(status.kafka.state, "unreachable");

    const response = await chart.handler(
      new Request("http://chart/events?coin=tBTCUSD&interval=1m"),
    );
    const reader = response.body!.getReader();
    const [first] = await readEvents(reader, 1);
    assert.equal(first.event, "snapshot");
    assert.deepEqual((first.data as { kafka: KafkaStatus }).kafka, {
      state: "unreachable",
      reachable: false,
      since: "2026-01-01T12:00:00.000Z",
      error:
        "no broker accepts connections (127.0.0.1:19090, 127.0.0.1:19091, 127.0.0.1:19092)",
    });
    up.add(19090);
    await watch.check();
    watch.connected();
    const pushed = await readEvents(reader, 2);
    assert.deepEqual(pushed.map((e) => e.event), ["kafka", "kafka"]);
    assert.deepEqual(
      pushed.map((e) => (e.data as KafkaStatus).state),
      ["connecting", "reachable"],
    );
    await reader.cancel();
  } finally {
    controller.abort();
  }
});

Deno.test("createChartServer() hands the pipeline snapshots it serves to the Kafka watch", async () => {
  const { watch } = fixture(new Set([19090]));
  watch.connected();
  const down = snapshot(
    [19090, 19091, 19092].map((port) => ({ port, up: false })),
    { brokers: NO_ANSWER },
  );
  const pipeline: PipelineWatch = {
    seen: () => {},
    snapshot: () => Promise.resolve(down),
    latest: () => down,
    intervalMs: 2000,
  };
  const { chart, controller } = server(watch, pipeline);
  try {
    const response = await chart.handler(
      new Request("http://chart/api/pipeline"),
    );
    await response.body?.cancel();
    assert.equal(watch.status().state, "unreachable");
  } finally {
    controller.abort();
  }
});

Deno.test("connectWhenReachable() has the brokers the cluster advertises probed too: with one bootstrap broker gone, the others keep Kafka reachable", async () => {
  const up = new Set([19090, 19091]);
  const probed = new Set<string>();
  const watch = createKafkaReachability({
    brokers: ["127.0.0.1:19090"],
    log: createLogger("chart", { write: () => {} }),
    probe: (
      host,
      port,
    ) => (probed.add(`${host}:${port}`), Promise.resolve(up.has(port))),
  });
  await connectWhenReachable(() => Promise.resolve(), watch, {
    cluster: () =>
      Promise.resolve({
        brokers: [19090, 19091, 19092].map((port) => ({
          host: "127.0.0.1",
          port,
        })),
      }),
  });
  up.delete(19090);
  assert.equal((await watch.check()).state, "reachable");
  assert.deepEqual([...probed].sort(), [
    "127.0.0.1:19090",
    "127.0.0.1:19091",
    "127.0.0.1:19092",
  ]);
  up.clear();
  assert.equal((await watch.check()).state, "unreachable");
});

Deno.test("connectWhenReachable() stops waiting for a connect kafkajs is still retrying when aborted", async () => {
  const { watch } = fixture(new Set([19090]));
  const controller = new AbortController();
  const connecting = connectWhenReachable(
    () => new Promise(() => {}), // kafkajs retrying for a long while
    watch,
    { signal: controller.signal },
  );
  await watch.check();
  controller.abort(new DOMException("stop", "AbortError"));
  await assert.rejects(connecting, { name: "AbortError" });
  assert.equal(watch.status().state, "connecting");
});
