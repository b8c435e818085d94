/**
 * The local stack stopped and started again, and started while a node
 * cannot start (issue 14, R6b and R6d), each on a private stack in a
 * temporary copy of the project on other ports: the shared stack is never
 * touched. Expected values come from the registry's own API and from
 * decoding the stored records with avsc, not from the stack's code.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import avro from "avsc";
import { describeProcess, signalProcess } from "@cryptocandles/runtime";
import { spawnScript } from "../processes.ts";
import { testConfig, testKafka, waitFor } from "../support.ts";
import { listening, privateStack } from "./private_stack.ts";

/** What the registry says about a subject: versions → ids, and each id's schema. */
async function registryView(port: number, subject: string) {
  const base = `http://127.0.0.1:${port}/apis/ccompat/v7`;
  const get = async (path: string) => {
    const response = await fetch(`${base}${path}`);
    assert.equal(response.status, 200, `${path}: ${response.status}`);
    return await response.json();
  };
  const versions: number[] = await get(`/subjects/${subject}/versions`);
  const ids: Record<number, number> = {};
  const schemas: Record<number, string> = {};
  for (const version of versions) {
    const { id } = await get(`/subjects/${subject}/versions/${version}`);
    ids[version] = id;
    schemas[id] = (await get(`/schemas/ids/${id}`)).schema;
  }
  return { versions, ids, schemas };
}

/** Every record of `topic` up to its end offsets, read by an independent kafkajs consumer. */
async function readAll(brokers: string, topic: string) {
  const kafka = testKafka(testConfig({ KAFKA_BROKERS: brokers }), "reader");
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = ends.reduce((n, e) => n + Number(e.high) - Number(e.low), 0);
  const consumer = kafka.consumer({ groupId: `reader-${Date.now()}` });
  const seen: { key: string; value: Buffer }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      seen.push({ key: String(message.key), value: message.value! });
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
    "after stack down and stack up the registry has the same subject versions under the same ids, and every stored record still decodes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await privateStack("stack-restart-");
    const topic = "t-restart";
    const subject = `${topic}-value`;
    const up = await stack.stack("up");
    assert.equal(up.code, 0, up.text);
    for (const args of [["--schema", "v1"], []]) {
      const r = await stack.run("setup-schema", args, { KAFKA_TOPIC: topic });
      assert.equal(r.code, 0, r.text);
    }
    const before = await registryView(stack.registryPort, subject);
    assert.deepEqual(before.versions, [1, 2]);

    const producer = spawnScript("scripts/producer.ts", {
      env: {
        ...stack.env,
        LOG_FORMAT: "json",
        KAFKA_TOPIC: topic,
        SOURCE: "synthetic",
        SYNTHETIC_RATE: "25",
      },
    });
    await producer.waitForLog(
      "200 records acknowledged",
      (l) => Number(/^acknowledged (\d+) records$/.exec(l.msg)?.[1]) >= 200,
      { timeoutMs: 90_000 },
    );
    const exit = await producer.stop();
    assert.equal(exit.code, 0, exit.stderr.slice(-2_000));

    const down = await stack.stack("down");
    assert.equal(down.code, 0, down.text);
    assert.match(down.text, /stopped registry, kafka-1, kafka-2, kafka-3/);
    const again = await stack.stack("up");
    assert.equal(again.code, 0, again.text);
    assert.match(again.text, /started kafka-1, kafka-2, kafka-3, registry/);

    const after = await registryView(stack.registryPort, subject);
    console.log(
      `before: ${JSON.stringify(before.ids)}; after: ${
        JSON.stringify(after.ids)
      }`,
    );
    assert.deepEqual(after, before, "same versions, ids and schemas");

    const records = await readAll(stack.env.KAFKA_BROKERS, topic);
    assert.ok(records.length >= 200, `${records.length} records`);
    const types = new Map<number, avro.Type>();
    for (const { key, value } of records) {
      assert.equal(value[0], 0, "magic byte");
      const id = value.readUInt32BE(1);
      assert.ok(
        after.schemas[id],
        `schema id ${id} is known after the restart`,
      );
      if (!types.has(id)) {
        types.set(id, avro.Type.forSchema(JSON.parse(after.schemas[id])));
      }
      const decoded = types.get(id)!.fromBuffer(value.subarray(5)) as {
        nombre: string;
      };
      assert.equal(decoded.nombre, key);
    }
    console.log(
      `${records.length} records decoded with schema ids ${[...types.keys()]}`,
    );

    // The journal: one partition, replication 3, min ISR 2, kept forever.
    const admin = testKafka(
      testConfig({ KAFKA_BROKERS: stack.env.KAFKA_BROKERS }),
      "journal",
    ).admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({
        topics: ["kafkasql-journal"],
      });
      assert.equal(topics[0].partitions.length, 1);
      assert.equal(topics[0].partitions[0].replicas.length, 3);
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: "kafkasql-journal" }],
      });
      const config = Object.fromEntries(
        resources[0].configEntries.map((e) => [e.configName, e.configValue]),
      );
      assert.equal(config["min.insync.replicas"], "2");
      assert.equal(config["retention.ms"], "-1");
      assert.equal(config["retention.bytes"], "-1");
    } finally {
      await admin.disconnect();
    }
  },
});

