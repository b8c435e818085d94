/**
 * The fault rows of `deno task faults` (issue 14): each one runs the real
 * scripts (synthetic producer at 100 ticks/s, two consumers unless it says
 * otherwise) against the private stack, breaks something, repairs it, and
 * returns its counts and a note of what it saw. A row's own claims (a
 * pause line, an overflow, registry ids unchanged, the DLQ holding exactly
 * the poison) are checked too; one that does not hold makes the row not ok.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { encodeWire, parseSchema, readSchema } from "@cryptocandles/avro";
import type { Ticker } from "@cryptocandles/ticker";
import { defaultPartitioner } from "@cryptocandles/kafka";
import { startBitfinexDouble } from "../../tests/doubles/bitfinex_double.ts";
import type { ScriptProcess } from "../../tests/processes.ts";
import { freePort, waitFor } from "../../tests/support.ts";
import { sampleTicker } from "../../tests/fixtures/ticker.ts";
import { type FaultCounts, NO_COUNTS } from "./counts.ts";
import { hold, openRun, type Rig, type Run } from "./rig.ts";

/** What a row returns. */
export interface RowResult {
  counts: FaultCounts;
  note: string;
  /** Claims that did not hold (empty when all did). */
  failed: string[];
}

/** One row. */
export interface FaultRowSpec {
  id: string;
  title: string;
  run(rig: Rig): Promise<RowResult>;
}

/** What a fault reports to {@linkcode live}. */
interface FaultOutcome {
  note: string;
  failed?: string[];
  /** Checks on the counts once taken. */
  verify?: (counts: FaultCounts) => string[];
}

const RATE = "25"; // per coin: 100 ticks/s over the 4 default coins
const isAck = (l: { msg: string }) =>
  /^acknowledged [1-9]\d* records$/.test(l.msg);
const sum = (o: unknown) =>
  Object.values((o ?? {}) as Record<string, number>).reduce((a, b) => a + b, 0);

/** Waits for the producer's next "acknowledged" line. */
async function acksAgain(producer: ScriptProcess, timeoutMs = 90_000) {
  await producer.waitForLog("acknowledgements", isAck, {
    since: producer.mark(),
    timeoutMs,
  });
}

/**
 * The common shape: consumers and a producer, `fault` once the first
 * acknowledgements are in, then acknowledgements again, every record
 * committed, every script stopped, counts.
 */
async function live(
  rig: Rig,
  id: string,
  fault: (
    run: Run,
    producer: ScriptProcess,
    consumers: ScriptProcess[],
  ) => Promise<FaultOutcome>,
  { consumers = 2, producerEnv = {} as Record<string, string> } = {},
): Promise<RowResult> {
  const run = await openRun(rig, id);
  const members = Array.from(
    { length: consumers },
    (_, i) => run.startConsumer(`c${i + 1}`),
  );
  const producer = run.startProducer({ SYNTHETIC_RATE: RATE, ...producerEnv });
  await producer.waitForLog("first acknowledgements", isAck, {
    timeoutMs: 90_000,
  });
  const outcome = await fault(run, producer, members);
  await acksAgain(producer);
  await run.stopProducer(producer);
  await run.caughtUp();
  const counts = await run.finish();
  return {
    counts,
    note: outcome.note,
    failed: [...outcome.failed ?? [], ...outcome.verify?.(counts) ?? []],
  };
}

/** A v2 ticker for the rows' own records. */
function ticker(coin: string, time: number, price: number): Ticker {
  return sampleTicker(coin, time, price);
}

/** The subject's versions and their ids, as the registry answers now. */
async function registryIds(rig: Rig, subject: string): Promise<string> {
  const base = `${rig.env.SCHEMA_REGISTRY_URL}/subjects/${subject}/versions`;
  const versions: number[] = await (await fetch(base)).json();
  const ids = [];
  for (const v of versions) {
    ids.push(`v${v}=${(await (await fetch(`${base}/${v}`)).json()).id}`);
  }
  return ids.join(",");
}

