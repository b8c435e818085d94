import assert from "node:assert/strict";
import {
  commandSucceeds,
  describeProcess,
  runCommand,
  signalProcess,
  spawnDetached,
} from "@cryptocandles/runtime";
import { waitFor } from "../support.ts";

const PRINT_AND_EXIT_3 =
  "console.log('to stdout'); console.error('to stderr'); Deno.exit(3)";

Deno.test("runCommand() returns what the program printed and its code", async () => {
  const result = await runCommand("deno", ["eval", PRINT_AND_EXIT_3], {
    check: false,
  });
  assert.deepEqual(result, {
    stdout: "to stdout\n",
    stderr: "to stderr\n",
    code: 3,
    success: false,
  });
});

Deno.test("runCommand() throws on a non-zero exit with the command and the tail of its output", async () => {
  await assert.rejects(
    () => runCommand("deno", ["eval", PRINT_AND_EXIT_3]),
    (e: Error) =>
      e.message.startsWith(`deno eval ${PRINT_AND_EXIT_3} failed (exit 3):`) &&
      e.message.includes("to stdout\nto stderr"),
  );
  assert.equal(await commandSucceeds("deno", ["eval", "Deno.exit(1)"]), false);
  assert.equal(await commandSucceeds("deno", ["eval", ""]), true);
});

Deno.test("spawnDetached() starts a process that describeProcess() sees and signalProcess() stops", async () => {
  const marker = `detached-${crypto.randomUUID()}`;
  const pid = spawnDetached("deno", [
    "eval",
    `setTimeout(() => {}, 60_000); // ${marker}`,
  ]);
  try {
    const info = await waitFor(
      "the child to show in ps",
      () => describeProcess(pid),
    );
    assert.ok(info.args.includes(marker), info.args);
    assert.equal(await signalProcess(pid, "TERM"), true);
    await waitFor(
      "the child to be gone",
      async () => (await describeProcess(pid)) === undefined,
      { timeoutMs: 10_000 },
    );
    assert.equal(await signalProcess(pid, "TERM"), false, "nothing to signal");
  } finally {
    await signalProcess(pid, "KILL");
  }
});

Deno.test("describeProcess() of a pid that does not run is undefined", async () => {
  // The largest pid Linux hands out is 4194304; this one is above it.
  assert.equal(await describeProcess(4_194_305), undefined);
});
