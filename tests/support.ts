/**
 * Helpers shared by the integration tests: configuration pointing at the
 * local stack, unique names, and running the project's scripts as a user
 * would (`deno run` with the task's permissions).
 *
 * @module
 */
import { type Config, loadConfig } from "@cryptocandles/config";
import { createKafka } from "@cryptocandles/kafka";
import { createLogger } from "@cryptocandles/runtime";

/** A configuration from defaults plus `overrides` (the environment is ignored). */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig(new Map(), overrides);
}

/** A name no other test run uses, such as `t-ensure-1732550000000-4821`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 10_000)}`;
}

/** A kafkajs client on the local stack whose logs go to a quiet logger. */
export function testKafka(config: Config = testConfig(), clientId = "test") {
  return createKafka(config.kafka, {
    clientId,
    log: createLogger(clientId, { write: () => {} }),
  });
}

/** The result of {@linkcode runScript}. */
export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run <permissions> <script> <args>` with `env` (and PATH) only,
 * and collects its output.
 */
export async function runScript(
  script: string,
  args: string[] = [],
  env: Record<string, string> = {},
  permissions: string[] = ["--allow-net", "--allow-env", "--allow-read"],
): Promise<ScriptResult> {
  const output = await new Deno.Command("deno", {
    args: ["run", ...permissions, script, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `everyMs` until it returns a truthy value or `timeoutMs` passes (then throws `what`). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, everyMs = 250 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(everyMs);
  }
}

/** A port on 127.0.0.1 that nothing listens on (just freed). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** A temporary file, removed on dispose. */
export interface TempFile extends AsyncDisposable {
  /** Its path. */
  readonly path: string;
}

/**
 * Creates an empty temporary file (with `text` in it, when given) that
 * `await using` removes.
 *
 * @param suffix The end of its name, such as `.jsonl`.
 * @param text What to write into it. @default {""}
 * @returns The file.
 *
 * @example A recording that is removed after the test
 * ```ts ignore
 * await using recording = await tempFile(".jsonl");
 * const producer = startProducer(topic, { RECORD_FILE: recording.path });
 * ```
 */
export async function tempFile(suffix: string, text = ""): Promise<TempFile> {
  const path = await Deno.makeTempFile({ suffix });
  if (text !== "") await Deno.writeTextFile(path, text);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path).catch(() => {});
    },
  };
}

/** On dispose, deletes the topics, their dead-letter and history (`.candles`) topics and value subjects (best effort). */
export function cleanupLater(topics: string[]): AsyncDisposable {
  return {
    async [Symbol.asyncDispose]() {
      const admin = testKafka(testConfig(), "cleanup").admin();
      try {
        await admin.connect();
        const existing = new Set(await admin.listTopics());
        const doomed = topics.flatMap((t) => [t, `${t}.dlq`, `${t}.candles`])
          .filter((t) => existing.has(t));
        if (doomed.length > 0) await admin.deleteTopics({ topics: doomed });
      } catch {
        // best effort
      } finally {
        await admin.disconnect().catch(() => {});
      }
      for (const topic of topics.flatMap((t) => [t, `${t}.candles`])) {
        for (const query of ["", "?permanent=true"]) {
          await fetch(
            `${testConfig().registryUrl}/subjects/${topic}-value${query}`,
            {
              method: "DELETE",
            },
          ).then((r) => r.body?.cancel()).catch(() => {});
        }
      }
    },
  };
}
