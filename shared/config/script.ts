/**
 * The skeleton every script runs in: flags, `--help`, configuration, the
 * logger, one `AbortController` aborted on SIGINT/SIGTERM, then the script's
 * `main`, and the exit code. The only place of a script that exits.
 *
 * Exit codes: 0 done, 1 runtime failure, 2 bad configuration or usage.
 *
 * @module
 */
import {
  createLogger,
  type Logger,
  onShutdownSignals,
} from "@cryptocandles/runtime";
import { type Flags, type FlagSpec, helpText, parseFlags } from "./flags.ts";
import { loadConfig } from "./load.ts";
import type { Config } from "./variables.ts";

/**
 * A bad flag or setting found by the script itself (beyond the variables):
 * the skeleton prints `<script>: <message>` as one line and exits 2.
 *
 * @example Refuse a flag
 * ```ts
 * import { UsageError } from "@cryptocandles/config";
 * const error = new UsageError("--hours must be a number from 0 to 720");
 * console.log(error.name); // "UsageError"
 * ```
 */
export class UsageError extends TypeError {
  /**
   * @param message One line naming the flag or variable.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** What a script's `main` gets from {@linkcode runScript}. */
export interface ScriptContext {
  /** The checked configuration (flags over environment over defaults). */
  config: Config;
  /** The script's logger (`LOG_FORMAT`). */
  log: Logger;
  /** Aborted on the first SIGINT/SIGTERM: every loop and wait takes it. */
  signal: AbortSignal;
  /** Aborts `signal` from inside (a fatal error stops the script as SIGINT would). */
  abort: (reason?: unknown) => void;
  /** Resolves once `signal` aborts: the script is asked to stop. */
  stopped: Promise<void>;
  /** The parsed flags: variable overrides and the script's own (`extra`). */
  flags: Flags;
}

/** How {@linkcode runScript} makes the logger. */
export interface LoggerChoice {
  /** The name before every line. @default {the script's name} */
  name?: string;
  /** Where lines go. @default {writing to stderr} */
  write?: (line: string) => void;
}

/** A script for {@linkcode runScript}. */
export interface ScriptOptions {
  /** The script's name: the prefix of its error lines and of its logger. */
  name: string;
  /** The first line of `--help`. @default {"deno task <name> [flags]"} */
  usage?: string;
  /** The script's own flags besides `--<variable>` and `--help`, by type. @default {{}} */
  flags?: Record<string, FlagSpec["type"]>;
  /** `--help` lines describing the script's own flags. @default {[]} */
  help?: string[];
  /** Exit 1 when still running this long after the first signal, in ms. @default {10000} */
  hardExitMs?: number;
  /** The logger's name and sink, from the configuration and flags. @default {the script's name, stderr} */
  logger?: (config: Config, flags: Flags) => LoggerChoice;
  /**
   * The script: returns its exit code (nothing for 0) or throws. A thrown
   * {@linkcode UsageError} exits 2 with one line; an `AbortError` once
   * `signal` is aborted exits 0; anything else is logged and exits 1.
   */
  main(context: ScriptContext): Promise<number | void> | number | void;
}

/**
 * Runs a script: parses flags, prints `--help` (exit 0), loads the
 * configuration (a bad value: one line `<name>: <message>`, exit 2), creates
 * the logger and the shutdown handler (first SIGINT/SIGTERM aborts
 * `signal`, a second or the hard-exit timer exits 1), calls `main`, and
 * exits with its code. A refused permission becomes one line saying what was
 * refused and how to grant it, exit 1.
 *
 * @param script The script's name, flags, help and `main`.
 * @returns Never: it exits the process.
 *
 * @example A script
 * ```ts ignore
 * import { runScript } from "@cryptocandles/config";
 * await runScript({
 *   name: "hello",
 *   main({ config, log }) {
 *     log.info("configured", { topic: config.kafka.topic });
 *   },
 * });
 * ```
 */
export async function runScript(script: ScriptOptions): Promise<never> {
  Deno.exit(await exitCodeOf(script));
}

async function exitCodeOf(script: ScriptOptions): Promise<number> {
  const { name } = script;
  let config: Config;
  let flags: Flags;
  try {
    const own = Object.entries(script.flags ?? {});
    flags = parseFlags(
      Deno.args,
      Object.fromEntries(own.map(([flag, type]) => [flag, { type }])),
    );
    if (flags.help) {
      const usage = script.usage ?? `deno task ${name} [flags]`;
      writeLine(Deno.stdout, helpText(usage, script.help));
      return 0;
    }
    config = loadConfig(Deno.env, flags.overrides);
  } catch (error) {
    writeLine(Deno.stderr, `${name}: ${describeError(error, name)}`);
    return isPermissionError(error) ? 1 : 2;
  }
  const choice = script.logger?.(config, flags) ?? {};
  const log = createLogger(choice.name ?? name, {
    format: config.logFormat,
    write: choice.write,
  });
  const controller = new AbortController();
  const { hardExitMs } = script;
  const release = onShutdownSignals(controller, log, { hardExitMs });
  const { signal } = controller;
  const abort = (reason?: unknown) => controller.abort(reason);
  const stopped = new Promise<void>((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
  try {
    const context = { config, log, signal, abort, stopped, flags };
    return await script.main(context) ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      writeLine(Deno.stderr, `${name}: ${error.message}`);
      return 2;
    }
    if (signal.aborted && (error as Error)?.name === "AbortError") return 0;
    log.error(describeError(error, name));
    return 1;
  } finally {
    release();
  }
}

/** What `Requires net access to "host:port"` asks for, and the verb for it. */
const REFUSED = /Requires (\w+) access to "([^"]*)"/;
const VERBS: Record<string, string> = {
  net: "reach",
  read: "read",
  write: "write",
  env: "read the variable",
  run: "run",
};