/** Writes `messages` to the run's topic with a plain kafkajs producer. */
async function send(
  rig: Rig,
  run: Run,
  messages: { key: string; value: Buffer; timestamp?: string }[],
) {
  const producer = rig.kafka.producer({
    createPartitioner: defaultPartitioner,
  });
  await producer.connect();
  try {
    await producer.send({ topic: run.topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

const dlqIs = (n: number) => (c: FaultCounts) =>
  c.dlq === n ? [] : [`the DLQ holds ${c.dlq} records, not the ${n} written`];

export const ROWS: FaultRowSpec[] = [
  {
    id: "R1",
    title: "the leader of partition 0 SIGKILLed mid-stream, back 20 s later",
    run: (rig) =>
      live(rig, "R1", async (run) => {
        const meta = await rig.admin.fetchTopicMetadata({
          topics: [run.topic],
        });
        const leader = meta.topics[0].partitions
          .find((p) => p.partitionId === 0)!.leader;
        await rig.kill(`kafka-${leader}`);
        await hold(20_000);
        await rig.restart();
        return {
          note:
            `kafka-${leader} (leader of partition 0) SIGKILLed, restarted 20 s later`,
        };
      }),
  },
  {
    id: "R2",
    title: "two of three brokers down for 30 s (acks=all with min ISR 2 unmet)",
    run: (rig) =>
      live(rig, "R2", async (_run, producer) => {
        await rig.kill("kafka-2", "kafka-3");
        await hold(30_000);
        await rig.restart();
        const full = producer.logs().some((l) =>
          l.msg.startsWith("buffer full")
        );
        return {
          note:
            "kafka-2 and kafka-3 SIGKILLed for 30 s; PRODUCER_BUFFER=1000 (10 s of ticks) overflowed, the oldest dropped and counted (produced − acked)",
          failed: full ? [] : ["the 1,000-tick buffer did not overflow"],
        };
      }, { producerEnv: { PRODUCER_BUFFER: "1000" } }),
  },
  {
    id: "R2b",
    title:
      "every broker down for 30 s at start and again mid-stream; the chart page says so",
    async run(rig) {
      const run = await openRun(rig, "R2b");
      const failed: string[] = [];
      const port = freePort();
      const status = () =>
        fetch(`http://127.0.0.1:${port}/api/status`).then(
          (r) => r.json(),
          () => undefined,
        );
      const saysDown = async () => (await status())?.kafka?.reachable === false;
      const pageSays = async (when: string) => {
        const said = await waitFor(`the chart to say Kafka is down`, saysDown, {
          timeoutMs: 25_000,
        }).catch(() => false);
        if (!said) failed.push(`${when} the chart did not say Kafka is down`);
        return said;
      };
      await rig.kill("kafka-1", "kafka-2", "kafka-3");
      const chart = run.startChart(port);
      const members = [run.startConsumer("c1"), run.startConsumer("c2")];
      const producer = run.startProducer({ SYNTHETIC_RATE: RATE });
      const atStart = await pageSays("at start");
      await hold(30_000);
      for (const p of [producer, ...members, chart]) {
        if (p.exited) failed.push(`${p.script} exited while Kafka was down`);
      }
      await rig.restart();
      await producer.waitForLog("acknowledgements", isAck, {
        timeoutMs: 90_000,
      });
      await rig.kill("kafka-1", "kafka-2", "kafka-3");
      const midStream = await pageSays("mid-stream");
      await hold(30_000);
      await rig.restart();
      await acksAgain(producer);
      const back = await waitFor(
        "the chart to say Kafka is back",
        async () => (await status())?.kafka?.reachable === true,
        { timeoutMs: 60_000 },
      ).catch(() => false);
      if (!back) failed.push("the chart did not say Kafka is back");
      await run.stopProducer(producer);
      const stopped = producer.logs().find((l) => l.msg.startsWith("stopped;"));
      await run.caughtUp();
      const counts = await run.finish();
      return {
        counts,
        note:
          `all brokers SIGKILLed before the scripts started (30 s), and again mid-stream (30 s); ${
            sum(stopped?.dropped)
          } ticks dropped from the full buffer (the newest kept); chart page: Kafka unreachable ${
            [atStart && "at start", midStream && "mid-stream"].filter(Boolean)
              .join(" and ") || "never shown"
          }${back ? ", then live again" : ""}`,
        failed,
      };
    },
  },
  {
    id: "R3",
    title: "one of two consumers SIGKILLed mid-batch",
    run: (rig) =>
      live(rig, "R3", async (run, _producer, [c1]) => {
        await hold(3_000); // ticks flowing through c1's batches
        c1.kill("SIGKILL");
        await hold(10_000);
        run.startConsumer("c1-again");
        return {
          note:
            "c1 SIGKILLed while writing; c2 took its partition; c1 started again 10 s later (redelivered records overwrite their points: no extra)",
        };
      }),
  },
  {
    id: "R3b",
    title: "the only consumer stopped, and started again 15 s later",
    run: (rig) =>
      live(rig, "R3b", async (run, _producer, [c1]) => {
        const exit = await c1.stop();
        await hold(15_000);
        run.startConsumer("c1-again");
        return {
          note:
            `the only consumer stopped with SIGTERM (exit ${exit.code}) for 15 s while the producer went on, then resumed from its commits`,
          failed: exit.code === 0 ? [] : [`exit ${exit.code} on SIGTERM`],
        };
      }, { consumers: 1 }),
  },
  {
    id: "R4",
    title:
      "InfluxDB gone 60 s (connection refused), then 500s for 20 s, then answers slower than the 10 s request timeout",
    run: (rig) =>
      live(rig, "R4", async (_run, _producer, consumers) => {
        rig.proxy.refuse();
        await hold(60_000);
        rig.proxy.accept();
        await rig.influx.control({ mode: "error500", only: "writes" });
        await hold(20_000);
        await rig.influx.control({
          mode: "slow",
          delayMs: 12_000,
          times: 4,
          only: "writes",
        });
        await hold(30_000);
        await rig.influx.control({ mode: "ok" });
        const lines = consumers.flatMap((c) => c.logs());
        const paused = lines.filter((l) => /^paused/.test(l.msg)).length;
        const resumed = lines.filter((l) => /^resumed/.test(l.msg)).length;
        const exited = consumers.filter((c) => c.exited).length;
        return {
          note:
            `refused 60 s, 500 for 20 s, 4 writes answered after 12 s; ${paused} "paused" and ${resumed} "resumed" lines; ${exited} consumer exits`,
          failed: [
            ...exited > 0 ? [`${exited} consumers exited`] : [],
            ...paused > 0 ? [] : ["no consumer said it paused"],
          ],
        };
      }),
  },
  {
    id: "R5",
    title:
      "poison in the live stream: bad magic, unknown schema id, truncated Avro; 150 in one burst",
    run: (rig) =>
      live(rig, "R5", async (run) => {
        const r = await fetch(
          `${rig.env.SCHEMA_REGISTRY_URL}/subjects/${run.topic}-value/versions/latest`,
        );
        const { id } = await r.json();
        const v2 = parseSchema(await readSchema("v2"));
        const good = encodeWire(id, v2, ticker("tBTCUSD", Date.now(), 50_000));
        const kinds: [string, number, () => Buffer][] = [
          ["bad-magic", 150, () => Buffer.from([1, 0, 0, 0, 1, 2, 3])],
          ["unknown-id", 20, () =>
            encodeWire(999_999, v2, ticker("tBTCUSD", Date.now(), 1))],
          ["truncated", 20, () =>
            good.subarray(0, 9)],
        ];
        let poison = 0;
        for (const [kind, n, make] of kinds) {
          await send(
            rig,
            run,
            Array.from({ length: n }, (_, i) => ({
              key: `poison-${kind}-${i}`,
              value: make(),
            })),
          );
          poison += n;
        }
        run.wrote(0, poison);
        return {
          note:
            `${poison} poison records: 150 bad magic in one send, 20 with an unknown schema id, 20 truncated (a field-type conflict and a 422 are dead-lettered in tests/sink/sink_integration_test.ts: live, they would refuse every tick)`,
          verify: dlqIs(poison),
        };
      }),
  },
  {
    id: "R6",
    title: "schema v1 → v2 with v1 records still in the topic",
    async run(rig) {
      const run = await openRun(rig, "R6", ["--schema", "v1"]);
      const c1 = run.startConsumer("c1");
      const c2 = run.startConsumer("c2");
      const r = await fetch(
        `${rig.env.SCHEMA_REGISTRY_URL}/subjects/${run.topic}-value/versions/latest`,
      );
      const { id: v1Id } = await r.json();
      const v1 = parseSchema(await readSchema("v1"));
      const start = Date.now() - 60_000;
      const coins = ["tBTCUSD", "tETHUSD", "tSOLUSD", "tXRPUSD"];
      const v1Records = Array.from({ length: 400 }, (_, i) => {
        const coin = coins[i % 4];
        const { event_time: _time, ...old } = ticker(coin, 0, 100 + i);
        return {
          key: coin,
          value: encodeWire(v1Id, v1, old),
          timestamp: String(start + i * 10),
        };
      });
      await send(rig, run, v1Records);
      run.wrote(v1Records.length);
      const up = await rig.stack.run("setup-schema", [], run.env);
      const failed = up.code === 0 ? [] : [`setup-schema v2: ${up.text}`];
      const producer = run.startProducer({ SYNTHETIC_RATE: RATE });
      await producer.waitForLog("first acknowledgements", isAck, {
        timeoutMs: 90_000,
      });
      await acksAgain(producer);
      await run.stopProducer(producer);
      await run.caughtUp();
      const counts = await run.finish();
      for (const c of [c1, c2]) await c.stop();
      return {
        counts,
        note:
          `400 v1 records (no event_time: their time is the record's) written under v1 id ${v1Id}, then v2 registered (BACKWARD) and the producer went on in v2`,
        failed: [...failed, ...dlqIs(0)(counts)],
      };
    },
  },
  {
    id: "R6b",
    title:
      "the whole stack stopped and started again with its data: registry ids unchanged, every stored record still decodes",
    async run(rig) {
      const run = await openRun(rig, "R6b", ["--schema", "v1"]);
      const again = await rig.stack.run("setup-schema", [], run.env);
      if (again.code !== 0) throw new Error(again.text);
      const producer = run.startProducer({ SYNTHETIC_RATE: RATE });
      await producer.waitForLog("acknowledgements", isAck, {
        timeoutMs: 90_000,
      });
      await acksAgain(producer);
      await run.stopProducer(producer);
      const subject = `${run.topic}-value`;
      const before = await registryIds(rig, subject);
      const down = await rig.stack.stack("down");
      if (down.code !== 0) throw new Error(down.text);
      await rig.restart();
      await waitFor(
        "the registry",
        () =>
          fetch(`${rig.env.SCHEMA_REGISTRY_URL}/subjects`).then(
            (r) => (r.body?.cancel(), r.ok),
            () => false,
          ),
        { timeoutMs: 90_000 },
      );
      const after = await registryIds(rig, subject);
      // Read everything back after the restart: a group of its own.
      const c1 = run.startConsumer("c1");
      await run.caughtUp(180_000);
      await c1.stop();
      const counts = await run.finish();
      return {
        counts,
        note:
          `stack down, stack up; registry ${before} before and ${after} after; a consumer started after the restart wrote every record`,
        failed: [
          ...before === after
            ? []
            : [`registry ids changed: ${before} → ${after}`],
          ...dlqIs(0)(counts),
        ],
      };
    },
  },
  {
    id: "R6c",
    title:
      "the registry answering 404 for every id (emptied) under a backlog: the consumer pauses, nothing dead-lettered",
    async run(rig) {
      const run = await openRun(rig, "R6c");
      const producer = run.startProducer({ SYNTHETIC_RATE: RATE });
      await producer.waitForLog("acknowledgements", isAck, {
        timeoutMs: 90_000,
      });
      await acksAgain(producer);
      await run.stopProducer(producer);
      // Apicurio behind a switch that forgets every schema, as an emptied
      // (in-memory, restarted) registry answers.
      let emptied = true;
      const upstream = rig.env.SCHEMA_REGISTRY_URL;
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        async (req) => {
          const url = new URL(req.url);
          if (
            emptied &&
            /\/(schemas\/ids\/\d+|subjects\/[^/]+)$/.test(url.pathname)
          ) {
            return Response.json(
              { error_code: 40403, message: "Schema not found" },
              { status: 404 },
            );
          }
          const target = `${
            upstream.replace(/\/apis\/ccompat\/v7$/, "")
          }${url.pathname}${url.search}`;
          return await fetch(target, {
            method: req.method,
            headers: req.headers,
            body: req.body,
          });
        },
      );
      try {
        const registryUrl =
          `http://127.0.0.1:${server.addr.port}/apis/ccompat/v7`;
        const c1 = run.startConsumer("c1", {
          SCHEMA_REGISTRY_URL: registryUrl,
        });
        const paused = await c1.waitForLog(
          "the pause line",
          (l) => /^paused: the schema registry/.test(l.msg),
          { timeoutMs: 60_000 },
        ).catch(() => undefined);
        await hold(10_000); // paused for a while: nothing may reach the DLQ
        const dlqWhilePaused = (await rig.admin.fetchTopicOffsets(
          `${run.topic}.dlq`,
        )).reduce((n, p) => n + Number(p.high), 0);
        emptied = false;
        await run.caughtUp();
        await c1.stop();
        const counts = await run.finish();
        return {
          counts,
          note: `consumer said "${
            paused?.msg.slice(0, 90) ?? "nothing"
          }…"; ${dlqWhilePaused} records dead-lettered while paused; resumed when the registry answered again`,
          failed: [
            ...paused ? [] : ["no pause line"],
            ...dlqWhilePaused === 0
              ? []
              : ["records dead-lettered while paused"],
            ...dlqIs(0)(counts),
          ],
        };
      } finally {
        await server.shutdown();
      }
    },
  },
  {
    id: "R6d",
    title:
      "a node that cannot start during stack up (its port held): everything started is stopped, the next up works",
    async run(rig) {
      const down = await rig.stack.stack("down");
      if (down.code !== 0) throw new Error(down.text);
      const port = rig.stack.brokerPort + 2; // kafka-3's broker port
      const held = Deno.listen({ hostname: "127.0.0.1", port });
      let failedUp;
      try {
        failedUp = await rig.stack.stack("up");
      } finally {
        held.close();
      }
      const status = await rig.stack.stack("status");
      const running = status.text.split("\n").filter((l) =>
        /running|pid=\d+/.test(l) && !/not running/.test(l)
      );
      await rig.restart();
      const line = failedUp.text.trim().split("\n").filter((l) =>
        /error/i.test(l)
      ).join(" | ");
      return {
        counts: { ...NO_COUNTS },
        note: `stack up with ${port} held: exit ${failedUp.code}, "${
          line.slice(0, 120)
        }…"; ${running.length} nodes left running; the next up started all (a node failing after others started, on a locked data dir: tests/launch/stack_restart_integration_test.ts)`,
        failed: [
          ...failedUp.code !== 0 ? [] : ["stack up succeeded with a port held"],
          ...new RegExp(String(port)).test(failedUp.text)
            ? []
            : ["the message does not name the port"],
          ...running.length === 0
            ? []
            : [`left running: ${running.join("; ")}`],
        ],
      };
    },
  },
  {
    id: "R7",
    title:
      "Bitfinex maintenance for 35 s (20060/20061, heartbeats only), a conf event",
    async run(rig) {
      await using bitfinex = await startBitfinexDouble({ tickMs: 200 });
      const run = await openRun(rig, "R7");
      const c1 = run.startConsumer("c1");
      const producer = run.startProducer({
        SOURCE: "bitfinex-ws",
        BITFINEX_WS_URL: bitfinex.wsUrl,
        BITFINEX_REST_URL: bitfinex.restUrl,
      });
      await producer.waitForLog("first acknowledgements", isAck, {
        timeoutMs: 90_000,
      });
      bitfinex.sendEvent({ event: "conf", status: "OK", flags: 32768 });
      const connections = bitfinex.connections;
      const heartbeats = bitfinex.heartbeats;
      bitfinex.sendInfo(20060); // maintenance: no updates, heartbeats go on
      await hold(35_000);
      bitfinex.sendInfo(20061);
      const reconnected = bitfinex.connections - connections;
      const beats = bitfinex.heartbeats - heartbeats;
      await acksAgain(producer);
      await run.stopProducer(producer);
      await run.caughtUp();
      await c1.stop();
      const counts = await run.finish();
      const sent = bitfinex.sent.filter((t) => t.via === "ws").length;
      return {
        counts,
        note:
          `${sent} tickers sent by the Bitfinex double; a conf event; maintenance for 35 s (20060, ${beats} heartbeats and no update, then 20061): ${reconnected} reconnects, ticks again after 20061 (the 30 s watchdog with heartbeats alone: tests/bitfinex, injected clock)`,
        failed: reconnected === 0
          ? []
          : [`${reconnected} reconnects during maintenance`],
      };
    },
  },
];
