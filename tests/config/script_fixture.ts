/**
 * A script on the skeleton for tests/config/script_test.ts: `--mode` picks
 * how its `main` ends.
 *
 * @module
 */
import { runScript, UsageError } from "@cryptocandles/config";

await runScript({
  name: "fixture",
  flags: { mode: "string" },
  help: ["--mode M               how main ends"],
  hardExitMs: 3_000,
  async main({ config, log, signal, stopped, flags }) {
    log.info("started", { topic: config.kafka.topic });
    switch (flags.extra.mode) {
      case "done":
        return;
      case "code":
        return 3;
      case "throw":
        throw new Error("boom");
      case "usage":
        throw new UsageError("--mode usage is refused");
      case "refused":
        await fetch("http://kafka.example.com:9092/");
        return;
      case "wait":
        await stopped;
        log.info("stopping cleanly");
        return;
      case "wait-throw":
        await stopped;
        throw signal.reason;
      case "hang":
        await stopped;
        await new Promise((resolve) => setTimeout(resolve, 60_000));
        return;
    }
  },
});
