/**
 * `deno task stack up|down|status`: the local Kafka + schema registry
 * stack without Docker (see shared/stack.ts).
 *
 *     deno task stack up            # start what is not running, wait until ready
 *     deno task stack status        # what runs where
 *     deno task stack down [--clean] # stop what the stack started; --clean removes data
 *
 * @module
 */
import { createLogger } from "@cryptocandles/runtime";
import { stackDown, stackStatus, stackUp } from "@cryptocandles/launch";

const USAGE = "usage: deno task stack up | down [--clean] | status";
const [command, ...rest] = Deno.args;
const log = createLogger("stack", {
  format: Deno.env.get("LOG_FORMAT") === "json" ? "json" : "text",
});

try {
  if (command === "up" && rest.length === 0) {
    const started = await stackUp({ log });
    log.info(
      started.length
        ? `up (started ${started.join(", ")})`
        : "up (reused the running stack)",
    );
    await printStatus();
  } else if (
    command === "down" &&
    (rest.length === 0 || (rest.length === 1 && rest[0] === "--clean"))
  ) {
    const stopped = await stackDown({ log, clean: rest[0] === "--clean" });
    log.info(
      stopped.length
        ? `down (stopped ${stopped.join(", ")})`
        : "down (nothing of ours was running)",
    );
  } else if (command === "status" && rest.length === 0) {
    const up = await printStatus();
    Deno.exitCode = up ? 0 : 3;
  } else {
    console.error(
      command === undefined || command === "--help"
        ? USAGE
        : `unknown arguments: ${Deno.args.join(" ")}\n${USAGE}`,
    );
    Deno.exit(command === "--help" ? 0 : 2);
  }
} catch (error) {
  log.error((error as Error).message);
  Deno.exit(1);
}

/** Prints one line per service; returns true when all run. */
async function printStatus(): Promise<boolean> {
  const status = await stackStatus();
  for (const s of status) {
    const where = s.ports.map((p) => `127.0.0.1:${p}`).join(" ");
    console.log(
      `${s.name.padEnd(9)} ${
        s.running ? `up   pid ${s.pid}` : "down"
      }  ${where}`,
    );
  }
  console.log(
    "Kafka bootstrap: 127.0.0.1:19090,127.0.0.1:19091,127.0.0.1:19092",
  );
  console.log("Schema registry: http://127.0.0.1:8081/apis/ccompat/v7");
  return status.every((s) => s.running);
}
