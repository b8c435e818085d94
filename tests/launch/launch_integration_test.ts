import assert from "node:assert/strict";
import { startInfluxDouble } from "../doubles/influx_double.ts";
import { stackStatus, stackUp } from "@cryptocandles/launch";
import { freePort, runScript, uniqueName, waitFor } from "../support.ts";

/** launch's own permissions, as the `launch` task gives them. */
const LAUNCH_PERMISSIONS = [
  "--allow-run=deno,java,mvn,ps,kill,ln,docker,./.stack/jdk/bin/java",
  "--allow-net=127.0.0.1,localhost,api-pub.bitfinex.com",
  "--allow-read",
  "--allow-write=.stack",
  "--allow-env",
];

interface Launched {
  child: Deno.ChildProcess;
  lines: string[];
  /** Resolves with the exit code once the output is read to its end. */
  exited: Promise<number>;
}

function launch(args: string[], env: Record<string, string>): Launched {
  const child = new Deno.Command("deno", {
    args: ["run", ...LAUNCH_PERMISSIONS, "launch.ts", ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const read = async (stream: ReadableStream<Uint8Array>) => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      lines.push(...parts);
    }
  };
  const exited = Promise.all([read(child.stdout), read(child.stderr)]).then(
    async () => (await child.status).code,
  );
  return { child, lines, exited };
}

/** Per-coin figures of launch's latest plain status line. */
function latestStatus(
  lines: string[],
): Record<string, { produced: number; written: number }> | undefined {
  const line = lines.findLast((l) => l.startsWith("status: "));
  if (!line) return undefined;
  const figures: Record<string, { produced: number; written: number }> = {};
  for (
    const m of line.matchAll(/(t[A-Z]+)=\S+ produced=(\d+) written=(\d+)/g)
  ) {
    figures[m[1]] = { produced: Number(m[2]), written: Number(m[3]) };
  }
  return figures;
}

async function childPids(parent: number): Promise<number[]> {
  const output = await new Deno.Command("ps", {
    args: ["-o", "pid=", "--ppid", String(parent)],
  }).output();
  return new TextDecoder().decode(output.stdout).split("\n").map(Number).filter(
    (n) => n > 0,
  );
}

async function alive(pid: number): Promise<boolean> {
  const output = await new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
  }).output();
  const stat = new TextDecoder().decode(output.stdout).trim();
  return output.success && stat !== "" && !stat.startsWith("Z");
}

const COINS = ["tBTCUSD", "tETHUSD", "tSOLUSD", "tXRPUSD"];

Deno.test("launch --source synthetic: every coin produced and written within 60 s, chart answers, a SIGKILLed consumer comes back", async () => {
  await using influx = await startInfluxDouble();
  const chartPort = freePort();
  const env = {
    KAFKA_TOPIC: uniqueName("t-launch"),
    CONSUMER_GROUP: uniqueName("g-launch"),
    INFLUX_HOST: influx.url,
    INFLUX_TOKEN: influx.token ?? "",
    CHART_PORT: String(chartPort),
    GRAFANA_URL: "http://127.0.0.1:9",
    SYNTHETIC_RATE: "5",
  };
  const run = launch(["--source", "synthetic", "--stack", "external"], env);
  try {
    const first = await waitFor(
      "a status line with every coin produced and written",
      () => {
        const status = latestStatus(run.lines);
        return status && COINS.every((c) =>
          status[c]?.produced > 0 && status[c]?.written > 0
        ) && status;
      },
      { timeoutMs: 60_000, everyMs: 500 },
    );
    const chart = await fetch(`http://127.0.0.1:${chartPort}/api/status`);
    assert.equal(chart.status, 200);
    assert.equal((await chart.json()).source, "synthetic");

    const consumers = [];
    for (const pid of await childPids(run.child.pid)) {
      const args = await new Deno.Command("ps", {
        args: ["-o", "args=", "-p", String(pid)],
      }).output();
      if (
        new TextDecoder().decode(args.stdout).includes("--client-id consumer-1")
      ) {
        consumers.push(pid);
      }
    }
    assert.equal(consumers.length, 1, "consumer-1 runs as a child of launch");
    await new Deno.Command("kill", { args: ["-KILL", String(consumers[0])] })
      .output();
    await waitFor(
      "launch to restart consumer-1",
      () =>
        run.lines.some((l) =>
          /consumer-1 exited \(SIGKILL\); restart 1/.test(l)
        ),
      {
        timeoutMs: 15_000,
      },
    );
    const totalWritten = (s: Record<string, { written: number }>) =>
      COINS.reduce((n, c) =>
        n + s[c].written, 0);
    const before = totalWritten(first);
    await waitFor("totals to keep rising after the restart", () => {
      const status = latestStatus(run.lines);
      return status && totalWritten(status) > before + 20 &&
        run.lines.some((l) => l.includes("[consumer-1] joined group"));
    }, { timeoutMs: 75_000, everyMs: 500 });
  } finally {
    try {
      run.child.kill("SIGINT");
    } catch { /* launch ended already: its last lines below say why */ }
    assert.equal(await run.exited, 0, run.lines.slice(-30).join("\n"));
  }
});