Deno.test({
  name:
    "a node that cannot start makes stack up stop what it started and name the node with its log; the next stack up works; after SIGKILLed brokers up returns only once each accepts connections",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await privateStack("stack-failed-");
    const pidOf = async (name: string) =>
      Number(
        await Deno.readTextFile(`${stack.stackDir}/run/${name}.pid`).catch(
          () => "",
        ),
      );
    const first = await stack.stack("up");
    assert.equal(first.code, 0, first.text);
    const down = await stack.stack("down");
    assert.equal(down.code, 0, down.text);

    // kafka-3's data directory locked by another process, as a previous
    // kafka-3 still shutting down holds it (Kafka's own FileChannel lock).
    const lockFile = `${stack.stackDir}/data/node-3/.lock`;
    const holderSource = await Deno.makeTempFile({ suffix: ".java" });
    await Deno.writeTextFile(
      holderSource,
      `import java.nio.channels.FileChannel; import java.nio.file.*;
public class Hold { public static void main(String[] a) throws Exception {
  var ch = FileChannel.open(Path.of(a[0]), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
  if (ch.tryLock() == null) throw new Exception("not locked");
  System.out.println("locked"); System.out.flush(); Thread.sleep(600_000); } }`,
    );
    const holder = new Deno.Command("java", {
      args: [holderSource, lockFile],
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    try {
      assert.equal((await reader.read()).value?.trim(), "locked");
      const started = Date.now();
      const failed = await stack.stack("up");
      console.log(
        `failed up after ${(Date.now() - started) / 1000} s:\n${
          failed.text.split("\n").filter((l) => /error|warn/i.test(l)).join(
            "\n",
          )
        }`,
      );
      assert.equal(failed.code, 1, failed.text);
      assert.match(failed.text, /kafka-3 exited during start-up/);
      assert.match(failed.text, /lock/i, "the log lines say why");
      assert.match(failed.text, /stopping what it started/);
      for (const name of ["kafka-1", "kafka-2", "kafka-3", "registry"]) {
        assert.equal(await pidOf(name), 0, `${name} has no pid file`);
      }
      const { stdout } = await new Deno.Command("ps", {
        args: ["-eo", "args="],
      }).output().then((o) => ({ stdout: new TextDecoder().decode(o.stdout) }));
      const ours = stdout.split("\n").filter((l) =>
        l.includes(`${stack.stackDir}/conf/`) ||
        l.includes(`${stack.stackDir}/apicurio/`)
      );
      assert.deepEqual(ours, [], "no process of this stack is left");
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
      await reader.cancel().catch(() => {});
      await Deno.remove(holderSource);
    }

    const next = await stack.stack("up");
    assert.equal(next.code, 0, next.text);
    assert.match(next.text, /started kafka-1, kafka-2, kafka-3, registry/);

    // Every broker SIGKILLed: `up` returns once each accepts connections.
    for (const n of [1, 2, 3]) {
      await signalProcess(await pidOf(`kafka-${n}`), "KILL");
    }
    await waitFor("the brokers to be gone", async () => {
      for (const n of [1, 2, 3]) {
        if (await describeProcess(await pidOf(`kafka-${n}`))) return false;
      }
      return true;
    });
    const restarted = Date.now();
    const back = await stack.stack("up");
    assert.equal(back.code, 0, back.text);
    assert.match(back.text, /started kafka-1, kafka-2, kafka-3\)/);
    const accepting = await Promise.all(
      [0, 1, 2].map((i) => listening(stack.brokerPort + i)),
    );
    console.log(
      `up after SIGKILL took ${
        (Date.now() - restarted) / 1000
      } s; brokers accepting at once: ${accepting}`,
    );
    assert.deepEqual(accepting, [true, true, true]);
    const admin = testKafka(
      testConfig({ KAFKA_BROKERS: stack.env.KAFKA_BROKERS }),
      "after-kill",
    ).admin();
    await admin.connect();
    try {
      assert.equal((await admin.describeCluster()).brokers.length, 3);
    } finally {
      await admin.disconnect();
    }
  },
});
