import assert from "node:assert/strict";
import { startInfluxDouble } from "../doubles/influx_double.ts";
import { stackStatus, stackUp } from "@cryptocandles/launch";
import { freePort, runScript, uniqueName, waitFor } from "../support.ts";
import { writeStandIns } from "../doubles/standins.ts";

/** launch's own permissions, as the `launch` task gives them. */
const LAUNCH_PERMISSIONS = [
  "--allow-run=deno,java,mvn,ps,kill,ln,docker,tar,./.stack/jdk/bin/java,./.stack/bin/influxdb3,./.stack/grafana-home/bin/grafana",
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

// 20 s here most runs (7.4 s alone); a fresh-clone CI run once took 31.3 s.
// The bound catches a hang well before launch's own 60 s hard exit.
Deno.test("SIGINT stops launch within 45 s with exit 0, leaving no process it started, java included", async () => {
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
    if (Date.now() - started >= 20_000) {
      console.log(run.lines.slice(-40).join("\n")); // what took the time
    }
    assert.ok(
      Date.now() - started < 45_000,
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

Deno.test("SIGINT while launch starts the stack stops it there: exit 0, the brokers it started are stopped, no pipeline starts", async () => {
  const { stackDown } = await import("@cryptocandles/launch");
  await stackDown();
  await using influx = await startInfluxDouble();
  const run = launch(["--source", "synthetic", "--stack", "local"], {
    KAFKA_TOPIC: uniqueName("t-sigint-early"),
    INFLUX_HOST: influx.url,
    INFLUX_TOKEN: influx.token ?? "",
    CHART_PORT: String(freePort()),
    JAVA_HOME: Deno.env.get("JAVA_HOME") ?? "",
  });
  try {
    await waitFor(
      "launch to start kafka-1",
      () => run.lines.some((l) => /started kafka-1 pid=\d+/.test(l)),
      { timeoutMs: 120_000, everyMs: 200 },
    );
    const started = Date.now();
    run.child.kill("SIGINT");
    assert.equal(await run.exited, 0, run.lines.slice(-20).join("\n"));
    const took = Date.now() - started;
    console.log(`launch stopped ${took} ms after SIGINT during stack start`);
    // A hang detector, not a timing target: the stack's ready deadline is 180 s.
    assert.ok(took < 45_000, `stopped in ${took} ms`);
    const pids = run.lines.flatMap((l) =>
      [...l.matchAll(/started (?:kafka-\d|registry) pid=(\d+)/g)].map((m) =>
        Number(m[1])
      )
    );
    assert.ok(pids.length >= 1, "launch said which pids it started");
    for (const pid of pids) {
      assert.equal(await alive(pid), false, `pid ${pid} is gone`);
    }
    assert.ok(
      run.lines.some((l) =>
        l.includes("start-up stopped: stopping what it started")
      ),
      run.lines.slice(-20).join("\n"),
    );
    assert.ok(
      !run.lines.some((l) => /pipeline started|setup-schema/.test(l)),
      "no pipeline after Ctrl-C",
    );
    assert.equal((await stackStatus()).filter((s) => s.running).length, 0);
  } finally {
    await run.exited.catch(() => {});
    await stackUp();
  }
});

Deno.test("launch --source synthetic in local mode with influxdb3 and grafana on PATH: both consumers write, Grafana is provisioned, status shows the dashboard, Ctrl-C stops InfluxDB and Grafana too", async () => {
  // The main stack's Kafka is reused (stack up finds it running); InfluxDB and
  // Grafana are the stand-ins, on free ports, with their files in .stack/.
  const created = [
    ".stack/influxdb3",
    ".stack/grafana",
    ".stack/secrets",
    ".stack/bin",
    ".stack/programs",
    ".stack/grafana-home",
    ".stack/logs/grafana",
  ];
  const existed = new Set<string>();
  for (const path of created) {
    if (await Deno.lstat(path).then(() => true, () => false)) existed.add(path);
  }
  const work = await Deno.makeTempDir({ prefix: "launch-standins-" });
  const standIns = await writeStandIns(work);
  const influxPort = freePort();
  const grafanaPort = freePort();
  const run = launch(["--source", "synthetic", "--stack", "local"], {
    PATH: standIns.path,
    KAFKA_TOPIC: uniqueName("t-local"),
    CONSUMER_GROUP: uniqueName("g-local"),
    INFLUX_HOST: `http://127.0.0.1:${influxPort}`,
    GRAFANA_URL: `http://127.0.0.1:${grafanaPort}`,
    CHART_PORT: String(freePort()),
    SYNTHETIC_RATE: "5",
    JAVA_HOME: Deno.env.get("JAVA_HOME") ?? "",
  });
  const dashboard = `http://127.0.0.1:${grafanaPort}/d/cryptocandles`;
  try {
    await waitFor(
      "every coin written by both consumers, and the dashboard in the status",
      () => {
        const status = latestStatus(run.lines);
        const line = run.lines.findLast((l) => l.startsWith("status: ")) ?? "";
        return status && COINS.every((c) => status[c]?.written > 0) &&
          line.includes(`grafana=${dashboard}`) && line.includes("members=2");
      },
      { timeoutMs: 120_000, everyMs: 500 },
    ).catch((error) => {
      throw new Error(
        `${error.message}; launch said:\n${run.lines.slice(-30).join("\n")}`,
      );
    });
    assert.ok(run.lines.some((l) => l.includes(`dashboard: ${dashboard}`)));
    assert.ok(
      run.lines.some((l) =>
        l.includes(`influxdb3: using influxdb3 on PATH (${standIns.influxBin})`)
      ),
    );
    const token = JSON.parse(
      await Deno.readTextFile(".stack/secrets/influxdb3-admin-token.json"),
    ).token;
    assert.ok(
      run.lines.every((l) => !l.includes(token)),
      "the token is never printed",
    );
    const provisioned = JSON.parse(
      await Deno.readTextFile(".stack/grafana/data/standin.json"),
    ).provisioned;
    assert.equal(provisioned.datasources[0].secureJsonData.token, token);
    assert.deepEqual(provisioned.dashboards, ["cryptocandles"]);
    const points = await fetch(
      `http://127.0.0.1:${influxPort}/api/v3/query_sql`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          db: "criptomonedas",
          q: 'SELECT DISTINCT "Coin" AS coin FROM criptomonedas ORDER BY coin',
          format: "json",
        }),
      },
    );
    assert.deepEqual(
      (await points.json()).map((r: { coin: string }) => r.coin),
      [...COINS].sort(),
    );
    const pids = await Promise.all(
      ["influxdb3", "grafana"].map(async (name) =>
        Number(await Deno.readTextFile(`.stack/run/${name}.pid`))
      ),
    );
    run.child.kill("SIGINT");
    assert.equal(await run.exited, 0, run.lines.slice(-20).join("\n"));
    for (const pid of pids) {
      assert.equal(await alive(pid), false, `pid ${pid} is gone`);
    }
    assert.ok(run.lines.some((l) => /stopped influxdb3/.test(l)));
    assert.ok(run.lines.some((l) => /stopped grafana/.test(l)));
  } finally {
    try {
      run.child.kill("SIGINT");
    } catch { /* ended */ }
    await run.exited.catch(() => {});
    for (const path of created) {
      if (existed.has(path)) continue;
      // A link goes without `recursive` (which would look through it).
      await Deno.remove(path).catch(() =>
        Deno.remove(path, { recursive: true }).catch(() => {})
      );
    }
    await Deno.remove(work, { recursive: true });
  }
});
