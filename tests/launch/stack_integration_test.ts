import assert from "node:assert/strict";
import { stackDown, stackStatus, stackUp } from "@cryptocandles/launch";

/** Command lines of live processes that run this checkout's stack. */
async function ourJavaProcesses(): Promise<string[]> {
  const output = await new Deno.Command("ps", { args: ["-eo", "pid=,args="] })
    .output();
  const cwd = Deno.cwd();
  return new TextDecoder().decode(output.stdout).split("\n")
    .filter((line) => line.includes("java") && line.includes(`${cwd}/.stack/`));
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
  assert.equal((await ourJavaProcesses()).length, 4);
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

Deno.test("stack down leaves no java process of ours, and up brings all 3 brokers back", async () => {
  const stopped = await stackDown();
  assert.deepEqual(stopped.sort(), [
    "kafka-1",
    "kafka-2",
    "kafka-3",
    "registry",
  ]);
  assert.deepEqual(await ourJavaProcesses(), []);
  assert.ok((await stackStatus()).every((s) => !s.running));
  const started = await stackUp();
  assert.equal(started.length, 4);
  assert.ok((await stackStatus()).every((s) => s.running));
});