/**
 * An error's message, or for a refused permission (`Deno.errors.NotCapable`,
 * also when a library wrapped it) one line naming what was refused and how
 * to grant it.
 *
 * @param error Anything thrown.
 * @param script The task whose permission set refused it; the hint then
 *   names `deno task permissions <script>` instead of a bare flag.
 * @returns One line.
 *
 * @example A refused host
 * ```ts
 * import { describeError } from "@cryptocandles/config";
 * const refused = new Deno.errors.NotCapable(
 *   'Requires net access to "kafka.example.com:9092", run again with the --allow-net flag',
 * );
 * console.log(describeError(refused));
 * // not allowed to reach kafka.example.com:9092: run it through `deno task launch` (grants the configured hosts) or add --allow-net=kafka.example.com:9092
 * ```
 */
export function describeError(error: unknown, script?: string): string {
  const refused = refusal(error);
  if (!refused) {
    return error instanceof Error ? error.message : String(error);
  }
  const [kind, target] = refused;
  const flag = `--allow-${kind}=${target}`;
  // launch runs each script with its set plus the configured hosts. Under a
  // permission set (-P), a flag of the same kind replaces the set's list, so
  // the hint for a task names the line that keeps both.
  const how = script === undefined
    ? kind === "net"
      ? `run it through \`deno task launch\` (grants the configured hosts) or add ${flag}`
      : `add ${flag}`
    : kind === "net"
    ? `run it through \`deno task launch\` (grants the configured hosts) or with the \`deno run\` line that \`deno task permissions ${script}\` prints`
    : `the permission set "${script}" in deno.json does not allow it (\`deno task permissions\` lists what each set may do)`;
  return `not allowed to ${VERBS[kind] ?? `use ${kind} on`} ${target}: ${how}`;
}

function isPermissionError(error: unknown): boolean {
  return refusal(error) !== undefined;
}

/** `[kind, target]` of a refused permission in `error` or its causes. */
function refusal(error: unknown, depth = 0): [string, string] | undefined {
  if (!(error instanceof Error) || depth > 5) return undefined;
  const match = REFUSED.exec(error.message);
  if (match) return [match[1], match[2]];
  const inner = error as Error & { originalError?: unknown };
  return refusal(error.cause, depth + 1) ??
    refusal(inner.originalError, depth + 1);
}

function writeLine(to: { writeSync(p: Uint8Array): number }, text: string) {
  const bytes = new TextEncoder().encode(`${text}\n`);
  for (let done = 0; done < bytes.length;) {
    done += to.writeSync(bytes.subarray(done));
  }
}
