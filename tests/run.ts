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
import { createLogger } from "@cryptocandles/runtime";
import { stackDown, stackUp } from "@cryptocandles/launch";

const log = createLogger("test");
const TEST_PERMISSIONS = [
  "--allow-net=127.0.0.1,localhost",
  "--allow-read",
  "--allow-write=.stack,tests/out,/tmp",
  "--allow-sys",
  "--allow-env",
  "--allow-run=deno,java,mvn,ps,kill,kcat,python3,.venv/bin/python,/usr/lib/jvm/temurin-25-jdk-amd64/bin/java,/usr/bin/chromium",
];

let started: string[] = [];
let code = 1;
try {
  started = await stackUp({ log });
  await ensureVenv();
  const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
  const child = new Deno.Command("deno", {
    args: ["test", ...TEST_PERMISSIONS, ...args],
    // playwright-core probes /proc/sys/fs/binfmt_misc/WSLInterop at import
    // unless this is set, and Deno grants /proc only with -A.
    env: { __IS_WSL_TEST__: "1" },
    stdin: "null",
  }).spawn();
  code = (await child.status).code;
} catch (error) {
  log.error((error as Error).message);
} finally {
  if (started.length > 0) {
    await stackDown({ log });
  }
}
Deno.exit(code);

/** Creates .venv with the InfluxDB double's packages when missing. */
async function ensureVenv(): Promise<void> {
  const requirements = "tests/doubles/requirements.txt";
  if (!(await Deno.stat(requirements).then(() => true, () => false))) return;
  const marker = ".venv/.requirements";
  const wanted = await Deno.readTextFile(requirements);
  if ((await Deno.readTextFile(marker).catch(() => "")) === wanted) return;
  log.info("creating .venv for the InfluxDB double (once)");
  for (
    const [cmd, args] of [
      ["python3", ["-m", "venv", ".venv"]],
      [".venv/bin/python", ["-m", "pip", "install", "-q", "-r", requirements]],
    ] as const
  ) {
    const { success, stderr } = await new Deno.Command(cmd, {
      args: [...args],
      stdin: "null",
    }).output();
    if (!success) {
      throw new Error(
        `${cmd} ${args.join(" ")} failed: ${
          new TextDecoder().decode(stderr).trim()
        }`,
      );
    }
  }
  await Deno.writeTextFile(marker, wanted);
}
