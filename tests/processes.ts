/**
 * The project's scripts as child processes for integration tests: spawned
 * with `deno run`, a cleared environment and the permissions given, their
 * `LOG_FORMAT=json` lines parsed as they arrive, waited on, signalled
 * (SIGTERM for a graceful stop, SIGKILL for a crash) and reaped.
 *
 * @module
 */
import { waitFor } from "./support.ts";

/** One `LOG_FORMAT=json` line of a script (see shared/runtime/log.ts). */
export interface LogLine {
  /** ISO time the line was written. */
  time: string;
  /** `debug`, `info`, `warn` or `error`. */
  level: string;
  /** The logger's name, such as `consumer c1`. */
  name: string;
  /** The message. */
  msg: string;
  /** The line's extra fields. */
  [field: string]: unknown;
}

/** Options for {@linkcode spawnScript}. */
export interface SpawnOptions {
  /** The child's whole environment besides `PATH` and `NO_COLOR=1`. @default {{}} */
  env?: Record<string, string>;
  /** Arguments after the script. @default {[]} */
  args?: string[];
  /** `deno run` permission flags. @default {["--allow-net", "--allow-env", "--allow-read"]} */
  permissions?: string[];
}

/** How a child ended. */
export interface ScriptExit {
  /** Exit code (128 + n when a signal n ended it). */
  code: number;
  /** The signal that ended it, if one did. */
  signal: Deno.Signal | null;
  /** True when it did not end in time after the first signal and was sent SIGKILL. */
  killedAfterTimeout: boolean;
  /** Everything it wrote to stderr. */
  stderr: string;
  /** Everything it wrote to stdout. */
  stdout: string;
}

/** Options for {@linkcode ScriptProcess.waitForLog}. */
export interface WaitForLogOptions {
  /** Give up after this many ms. @default {30000} */
  timeoutMs?: number;
  /** Only look at lines from this index on (a {@linkcode ScriptProcess.mark}). @default {0} */
  since?: number;
}

/** Options for {@linkcode ScriptProcess.stop}. */
export interface StopOptions {
  /** The first signal. @default {"SIGTERM"} */
  signal?: Deno.Signal;
  /** SIGKILL when the child has not exited this many ms after the first signal. @default {20000} */
  timeoutMs?: number;
}

/** A running script from {@linkcode spawnScript}. */
export interface ScriptProcess extends AsyncDisposable {
  /** The script path, for messages. */
  readonly script: string;
  /** The child's process id. */
  readonly pid: number;
  /** True once the child has exited. */
  readonly exited: boolean;
  /** Everything written to stderr so far. */
  readonly stderr: string;
  /** The JSON log lines so far, in order (non-JSON lines are skipped). */
  logs(): LogLine[];
  /** The number of JSON log lines so far: pass it as `since` to wait for later lines only. */
  mark(): number;
  /** Every complete stderr line so far, JSON or not. */
  textLines(): string[];
  /**
   * Waits for a complete stderr line that `pattern` matches (any format).
   * @throws {Error} When it times out or the child exits first, with the tail of its stderr.
   */
  waitForText(pattern: RegExp, options?: WaitForLogOptions): Promise<string>;
  /**
   * Waits for a JSON log line that `match` accepts.
   * @throws {Error} When it times out or the child exits first, with the tail of its stderr.
   */
  waitForLog(
    what: string,
    match: (line: LogLine) => boolean,
    options?: WaitForLogOptions,
  ): Promise<LogLine>;
  /** Sends `signal` unless the child already exited. @default {"SIGTERM"} */
  kill(signal?: Deno.Signal): void;
  /** Signals the child, SIGKILLs it after `timeoutMs`, and waits for the exit and its output. Idempotent. */
  stop(options?: StopOptions): Promise<ScriptExit>;
  /**
   * Waits for the child to exit on its own; SIGKILLs it after `timeoutMs`
   * (then `killedAfterTimeout` is true). @default {60000}
   */
  waitForExit(timeoutMs?: number): Promise<ScriptExit>;
}

/**
 * Spawns `deno run <permissions> <script> <args>` with only `env` (plus
 * `PATH` and `NO_COLOR=1`), stdin closed and stdout/stderr read as they come.
 *
 * @param script The script path, relative to the working directory.
 * @param options Environment, arguments and permissions.
 * @returns The running script; `stop()` it or `await using` it (SIGKILL on dispose).
 *
 * @example Run a consumer until it joins its group, then stop it gracefully
 * ```ts ignore
 * await using consumer = spawnScript("scripts/consumer.ts", {
 *   args: ["--client-id", "c1"],
 *   env: { KAFKA_TOPIC: topic, LOG_FORMAT: "json" },
 * });
 * await consumer.waitForLog("c1 to join", (l) => l.msg === "joined group");
 * const { code } = await consumer.stop();
 * ```
 */
