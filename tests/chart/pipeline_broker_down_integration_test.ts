/**
 * One broker stopped, on a PRIVATE stack (a temporary copy of the project
 * on other ports, as tests/launch/stack_integration_test.ts does it), never
 * the shared one: the pipeline page shows the broker down within 5 s and
 * the partitions it led with a new leader within 10 s, and keeps working.
 *
 * @module
 */
import "@cryptocandles/runtime/node_warnings";
import assert from "node:assert/strict";
import { describeProcess, signalProcess } from "@cryptocandles/runtime";
import { launchChromium } from "../browser.ts";
import { spawnScript } from "../processes.ts";
import { freePort, waitFor } from "../support.ts";
import { copyProject, freePortRange } from "../launch/private_stack.ts";

Deno.test("the pipeline page shows a stopped broker down within 5 s of its exit and its partitions with a new leader within 10 s, on a private stack", async () => {
  const project = await copyProject("pipeline-copy-");
  const base = await freePortRange(6);
  const registryPort = await freePortRange(2, base + 6);
  const env = {
    KAFKA_BROKERS: [0, 1, 2].map((i) => `127.0.0.1:${base + i}`).join(","),
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${registryPort}/apis/ccompat/v7`,
    KAFKA_TOPIC: "PIPELINE",
    SOURCE: "synthetic",
    SYNTHETIC_RATE: "5",
    LOG_FORMAT: "json",
    NO_COLOR: "1",
  };
  const run = (task: string, args: string[]) =>
    new Deno.Command("deno", {
      args: ["run", "-q", `-P=${task}`, ...args],
      cwd: project,
      env,
      stdin: "null",
    }).output().then((o) => ({
      code: o.code,
      text: new TextDecoder().decode(o.stdout) +
        new TextDecoder().decode(o.stderr),
    }));
  // Only the stack runs in the copy; the scripts run from this tree with
  // their tasks' permission sets, pointed at the private stack.
  const script = (name: string, more: Record<string, string> = {}) =>
    spawnScript(`scripts/${name}.ts`, {
      env: { ...env, ...more },
      permissions: ["-q", `-P=${name}`],
    });
  const browser = await launchChromium();
  try {
    let up = await run("stack", ["scripts/stack.ts", "up"]);
    if (up.code !== 0) {
      // Seen once in a CI run: exit 1 with nothing after "using Java"; shown
      // for the next look, then one more try.
      console.log(`stack up failed (exit ${up.code}):\n${up.text}`);
      up = await run("stack", ["scripts/stack.ts", "up"]);
    }
    assert.equal(up.code, 0, up.text);
    await using setup = script("setup-schema");
    assert.equal((await setup.waitForExit(60_000)).code, 0, setup.stderr);
    const port = freePort();
    await using _producer = script("producer");
    await using _chart = script("chart", {
      CHART_PORT: String(port),
    });
    const page = await browser.newPage({
      viewport: { width: 1366, height: 768 },
    });
    await waitFor(
      "the chart server",
      () =>
        fetch(`http://127.0.0.1:${port}/api/status`).then(
          (r) => (r.body?.cancel(), r.ok),
          () => false,
        ),
    );
    await page.goto(`http://127.0.0.1:${port}/pipeline`);
    const rows = `tr[data-topic="PIPELINE"]`;
    const leaders = () =>
      page.$$eval(
        rows,
        (rs) => rs.map((r) => Number(r.getAttribute("data-leader"))),
      );
    await waitFor(
      "3 brokers up and 2 partitions led",
      async () =>
        (await page.$$('tr[data-broker][data-state="up"]')).length === 3 &&
        (await leaders()).length === 2 && (await leaders()).every((l) => l > 0),
    );
    const before = await leaders();
    const victim = before[0];
    const pid = Number(
      await Deno.readTextFile(`${project}/.stack/run/kafka-${victim}.pid`),
    );
    const stopped = Date.now();
    assert.ok(await signalProcess(pid, "TERM"), `stop kafka-${victim}`);
    // A stopped broker first hands its partitions over (controlled
    // shutdown), then exits: "down" is counted from its exit.
    let exitedAfter = NaN;
    const exited = waitFor(
      `kafka-${victim} to exit`,
      async () => (await describeProcess(pid)) === undefined,
      { everyMs: 50 },
    )
      .then(() => exitedAfter = Date.now() - stopped);
    await waitFor(
      `broker ${victim} down on the page`,
      async () =>
        (await page.$(`tr[data-broker="${victim}"][data-state="down"]`)) !==
          null,
      { timeoutMs: 10_000, everyMs: 100 },
    );
    const downAfter = Date.now() - stopped;
    await exited;
    const after = await waitFor(
      `new leaders for the partitions broker ${victim} led`,
      async () => {
        const now = await leaders();
        return now.length === 2 && now.every((l) => l > 0 && l !== victim)
          ? now
          : undefined;
      },
      { timeoutMs: Math.max(100, 10_000 - downAfter), everyMs: 100 },
    );
    const ledAfter = Date.now() - stopped;
    console.log(
      `kafka-${victim} stopped (SIGTERM), exited after ${exitedAfter} ms, ` +
        `shown down after ${downAfter} ms; leaders ${before.join(",")} -> ${
          after.join(",")
        } after ${ledAfter} ms`,
    );
    assert.ok(
      downAfter - Math.min(exitedAfter, downAfter) <= 5_000,
      `down on the page within 5 s of its exit (${downAfter - exitedAfter} ms)`,
    );
    assert.ok(ledAfter <= 10_000, `new leaders within 10 s (${ledAfter} ms)`);
    assert.equal(
      await page.textContent("#state"),
      "live",
      "the page stays live",
    );
    assert.match(
      await page.textContent("#brokers h2") ?? "",
      /2\/3 up/,
    );
    await page.screenshot({
      path: "tests/out/pipeline-broker-down-1366x768.png",
      fullPage: true,
    });
  } finally {
    await browser.close();
    const down = await run("stack", ["scripts/stack.ts", "down"]);
    if (down.code !== 0) console.log(down.text);
    for (
      const link of [
        `${project}/node_modules`,
        `${project}/.stack/libs`,
        `${project}/.stack/apicurio`,
        `${project}/.stack/jdk`,
      ]
    ) await Deno.remove(link).catch(() => {});
    await Deno.remove(project, { recursive: true });
  }
});
