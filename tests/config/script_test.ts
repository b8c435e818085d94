/**
 * The script skeleton (`runScript`): exit codes, one-line errors, `--help`,
 * refused permissions and the shutdown signals, on a small script that runs
 * on it (script_fixture.ts) started with `deno run`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { describeError, VARIABLES } from "@cryptocandles/config";
import {
  type ScriptExit,
  type ScriptProcess,
  spawnScript,
} from "../processes.ts";

const FIXTURE = new URL("./script_fixture.ts", import.meta.url).pathname;

/** Starts the fixture with only `env` (and PATH) and the given permissions. */
function start(
  args: string[],
  { env = {}, permissions = ["--allow-env"] }: {
    env?: Record<string, string>;
    permissions?: string[];
  } = {},
): ScriptProcess & { done: Promise<ScriptExit> } {
  const run = spawnScript(FIXTURE, { args, env, permissions });
  // Every fixture run ends by itself or on a signal within seconds.
  return Object.assign(run, { done: run.waitForExit(30_000) });
}

function stderrLines(stderr: string): string[] {
  return stderr.trim().split("\n").filter((l) => l !== "");
}

Deno.test("runScript() exits 0 when main returns nothing, and main's number otherwise", async () => {
  const done = await start(["--mode", "done"]).done;
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(stderrLines(done.stderr), [
    "fixture: started topic=CRIPTOMONEDAS",
  ]);
  const code = await start(["--mode", "code"]).done;
  assert.equal(code.code, 3, code.stderr);
});

Deno.test("runScript() logs what main throws as one line and exits 1", async () => {
  const { code, stderr } = await start(["--mode", "throw"]).done;
  assert.equal(code, 1, stderr);
  assert.deepEqual(stderrLines(stderr), [
    "fixture: started topic=CRIPTOMONEDAS",
    "fixture: error: boom",
  ]);
});

Deno.test("runScript() turns a UsageError into one line and exit 2", async () => {
  const { code, stderr } = await start(["--mode", "usage"]).done;
  assert.equal(code, 2, stderr);
  assert.equal(stderrLines(stderr).at(-1), "fixture: --mode usage is refused");
});

Deno.test("runScript() refuses a bad variable, an unknown flag or a stray argument with one line and exit 2, before main", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [[], { KAFKA_PARTITIONS: "two" }, /^fixture: KAFKA_PARTITIONS must be/],
    [["--kafka-partitions", "0"], {}, /^fixture: KAFKA_PARTITIONS must be/],
    [["--sauce", "x"], {}, /^fixture: .*--sauce/],
    [["stray"], {}, /^fixture: .*stray/],
  ];
  for (const [args, env, message] of cases) {
    const { code, stderr } = await start(args, { env }).done;
    assert.equal(code, 2, `${args} ${JSON.stringify(env)}: ${stderr}`);
    const lines = stderrLines(stderr);
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], message);
  }
});

Deno.test("runScript() prints --help to stdout with the script's flags and every variable, and exits 0", async () => {
  const { code, stdout, stderr } = await start(["--help"]).done;
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  assert.match(stdout, /^usage: deno task fixture \[flags\]\n {2}--mode M/);
  for (const { name } of VARIABLES) {
    const flag = `--${name.toLowerCase().replaceAll("_", "-")}`;
    assert.ok(stdout.includes(`${flag} `), `${flag} in --help`);
  }
});

Deno.test("runScript() writes JSON lines when LOG_FORMAT=json", async () => {
  const { code, stderr } = await start(["--mode", "throw"], {
    env: { LOG_FORMAT: "json" },
  }).done;
  assert.equal(code, 1, stderr);
  const lines = stderrLines(stderr).map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.level, l.name, l.msg]), [
    ["info", "fixture", "started"],
    ["error", "fixture", "boom"],
  ]);
});

Deno.test("runScript() names a refused host and how to grant it, exit 1", async () => {
  const { code, stderr } = await start(["--mode", "refused"]).done;
  assert.equal(code, 1, stderr);
  assert.equal(
    stderrLines(stderr).at(-1),
    "fixture: error: not allowed to reach kafka.example.com:9092: run it through `deno task launch` (grants the configured hosts) or with the `deno run` line that `deno task permissions fixture` prints",
  );
});