export function spawnScript(
  script: string,
  options: SpawnOptions = {},
): ScriptProcess {
  const {
    env = {},
    args = [],
    permissions = ["--allow-net", "--allow-env", "--allow-read"],
  } = options;
  const child = new Deno.Command("deno", {
    args: ["run", ...permissions, script, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let stdout = "";
  let partial = "";
  const lines: LogLine[] = [];
  const texts: string[] = [];
  const readingErr = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        stderr += chunk;
        partial += chunk;
        const complete = partial.split("\n");
        partial = complete.pop() ?? "";
        for (const text of complete) {
          texts.push(text);
          const line = parseLogLine(text);
          if (line) lines.push(line);
        }
      },
    }),
  ).catch(() => {});
  const readingOut = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        stdout += chunk;
      },
    }),
  ).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  let stopping: Promise<ScriptExit> | undefined;
  /** Waits for the exit up to `timeoutMs`, then SIGKILLs. */
  const exitWithin = async (timeoutMs: number): Promise<ScriptExit> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), timeoutMs);
    });
    const outcome = await Promise.race([status, late]);
    clearTimeout(timer);
    if (outcome === "late") kill("SIGKILL");
    return await finish(outcome === "late");
  };

  /** Waits for an entry of `list` (from `since` on) that `match` accepts. */
  async function waitIn<T>(
    list: T[],
    what: string,
    match: (entry: T) => boolean,
    { timeoutMs = 30_000, since = 0 }: WaitForLogOptions,
  ): Promise<T> {
    try {
      return await waitFor(what, () => {
        const found = list.slice(since).find(match);
        if (found !== undefined) return found;
        if (exited) throw new Error(`${script} exited before ${what}`);
        return undefined;
      }, { timeoutMs, everyMs: 50 });
    } catch (error) {
      throw new Error(
        `${(error as Error).message}; stderr ends:\n${stderr.slice(-3000)}`,
      );
    }
  }

  const kill = (signal: Deno.Signal = "SIGTERM") => {
    if (exited) return;
    try {
      child.kill(signal);
    } catch {
      // It exited meanwhile.
    }
  };
  const finish = async (killedAfterTimeout: boolean): Promise<ScriptExit> => {
    const { code, signal } = await status;
    await Promise.all([readingErr, readingOut]);
    return { code, signal, killedAfterTimeout, stderr, stdout };
  };

  return {
    script,
    pid: child.pid,
    get exited() {
      return exited;
    },
    get stderr() {
      return stderr;
    },
    logs: () => [...lines],
    mark: () => lines.length,
    textLines: () => [...texts],
    waitForLog(what, match, waitOptions = {}) {
      return waitIn(lines, what, match, waitOptions);
    },
    waitForText(pattern, waitOptions = {}) {
      return waitIn(
        texts,
        String(pattern),
        (t) => pattern.test(t),
        waitOptions,
      );
    },
    kill,
    stop(stopOptions = {}) {
      const { signal = "SIGTERM", timeoutMs = 20_000 } = stopOptions;
      stopping ??= (async () => {
        if (exited) return await finish(false);
        kill(signal);
        return await exitWithin(timeoutMs);
      })();
      return stopping;
    },
    waitForExit(timeoutMs = 60_000) {
      stopping ??= exitWithin(timeoutMs);
      return stopping;
    },
    async [Symbol.asyncDispose]() {
      kill("SIGKILL");
      await status;
      await Promise.all([readingErr, readingOut]);
    },
  };
}

/**
 * Stops several scripts at once (SIGTERM, SIGKILL after `timeoutMs`), for
 * `finally` blocks; never throws.
 *
 * @param processes The scripts; `undefined` entries are skipped.
 * @param options The signal and the grace period.
 * @returns Their exits, in the order given (`undefined` for skipped ones).
 *
 * @example
 * ```ts ignore
 * try { ... } finally { await stopAll([producer, c1, c2]); }
 * ```
 */
export async function stopAll(
  processes: (ScriptProcess | undefined)[],
  options: StopOptions = {},
): Promise<(ScriptExit | undefined)[]> {
  return await Promise.all(
    processes.map((p) => p?.stop(options).catch(() => undefined)),
  );
}

/**
 * Parses one stderr line as a JSON log line.
 *
 * @param text One line of stderr.
 * @returns The line, or `undefined` when it is not a JSON object with a `msg`.
 *
 * @example
 * ```ts
 * import { parseLogLine } from "./processes.ts";
 * console.log(parseLogLine('{"level":"info","name":"x","msg":"hi","time":"t"}')?.msg); // "hi"
 * ```
 */
export function parseLogLine(text: string): LogLine | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(trimmed);
    return typeof value?.msg === "string" ? value as LogLine : undefined;
  } catch {
    return undefined;
  }
}