Deno.test("launch refuses a bad variable or stack mode with exit 2 before starting anything", async () => {
  for (
    const env of [{ KAFKA_PARTITIONS: "two" }, {
      STACK: "kubernetes",
    }] as Record<string, string>[]
  ) {
    const result = await runScript("launch.ts", [], env, LAUNCH_PERMISSIONS);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr.trim(),
      /^launch: (KAFKA_PARTITIONS|STACK) must be/,
    );
    assert.doesNotMatch(result.stderr + result.stdout, /started|stack:/);
  }
});

Deno.test("SIGINT stops launch within 20 s with exit 0, leaving no process it started, java included", async () => {
  // launch must start the stack itself here, so the shared one is stopped first and restarted after.
  const { stackDown } = await import("@cryptocandles/launch");
  await stackDown();
  await using influx = await startInfluxDouble();
  const run = launch([
    "--source",
    "synthetic",
    "--stack",
    "local",
    "--no-grafana",
  ], {
    KAFKA_TOPIC: uniqueName("t-sigint"),
    CONSUMER_GROUP: uniqueName("g-sigint"),
    INFLUX_HOST: influx.url,
    INFLUX_TOKEN: influx.token ?? "",
    CHART_PORT: String(freePort()),
    SYNTHETIC_RATE: "5",
    JAVA_HOME: Deno.env.get("JAVA_HOME") ?? "",
  });
  try {
    await waitFor(
      "the pipeline to run",
      () => run.lines.some((l) => l.includes("pipeline started")),
      {
        timeoutMs: 180_000,
        everyMs: 500,
      },
    ).catch((error) => {
      throw new Error(
        `${error.message}; launch said:\n${run.lines.slice(-30).join("\n")}`,
      );
    });
    const java = (await stackStatus()).map((s) => s.pid!);
    assert.equal(java.length, 4, "launch started the 4 java services");
    const children = await childPids(run.child.pid);
    assert.ok(
      children.length >= 4,
      `consumers, producer and chart run (${children.length} children)`,
    );
    const started = Date.now();
    run.child.kill("SIGINT");
    assert.equal(await run.exited, 0, run.lines.slice(-20).join("\n"));
    console.log(`launch stopped ${Date.now() - started} ms after SIGINT`);
    assert.ok(
      Date.now() - started < 20_000,
      `stopped in ${Date.now() - started} ms`,
    );
    for (const pid of [...children, ...java]) {
      assert.equal(await alive(pid), false, `pid ${pid} is gone`);
    }
  } finally {
    await run.exited.catch(() => {});
    await stackUp();
  }
});