Deno.test("runScript() names a refused variable in one line, exit 1", async () => {
  const { code, stderr } = await start(["--mode", "done"], {
    permissions: ["--allow-env=LOG_FORMAT"],
  }).done;
  assert.equal(code, 1, stderr);
  const lines = stderrLines(stderr);
  assert.equal(lines.length, 1, stderr);
  assert.match(
    lines[0],
    /^fixture: not allowed to read the variable KAFKA_BROKERS: the permission set "fixture" in deno\.json does not allow it/,
  );
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`runScript() aborts main's signal on ${signal} and exits 0 once main returns`, async () => {
    const run = start(["--mode", "wait"]);
    await run.waitForText(/started/);
    run.kill(signal);
    const { code, stderr } = await run.done;
    assert.equal(code, 0, stderr);
    assert.deepEqual(stderrLines(stderr).slice(1), [
      `fixture: ${signal}: stopping`,
      "fixture: stopping cleanly",
    ]);
  });
}

Deno.test("runScript() exits 0 when main rethrows the abort after a signal", async () => {
  const run = start(["--mode", "wait-throw"]);
  await run.waitForText(/started/);
  run.kill("SIGTERM");
  const { code, stderr } = await run.done;
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /error/);
});

Deno.test("runScript() exits 1 at the hard-exit timeout when main does not stop", async () => {
  const run = start(["--mode", "hang"]);
  await run.waitForText(/started/);
  const signalled = Date.now();
  run.kill("SIGTERM");
  const { code, stderr } = await run.done;
  assert.equal(code, 1, stderr);
  assert.match(stderr, /still running 3 s after SIGTERM: exiting/);
  assert.ok(Date.now() - signalled < 15_000, "exited near the 3 s timeout");
});

Deno.test("runScript() exits 1 at once on a second signal", async () => {
  const run = start(["--mode", "hang"]);
  await run.waitForText(/started/);
  run.kill("SIGTERM");
  await run.waitForText(/SIGTERM: stopping/);
  // A repeat within 1 s counts as the same signal (deno task forwards Ctrl-C).
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  run.kill("SIGTERM");
  const { code, stderr } = await run.done;
  assert.equal(code, 1, stderr);
  assert.match(stderr, /second SIGTERM: exiting now/);
  assert.doesNotMatch(stderr, /still running/);
});

Deno.test("describeError() names a refused permission even when a library wrapped it", () => {
  const refused = new Deno.errors.NotCapable(
    'Requires net access to "127.0.0.1:19090", run again with the --allow-net flag',
  );
  const expected =
    "not allowed to reach 127.0.0.1:19090: run it through `deno task launch` (grants the configured hosts) or add --allow-net=127.0.0.1:19090";
  assert.equal(describeError(refused), expected);
  // kafkajs: "Connection error: <message>", the original as `originalError`.
  const kafkajs = Object.assign(
    new Error(`Connection error: ${refused.message}`),
    { originalError: refused },
  );
  assert.equal(describeError(kafkajs), expected);
  assert.equal(
    describeError(new Error("fetch failed", { cause: refused })),
    expected,
  );
});

Deno.test("describeError() says how to grant each kind of permission", () => {
  const message = (kind: string, target: string) =>
    describeError(
      new Deno.errors.NotCapable(
        `Requires ${kind} access to "${target}", run again with the --allow-${kind} flag`,
      ),
    );
  assert.equal(
    message("write", "/tmp/x.jsonl"),
    "not allowed to write /tmp/x.jsonl: add --allow-write=/tmp/x.jsonl",
  );
  assert.equal(
    message("run", "java"),
    "not allowed to run java: add --allow-run=java",
  );
});

Deno.test("describeError() is the message of any other error", () => {
  assert.equal(describeError(new TypeError("bad")), "bad");
  assert.equal(describeError("plain"), "plain");
});
