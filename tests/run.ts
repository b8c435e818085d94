/**
 * `deno task test`: makes sure what the tests need is there (the local
 * stack, the Python venv of the InfluxDB double), runs `deno test`, and
 * stops what it started.
 *
 *     deno task test                      # everything
 *     deno task test tests/config_test.ts # some files (extra args go to deno test)
 *
 * @module
 */
import { createLogger, runInForeground } from "@cryptocandles/runtime";
import { ensureVenv } from "./venv.ts";
import { stackDown, stackUp } from "@cryptocandles/launch";

const log = createLogger("test");

let started: string[] = [];
let code = 1;
try {
  started = await stackUp({ log });
  await ensureVenv((m) => log.info(m));
  const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
  // The test files run under the same permission set as this runner (not
  // -q: it would hide the tests' own output, so Deno's one "experimental"
  // note about config permissions shows first).
  code = await runInForeground("deno", ["test", "-P=test", ...args], {
    // playwright-core probes /proc/sys/fs/binfmt_misc/WSLInterop at import
    // unless this is set, and Deno grants /proc only with -A.
    env: { __IS_WSL_TEST__: "1" },
  });
} catch (error) {
  log.error((error as Error).message);
} finally {
  if (started.length > 0) {
    await stackDown({ log });
  }
}
Deno.exit(code);
