/**
 * What the fault rows share: a private 3-broker stack with its registry (a
 * copy of the project on free ports: the user's own stack is never
 * touched), the InfluxDB double behind a TCP proxy that can refuse
 * connections, and one "run" per row (its topic, group and table, the
 * scripts it started, and its counts taken by independent means).
 *
 * @module
 */
import { createLogger, signalProcess } from "@cryptocandles/runtime";
import { type Admin, createKafka, type Kafka } from "@cryptocandles/kafka";
import {
  type PrivateStack,
  privateStack,
} from "../../tests/launch/private_stack.ts";
import { listening } from "../../tests/launch/private_stack.ts";
import {
  type InfluxDouble,
  startInfluxDouble,
} from "../../tests/doubles/influx_double.ts";
import {
  type ScriptExit,
  type ScriptProcess,
  spawnScript,
} from "../../tests/processes.ts";
import { testConfig, waitFor } from "../../tests/support.ts";
import { compareRecords, type FaultCounts } from "./counts.ts";

const TOKEN = "faults-token";
const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read"];

/** A TCP proxy on a port of its own that can refuse connections. */
export interface TcpProxy {
  readonly port: number;
  /** Closes the listener and every connection: clients get "connection refused". */
  refuse(): void;
  /** Listens again on the same port. */
  accept(): void;
  close(): void;
}

/**
 * Forwards 127.0.0.1:`port` (a free one) to 127.0.0.1:`target`.
 *
 * @param target The port to forward to.
 * @returns The proxy, accepting.
 */
export function tcpProxy(target: number): TcpProxy {
  let listener: Deno.Listener | undefined;
  const open = new Set<Deno.Conn>();
  const serve = async (l: Deno.Listener) => {
    for await (const conn of l) {
      open.add(conn);
      Deno.connect({ hostname: "127.0.0.1", port: target }).then(
        (up) => {
          open.add(up);
          const done = () => {
            for (const c of [conn, up]) {
              open.delete(c);
              try {
                c.close();
              } catch { /* closed */ }
            }
          };
          Promise.all([
            conn.readable.pipeTo(up.writable).catch(() => {}),
            up.readable.pipeTo(conn.writable).catch(() => {}),
          ]).finally(done);
        },
        () => {
          open.delete(conn);
          conn.close();
        },
      );
    }
  };
  const first = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = first.addr.port;
  listener = first;
  serve(first).catch(() => {});
  const refuse = () => {
    listener?.close();
    listener = undefined;
    for (const c of open) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    open.clear();
  };
  return {
    port,
    refuse,
    accept() {
      if (listener) return;
      listener = Deno.listen({ hostname: "127.0.0.1", port });
      serve(listener).catch(() => {});
    },
    close: refuse,
  };
}

/** The private stack, the InfluxDB double and its proxy. */
export interface Rig extends AsyncDisposable {
  stack: PrivateStack;
  influx: InfluxDouble;
  proxy: TcpProxy;
  /** A connected admin client of the private stack. */
  admin: Admin;
  /** A kafkajs client of the private stack, for the rows' own records. */
  kafka: Kafka;
  /** Every script's environment: the stack, InfluxDB through the proxy, JSON logs. */
  env: Record<string, string>;
  /** Prints a progress line. */
  say(message: string): void;
  /** SIGKILLs stack nodes (`kafka-1`…`kafka-3`, `registry`). */
  kill(...nodes: string[]): Promise<void>;
  /** `stack up` (restarts what is not running), then waits until every broker listens. */
  restart(): Promise<void>;
  /** Every script the runs started, by row id. */
  scripts: Map<string, ScriptProcess[]>;
  /** Writes the stderr of a row's scripts to `dir`; returns the files. */
  saveLogs(id: string, dir: string): Promise<string[]>;
}

/**
 * Starts the private stack and the double.
 *
 * @param walFlushIntervalMs The double's WAL flush interval.
 * @returns The rig; `await using` it.
 */
