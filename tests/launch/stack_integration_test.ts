import assert from "node:assert/strict";
import {
  findJdk,
  javaSettings,
  stackStatus,
  stackUp,
} from "@cryptocandles/launch";
import {
  describeProcess,
  runCommand,
  signalProcess,
} from "@cryptocandles/runtime";
import { copyProject, freePortRange } from "./private_stack.ts";

/** Command lines of live java processes whose arguments name `stackDir`. */
async function javaProcessesOf(stackDir: string): Promise<string[]> {
  const { stdout } = await runCommand("ps", ["-eo", "pid=,args="]);
  return stdout.split("\n")
    .filter((line) => line.includes("java") && line.includes(`${stackDir}/`));
}

Deno.test("stack up twice reuses the running cluster instead of starting another", async () => {
  const before = await stackStatus();
  assert.ok(
    before.every((s) => s.running),
    "the test task starts the stack first",
  );
  const output = await new Deno.Command("deno", {
    args: ["task", "stack", "up"],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(output.stdout) +
    new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, text);
  assert.match(text, /reused the running stack/);
  assert.deepEqual(
    (await stackStatus()).map((s) => s.pid),
    before.map((s) => s.pid),
  );
  assert.equal(
    (await javaProcessesOf(`${Deno.cwd()}/.stack`)).length,
    4,
  );
});

Deno.test("stack up fails at once, naming the port, when another process holds it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const dir = await Deno.makeTempDir({ prefix: "stack-port-" });
  try {
    const started = Date.now();
    await assert.rejects(
      () =>
        stackUp({
          dir,
          brokerPort: port,
          controllerPort: port + 3,
          registryPort: port + 6,
        }),
      new RegExp(
        `port ${port} \\(for kafka-1\\) is taken by a process this stack did not start`,
      ),
    );
    assert.ok(Date.now() - started < 5_000, "no hang");
    assert.deepEqual(
      [...Deno.readDirSync(dir)],
      [],
      "nothing was started or written",
    );
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stack up in another checkout, on other ports, runs a JDK reachable only through a JAVA_HOME of another name, as .stack/jdk/bin/java; a second up at once reuses it; down leaves nothing running", async () => {
  const main = await stackStatus();
  // A real JDK 21+ of this machine, found the way the stack finds one
  // (JAVA_HOME ignored), then reachable only under a Debian-like name.
  const probe = await Deno.makeTempDir({ prefix: "jdk-probe-" });
  const real = await findJdk({ dir: probe, javaHome: "" });
  const homes = await Deno.makeTempDir({ prefix: "java-homes-" });
  const javaHome = `${homes}/java-21-openjdk-amd64`;
  await runCommand("ln", ["-s", real.home, javaHome]);
  const onPath = await runCommand("java", [
    "-XshowSettings:properties",
    "-version",
  ], { check: false }).then((r) => javaSettings(r.stderr), () => undefined);
  console.log(
    `JDK ${real.version} at ${real.home} as JAVA_HOME=${javaHome}; java on PATH: ${
      onPath ? `Java ${onPath.version} (${onPath.home})` : "none"
    }`,
  );

  const project = await copyProject("stack-copy-");
  const stackDir = `${project}/.stack`;
  const base = await freePortRange(6);
  const registryPort = await freePortRange(2, base + 6);
  const env = {
    JAVA_HOME: javaHome,
    KAFKA_BROKERS: [0, 1, 2].map((i) => `127.0.0.1:${base + i}`).join(","),
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${registryPort}/apis/ccompat/v7`,
    LOG_FORMAT: "text",
    NO_COLOR: "1",
  };
  const stack = (command: string) =>
    new Deno.Command("deno", {
      args: ["run", "-q", "-P=stack", "scripts/stack.ts", command],
      cwd: project,
      env,
      stdin: "null",
    }).output().then((o) => ({
      code: o.code,
      text: new TextDecoder().decode(o.stdout) +
        new TextDecoder().decode(o.stderr),
    }));
  const pids = async () =>
    await Promise.all(
      ["kafka-1", "kafka-2", "kafka-3", "registry"].map(async (name) =>
        Number(
          await Deno.readTextFile(`${stackDir}/run/${name}.pid`).catch(() =>
            ""
          ),
        )
      ),
    );
  let started: number[] = [];
  try {
    // Two at once: one starts the stack, the other waits for it and reuses it.
    const [first, second] = await Promise.all([stack("up"), stack("up")]);
    assert.equal(first.code, 0, first.text);
    assert.equal(second.code, 0, second.text);
    const [up, reused] = /up \(started/.test(first.text)
      ? [first, second]
      : [second, first];
    assert.match(up.text, /up \(started kafka-1, kafka-2, kafka-3, registry\)/);
    assert.match(reused.text, /up \(reused the running stack\)/);
    assert.ok(
      up.text.includes(
        `using Java ${real.version} at ${javaHome} (JAVA_HOME`,
      ),
      up.text,
    );
    assert.equal(await Deno.readLink(`${stackDir}/jdk`), javaHome);
    console.log(up.text.split("\n").find((l) => l.includes("using Java")));

    started = await pids();
    assert.ok(started.every((pid) => pid > 0), `pid files: ${started}`);
    for (const [i, pid] of started.entries()) {
      const info = await describeProcess(pid);
      assert.ok(info, `pid ${pid} runs`);
      assert.match(info.args, /^\S*\.stack\/jdk\/bin\/java /, info.args);
      if (i === 0) console.log(`kafka-1: ${info.args.slice(0, 120)}…`);
      const marker = i < 3
        ? `${stackDir}/conf/node-${i + 1}.properties`
        : `${stackDir}/apicurio/quarkus-run.jar`;
      assert.ok(info.args.includes(marker), info.args);
    }
    const properties = await Deno.readTextFile(
      `${stackDir}/conf/node-1.properties`,
    );
    assert.ok(
      properties.includes(
        `listeners=PLAINTEXT://127.0.0.1:${base},CONTROLLER://127.0.0.1:${
          base + 3
        }`,
      ),
      properties,
    );

    const status = await stack("status");
    assert.equal(status.code, 0, status.text);
    assert.ok(status.text.includes(`127.0.0.1:${registryPort}`), status.text);
    assert.deepEqual(
      (await stackStatus()).map((s) => s.pid),
      main.map((s) => s.pid),
      "the main stack was not touched",
    );

    const down = await stack("down");
    assert.equal(down.code, 0, down.text);
    assert.match(
      down.text,
      /down \(stopped registry, kafka-1, kafka-2, kafka-3\)/,
    );
    for (const pid of started) {
      assert.equal(await describeProcess(pid), undefined, `pid ${pid} is gone`);
    }
    assert.deepEqual(await javaProcessesOf(stackDir), []);
    assert.ok((await stackStatus()).every((s) => s.running), "main still up");
  } finally {
    if ((await javaProcessesOf(stackDir)).length > 0) {
      await stack("down");
      for (const pid of started) await signalProcess(pid, "KILL");
    }
    // Links first, so that nothing they point at is removed with the copies.
    for (
      const link of [
        `${project}/node_modules`,
        `${stackDir}/libs`,
        `${stackDir}/apicurio`,
        `${stackDir}/jdk`,
        javaHome,
      ]
    ) await Deno.remove(link).catch(() => {});
    for (const dir of [project, homes, probe]) {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
