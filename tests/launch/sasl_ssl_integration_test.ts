/**
 * Hosted Kafka, for real (issue 14, item 2): a private stack started with
 * `stack up --sasl-ssl` demands SCRAM-SHA-512 over TLS (a private CA) on
 * its client listeners, and setup-schema, producer, consumer (into the
 * InfluxDB 3 double) and chart run against it with KAFKA_SSL, KAFKA_SSL_CA
 * and KAFKA_SASL_*, each under its own permission set plus what
 * permissionsFor() adds for the configuration (the CA's path). A wrong
 * password ends a script with one line and exit 1. Counts are read back
 * by an independent kafkajs client over the same listener.
 */
import assert from "node:assert/strict";
import { loadConfig } from "@cryptocandles/config";
import {
  permissionsFor,
  saslSslSettings,
  type ScriptName,
} from "@cryptocandles/launch";
import { startInfluxDouble } from "../doubles/influx_double.ts";
import { spawnScript } from "../processes.ts";
import { freePort, testKafka, waitFor } from "../support.ts";
import { privateStack } from "./private_stack.ts";

const TOKEN = "apiv3_sasl-test-token";

Deno.test({
  name:
    "against brokers that demand SASL_SSL (SCRAM-SHA-512, a private CA): setup-schema, producer, consumer and chart work with KAFKA_SSL_CA and KAFKA_SASL_*, and a wrong password is one line and exit 1",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await privateStack("stack-sasl-");
    const up = await stack.stack("up", "--sasl-ssl");
    assert.equal(up.code, 0, up.text);
    assert.match(up.text, /SASL_SSL listeners/);
    assert.ok(!up.text.includes("password="), "no password on the log");
    const settings = saslSslSettings({
      dir: stack.stackDir,
      brokerPort: stack.brokerPort,
    });
    const password = (await Deno.readTextFile(settings.passwordFile)).trim();
    assert.ok(!up.text.includes(password), "the password is never printed");
    const mode = (await Deno.stat(settings.passwordFile)).mode! & 0o777;
    assert.equal(mode, 0o600);

    const topic = "t-sasl";
    const env: Record<string, string> = {
      ...stack.env,
      KAFKA_BROKERS: settings.brokers.join(","),
      KAFKA_SSL: "true",
      KAFKA_SSL_CA: settings.caFile,
      KAFKA_SASL_MECHANISM: "scram-sha-512",
      KAFKA_SASL_USERNAME: settings.username,
      KAFKA_SASL_PASSWORD: password,
      KAFKA_TOPIC: topic,
      LOG_FORMAT: "json",
    };
    const config = loadConfig(new Map(Object.entries(env)));

    await using influx = await startInfluxDouble({
      token: TOKEN,
      walFlushIntervalMs: 0,
    });
    const sink = {
      INFLUX_HOST: influx.url,
      INFLUX_TOKEN: TOKEN,
      CONSUMER_GROUP: "g-sasl",
    };

    /** The flags launch would give `name` under `env` plus `more`. */
    const flagsFor = (name: ScriptName, more: Record<string, string> = {}) =>
      permissionsFor(
        name,
        loadConfig(new Map(Object.entries({ ...env, ...more }))),
      );
    /** Runs `scripts/<name>.ts` to its end, as launch runs it. */
    const run = async (name: ScriptName, more: Record<string, string> = {}) => {
      const started = Date.now();
      const out = await new Deno.Command("deno", {
        args: ["run", ...flagsFor(name, more), `scripts/${name}.ts`],
        env: {
          PATH: Deno.env.get("PATH") ?? "",
          NO_COLOR: "1",
          ...env,
          ...more,
        },
        clearEnv: true,
        stdin: "null",
      }).output();
      return {
        code: out.code,
        ms: Date.now() - started,
        text: new TextDecoder().decode(out.stdout) +
          new TextDecoder().decode(out.stderr),
      };
    };
    assert.ok(
      permissionsFor("producer", config).includes(
        `--allow-read=schemas,recordings,${settings.caFile}`,
      ),
      permissionsFor("producer", config).join(" "),
    );

    const setup = await run("setup-schema");
    assert.equal(setup.code, 0, setup.text);

    // A wrong password: one line, exit 1, no retry loop.
    for (const name of ["setup-schema", "producer", "consumer"] as const) {
      const wrong = await run(name, {
        ...sink,
        KAFKA_SASL_PASSWORD: "not-the-password",
        SOURCE: "synthetic",
      });
      const lines = wrong.text.trim().split("\n").filter((l) =>
        /"level":"(error|warn)"/.test(l) || !l.startsWith("{")
      );
      console.log(
        `${name} with a wrong password: exit ${wrong.code} after ${wrong.ms} ms: ${
          lines.join(" | ")
        }`,
      );
      assert.equal(wrong.code, 1, wrong.text);
      assert.equal(lines.length, 1, `one line: ${lines.join("\n")}`);
      assert.ok(wrong.ms < 30_000, `${name} gave up at once (${wrong.ms} ms)`);
      assert.match(
        wrong.text,
        /refused the credentials .*check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/,
      );
      assert.ok(!/retrying/.test(wrong.text), `${name} did not retry`);
      assert.ok(!wrong.text.includes("not-the-password"));
    }

    const producing = { SOURCE: "synthetic", SYNTHETIC_RATE: "25" };
    const producer = spawnScript("scripts/producer.ts", {
      env: { ...env, ...producing },
      permissions: flagsFor("producer", producing),
    });
    await producer.waitForLog(
      "100 records acknowledged",
      (l) => Number(/^acknowledged (\d+) records$/.exec(l.msg)?.[1]) >= 100,
      { timeoutMs: 90_000 },
    );
    const exit = await producer.stop();
    assert.equal(exit.code, 0, exit.stderr.slice(-2_000));
    const stopped = exit.stderr.split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l)).find((l) => l.msg.startsWith("stopped;"));
    const acked = Number(
      /stopped; (\d+) records acknowledged/.exec(
        stopped?.msg ?? "",
      )?.[1],
    );
    assert.ok(acked >= 100, stopped?.msg);

    // Read back over SASL_SSL by an independent client.
    const admin = testKafka(config, "sasl-reader").admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const inKafka = ends.reduce((n, e) => n + Number(e.high), 0);
    assert.equal(inKafka, acked, "every acknowledged record is in Kafka");

    const consumer = spawnScript("scripts/consumer.ts", {
      env: { ...env, ...sink },
      permissions: flagsFor("consumer", sink),
    });
    // The ticks' table alone: the producer's history candles go to
    // criptomonedas_candles, and the table exists only after a first write.
    const ticksStored = () =>
      influx.query(`SELECT COUNT(*) AS n FROM "criptomonedas"`).then(
        ([row]) => Number(row.n),
        () => 0,
      );
    try {
      await waitFor(
        `${acked} points`,
        async () => (await ticksStored()) >= acked,
        { timeoutMs: 90_000, everyMs: 500 },
      );
    } finally {
      const done = await consumer.stop();
      assert.equal(done.code, 0, done.stderr.slice(-2_000));
    }
    assert.equal(
      await ticksStored(),
      acked,
      "one point per acknowledged record",
    );

    const page = { CHART_PORT: String(freePort()) };
    const chart = spawnScript("scripts/chart.ts", {
      env: { ...env, ...page },
      permissions: flagsFor("chart", page),
    });
    try {
      const base = `http://127.0.0.1:${page.CHART_PORT}`;
      const get = (path: string) =>
        fetch(`${base}${path}`).then(
          (r) => r.ok ? r.json() : r.body?.cancel(),
          () => undefined,
        );
      await waitFor(
        `the chart to read ${acked} ticks`,
        async () => ((await get("/api/status"))?.ticks ?? 0) >= acked,
        {
          timeoutMs: 60_000,
          everyMs: 500,
        },
      );
      const { candles } = await get("/api/candles?coin=tBTCUSD&interval=1m");
      assert.ok(candles.length > 0);
      console.log(
        `acked=${acked} kafka=${inKafka} points=${acked} chart: ${candles.length} tBTCUSD 1m candles`,
      );
    } finally {
      await chart.stop();
    }
  },
});