export async function openRig(walFlushIntervalMs: number): Promise<Rig> {
  const stack = await privateStack("faults-");
  const say = (m: string) =>
    console.log(`faults ${new Date().toISOString().slice(11, 19)} ${m}`);
  try {
    say(
      `private stack in ${stack.project}, brokers ${stack.env.KAFKA_BROKERS}`,
    );
    const up = await stack.stack("up");
    if (up.code !== 0) throw new Error(`stack up failed:\n${up.text}`);
    const influx = await startInfluxDouble({
      token: TOKEN,
      walFlushIntervalMs,
    });
    const proxy = tcpProxy(Number(new URL(influx.url).port));
    const kafka = createKafka(
      testConfig({ KAFKA_BROKERS: stack.env.KAFKA_BROKERS }).kafka,
      { clientId: "faults", log: createLogger("faults") },
    );
    const admin = kafka.admin();
    await admin.connect();
    const brokers = [0, 1, 2].map((i) => stack.brokerPort + i);
    const scripts = new Map<string, ScriptProcess[]>();
    return {
      scripts,
      async saveLogs(id, dir) {
        await Deno.mkdir(dir, { recursive: true });
        const files = [];
        for (const [i, p] of (scripts.get(id) ?? []).entries()) {
          const name = p.script.replace(/^.*\//, "").replace(/\.ts$/, "");
          const file = `${dir}/${id}-${i + 1}-${name}.log`;
          await Deno.writeTextFile(file, p.stderr);
          files.push(file);
        }
        return files;
      },
      stack,
      influx,
      proxy,
      admin,
      kafka,
      env: {
        ...stack.env,
        INFLUX_HOST: `http://127.0.0.1:${proxy.port}`,
        INFLUX_TOKEN: TOKEN,
        LOG_FORMAT: "json",
      },
      say,
      async kill(...nodes) {
        for (const node of nodes) {
          const pid = Number(
            await Deno.readTextFile(`${stack.stackDir}/run/${node}.pid`),
          );
          await signalProcess(pid, "KILL");
        }
      },
      async restart() {
        const again = await stack.stack("up");
        if (again.code !== 0) {
          throw new Error(`stack up failed:\n${again.text}`);
        }
        await waitFor("every broker to listen", async () => {
          for (const port of brokers) {
            if (!(await listening(port))) return false;
          }
          return true;
        }, { timeoutMs: 90_000 });
      },
      async [Symbol.asyncDispose]() {
        await admin.disconnect().catch(() => {});
        proxy.close();
        await influx.close();
        await stack[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await stack[Symbol.asyncDispose]();
    throw error;
  }
}

/** One row's topic, group and table, and the scripts it started. */
export interface Run {
  readonly topic: string;
  readonly group: string;
  readonly measurement: string;
  /** Environment of the row's scripts. */
  readonly env: Record<string, string>;
  /** Starts a synthetic producer (BACKFILL=0) with `more` variables. */
  startProducer(more?: Record<string, string>): ScriptProcess;
  /** Starts a consumer of the row's group. */
  startConsumer(id: string, more?: Record<string, string>): ScriptProcess;
  /** Starts the chart page on `port`. */
  startChart(port: number): ScriptProcess;
  /** Stops a producer and counts what it made and what was acknowledged. */
  stopProducer(producer: ScriptProcess): Promise<ScriptExit>;
  /** Records the row wrote itself: good ones (counted as produced and acked) and poison. */
  wrote(good: number, poison?: number): void;
  /** Waits until the group (the run's unless named) has committed every record of the topic. */
  caughtUp(timeoutMs?: number, group?: string): Promise<void>;
  /** Stops every script still running, then counts (`notInKafka`: acknowledged, yet not in Kafka; part of `missing`). */
  finish(): Promise<FaultCounts & { notInKafka: number }>;
}

/**
 * Sets up a row's topic (setup-schema with `schemaArgs`) and names its
 * group and table.
 *
 * @param rig The rig.
 * @param id The row id, such as `R1`.
 * @param schemaArgs setup-schema's arguments. @default {[]}
 * @returns The run.
 */
export async function openRun(
  rig: Rig,
  id: string,
  schemaArgs: string[] = [],
): Promise<Run> {
  const name = `${id.toLowerCase()}-${Date.now() % 1_000_000}`;
  const topic = `faults-${name}`;
  const env = {
    ...rig.env,
    KAFKA_TOPIC: topic,
    CONSUMER_GROUP: `g-${name}`,
    INFLUX_MEASUREMENT: `faults_${name.replace("-", "_")}`,
  };
  const setup = await rig.stack.run("setup-schema", schemaArgs, env);
  if (setup.code !== 0) throw new Error(`setup-schema: ${setup.text}`);
  const scripts: ScriptProcess[] = rig.scripts.get(id) ?? [];
  rig.scripts.set(id, scripts);
  const counts = { produced: 0, acked: 0, poison: 0 };
  const sum = (o: unknown) =>
    Object.values((o ?? {}) as Record<string, number>).reduce(
      (a, b) => a + b,
      0,
    );
  const committed = async (groupId: string) => {
    const [{ partitions }] = await rig.admin.fetchOffsets({
      groupId,
      topics: [topic],
    });
    return partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  };
  const ends = async () =>
    (await rig.admin.fetchTopicOffsets(topic)).reduce(
      (n, p) => n + Number(p.high),
      0,
    );
  const run: Run = {
    topic,
    group: env.CONSUMER_GROUP,
    measurement: env.INFLUX_MEASUREMENT,
    env,
    startProducer(more = {}) {
      const p = spawnScript("scripts/producer.ts", {
        env: { ...env, SOURCE: "synthetic", BACKFILL: "0", ...more },
        permissions: PERMISSIONS,
      });
      scripts.push(p);
      return p;
    },
    startConsumer(clientId, more = {}) {
      const c = spawnScript("scripts/consumer.ts", {
        args: ["--client-id", clientId],
        env: { ...env, ...more },
        permissions: PERMISSIONS,
      });
      scripts.push(c);
      return c;
    },
    startChart(port) {
      const c = spawnScript("scripts/chart.ts", {
        args: ["--hours", "1"],
        env: { ...env, CHART_PORT: String(port) },
        permissions: PERMISSIONS,
      });
      scripts.push(c);
      return c;
    },
    async stopProducer(producer) {
      const exit = await producer.stop();
      const stopped = producer.logs().find((l) => l.msg.startsWith("stopped;"));
      if (!stopped) {
        throw new Error(
          `the producer did not say "stopped;" (exit ${exit.code}): ${
            exit.stderr.slice(-1500)
          }`,
        );
      }
      const acked = sum(stopped.acked);
      counts.acked += acked;
      counts.produced += acked + sum(stopped.dropped) +
        Number(stopped.waiting ?? 0) + Number(stopped.inFlight ?? 0);
      return exit;
    },
    wrote(good, poison = 0) {
      counts.produced += good;
      counts.acked += good;
      counts.poison += poison;
    },
    async caughtUp(timeoutMs = 120_000, group = env.CONSUMER_GROUP) {
      await waitFor(
        "the group to commit every record",
        async () => (await committed(group)) >= (await ends()),
        { timeoutMs, everyMs: 500 },
      );
    },
    async finish() {
      for (const s of scripts) {
        if (s.exited) continue;
        if (s.script.endsWith("producer.ts")) await run.stopProducer(s);
        else await s.stop();
      }
      await rig.influx.control("flush");
      const records = await kcat(rig.env.KAFKA_BROKERS, topic, "%k %T");
      const dlq = await kcat(rig.env.KAFKA_BROKERS, `${topic}.dlq`, "%o");
      const points = await pointsOf(rig.influx, env.INFLUX_MEASUREMENT);
      const { notInKafka, ...compared } = compareRecords(
        records,
        points,
        (r) => !r.startsWith("poison"),
        counts.acked,
      );
      return {
        produced: counts.produced,
        acked: counts.acked,
        ...compared,
        dlq: dlq.length,
        notInKafka,
      };
    },
  };
  return run;
}

/**
 * Every record of `topic` from its start to its end, formatted by kcat
 * (an independent client: librdkafka).
 */
export async function kcat(
  brokers: string,
  topic: string,
  format: string,
): Promise<string[]> {
  const out = await new Deno.Command("kcat", {
    args: ["-b", brokers, "-C", "-t", topic, "-e", "-q", "-f", `${format}\\n`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    const err = new TextDecoder().decode(out.stderr).trim();
    if (/Unknown topic|UNKNOWN_TOPIC/i.test(err)) return [];
    throw new Error(`kcat ${topic}: exit ${out.code}: ${err}`);
  }
  return text.split("\n").filter((l) => l !== "");
}

/** `"<Coin> <time ms>"` of every point of `table`, queried back with SQL. */
export async function pointsOf(
  influx: InfluxDouble,
  table: string,
): Promise<string[]> {
  const rows = await influx.query(
    `SELECT "Coin" AS coin, CAST(time AS BIGINT) / 1000000 AS ms FROM "${table}"`,
  ).catch((e: Error) => {
    if (/not found/.test(e.message)) return [];
    throw e;
  });
  return rows.map((r) => `${r.coin} ${r.ms}`);
}

/** Resolves after `ms`: the length of a fault, never a wait for a result. */
export function hold(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
