/**
 * R2: the producer script with two of three brokers SIGKILLed for 30 s
 * (acks=all with min ISR 2 cannot be met, and KRaft has no quorum), on a
 * private stack in a temporary copy of the project on other ports (the
 * shared stack's brokers are never touched). Counts are taken by
 * independent means: kcat reads the topic back.
 */
import assert from "node:assert/strict";
import { signalProcess } from "@cryptocandles/runtime";
import { spawnScript } from "../processes.ts";
import { testConfig, testKafka, waitFor } from "../support.ts";
import { copyProject, freePortRange } from "../launch/private_stack.ts";

const project = await copyProject("faults-copy-");
// Brokers, controllers (+3) and the registry (+10, +11): all free now.
const base = await freePortRange(12);
const ENV = {
  KAFKA_BROKERS: [0, 1, 2].map((i) => `127.0.0.1:${base + i}`).join(","),
  SCHEMA_REGISTRY_URL: `http://127.0.0.1:${base + 10}/apis/ccompat/v7`,
  LOG_FORMAT: "json",
  NO_COLOR: "1",
};

async function inProject(task: string, args: string[], env = {}) {
  const out = await new Deno.Command("deno", {
    args: ["run", "-q", `-P=${task}`, `scripts/${task}.ts`, ...args],
    cwd: project,
    env: { ...ENV, ...env },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  return text;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
async function listening(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** Every record of `topic` as "key timestamp", read back by an independent kafkajs consumer up to the end offsets. */
/** Each partition's low and high offsets (kafkajs admin). */
async function topicEnds(topic: string) {
  const kafka = testKafka(
    testConfig({ KAFKA_BROKERS: ENV.KAFKA_BROKERS }),
    "ends",
  );
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return ends;
}

/** Each partition's low and high offsets, as one line. */
async function partitionEnds(topic: string): Promise<string> {
  const ends = await topicEnds(topic);
  return ends.map((e) => `p${e.partition} ${e.low}-${e.high}`).join(", ");
}

async function kafkaRecords(topic: string): Promise<string[]> {
  const kafka = testKafka(
    testConfig({ KAFKA_BROKERS: ENV.KAFKA_BROKERS }),
    "reader",
  );
  const ends = await topicEnds(topic);
  const total = ends.reduce((n, e) => n + Number(e.high) - Number(e.low), 0);
  const consumer = kafka.consumer({ groupId: `reader-${Date.now()}` });
  const seen: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      seen.push(`${message.key} ${message.timestamp}`);
      return Promise.resolve();
    },
  });
  await waitFor(`${total} records read back`, () => seen.length >= total, {
    timeoutMs: 60_000,
  });
  await consumer.disconnect();
  return seen;
}

Deno.test({
  name:
    "producer with 2 of 3 brokers down for 30 s keeps the newest ticks in a bounded buffer, counts the drops, resumes once the brokers are back, and every acknowledged tick is in Kafka once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = "t-outage";
    try {
      await inProject("stack", ["up"]); // its ports from ENV
      await inProject("setup-schema", [], { KAFKA_TOPIC: topic });
      const producer = spawnScript("scripts/producer.ts", {
        env: {
          ...ENV,
          KAFKA_TOPIC: topic,
          SOURCE: "synthetic",
          SYNTHETIC_RATE: "25", // 100 ticks/s over 4 coins
          PRODUCER_BUFFER: "1000", // 10 s of ticks: a 30 s outage overflows it
        },
        permissions: ["--allow-net", "--allow-env", "--allow-read"],
      });
      await producer.waitForLog(
        "acks before the outage",
        (l) => /^acknowledged [1-9]\d* records$/.test(l.msg),
      );
      const pids = await Promise.all(
        ["kafka-2", "kafka-3"].map(async (n) =>
          Number(await Deno.readTextFile(`${project}/.stack/run/${n}.pid`))
        ),
      );
      for (const pid of pids) await signalProcess(pid, "KILL");
      await producer.waitForLog(
        "the buffer to overflow",
        (l) => l.msg.startsWith("buffer full (PRODUCER_BUFFER=1000)"),
        { timeoutMs: 45_000 },
      );
      // Down for 30 s in all (the overflow came after ~10 s).
      await new Promise((r) => setTimeout(r, 20_000)); // the outage itself, not a wait for a result
      await inProject("stack", ["up"]);
      // Back = both brokers accept connections (stack up returns earlier:
      // the registry of a dead broker lingers without a KRaft quorum).
      await waitFor(
        "kafka-2 and kafka-3 to listen",
        async () => await listening(base + 1) && await listening(base + 2),
        { timeoutMs: 60_000 },
      );
      const back = Date.now();
      const resumed = await producer.waitForLog(
        "nothing pending",
        (l) => Date.parse(l.time as string) > back && l.pending === 0,
        { timeoutMs: 30_000 },
      );
      console.log(
        `resumed ${
          (Date.parse(resumed.time as string) - back) / 1000
        } s after both brokers listened`,
      );
      const exit = await producer.stop();
      assert.equal(exit.code, 0, exit.stderr.slice(-2_000));
      const stopped = await producer.waitForLog(
        "the stop line",
        (l) => l.msg.startsWith("stopped;"),
      );
      const sum = (o: unknown) =>
        Object.values(o as Record<string, number>).reduce((a, b) => a + b, 0);
      const acked = sum(stopped.acked);
      const dropped = sum(stopped.dropped);
      const records = await kafkaRecords(topic);
      console.log(
        `acked=${acked} dropped=${dropped} kafka=${records.length} unsent=${stopped.waiting}+${stopped.inFlight}`,
      );
      if (records.length !== acked) {
        // What the producer said, for the next look at a loss (CI once saw
        // 249 of 1,916 acknowledged ticks missing, not reproduced).
        const said = producer.logs().filter((l) => l.level !== "debug");
        console.log(said.map((l) => JSON.stringify(l)).join("\n"));
        console.log(await partitionEnds(topic));
      }
      assert.equal(stopped.waiting, 0);
      assert.equal(stopped.inFlight, 0);
      assert.ok(dropped > 0, "the 1,000-tick buffer overflowed");
      assert.equal(
        records.length,
        acked,
        "every acknowledged tick is in Kafka",
      );
      assert.equal(new Set(records).size, records.length, "no duplicate");
    } finally {
      await inProject("stack", ["down", "--clean"]).catch(() => {});
      for (
        const link of [
          "node_modules",
          ".stack/libs",
          ".stack/apicurio",
          ".stack/jdk",
        ]
      ) {
        await Deno.remove(`${project}/${link}`).catch(() => {});
      }
      await Deno.remove(project, { recursive: true });
    }
  },
});
