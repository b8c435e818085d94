/**
 * Running external programs (mvn, java, ps, kill, docker) with argument
 * arrays, never a shell string: to their end, collecting their output
 * ({@linkcode runCommand}) or showing it ({@linkcode runInForeground}), in
 * the background outliving this process ({@linkcode spawnDetached}), and the
 * two process questions the local stack asks (`ps`, `kill`). A failure's
 * error carries the tail of the program's output.
 *
 * @module
 */

/** What a finished command printed. */
export interface CommandText {
  stdout: string;
  stderr: string;
}

/** What a finished command printed, and how it ended. */
export interface CommandResult extends CommandText {
  /** Its exit code. */
  code: number;
  /** True when the exit code is 0. */
  success: boolean;
}

/** Options for {@linkcode runCommand}. */
export interface CommandOptions {
  /** Throw when the program exits non-zero. @default {true} */
  check?: boolean;
  /** The folder it runs in. @default {this process's folder} */
  cwd?: string;
}

/**
 * Runs `cmd args…` to its end.
 *
 * @param cmd The program (a name looked up on PATH, or a path).
 * @param args Its arguments.
 * @param options Whether a non-zero exit throws, and the folder.
 * @returns What it printed on stdout and stderr, and its exit code.
 * @throws {Error} When the program is missing ("mvn is not installed"), or,
 *   with `check` (the default), exits non-zero (with the last 15 lines it printed).
 *
 * @example
 * ```ts ignore
 * import { runCommand } from "@cryptocandles/runtime";
 * const { stderr } = await runCommand("java", ["-version"]);
 * ```
 */
export async function runCommand(
  cmd: string,
  args: string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  const { check = true, cwd } = options;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(cmd, { args, cwd, stdin: "null" })
      .output();
  } catch (error) {
    throw notInstalled(cmd, error);
  }
  const decoder = new TextDecoder();
  const result = {
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    code: output.code,
    success: output.success,
  };
  if (check && !output.success) {
    const tail = (result.stdout + result.stderr).trim().split("\n").slice(-15)
      .join("\n");
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${output.code}):\n${tail}`,
    );
  }
  return result;
}

/**
 * Whether `cmd args…` exists and exits 0 (its output is discarded).
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @returns True when it ran and succeeded.
 *
 * @example
 * ```ts ignore
 * import { commandSucceeds } from "@cryptocandles/runtime";
 * if (await commandSucceeds("docker", ["info"])) console.log("a Docker engine answers");
 * ```
 */
export async function commandSucceeds(
  cmd: string,
  args: string[],
): Promise<boolean> {
  return await runCommand(cmd, args).then(() => true, () => false);
}

/** Options for {@linkcode runInForeground}. */
export interface ForegroundOptions {
  /** Variables added to (or replacing) this process's environment. @default {{}} */
  env?: Record<string, string>;
}

/**
 * Runs `cmd args…` to its end with this process's stdout and stderr, for a
 * program whose output is for the user (`deno test`, `deno compile`).
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @param options Extra environment.
 * @returns Its exit code.
 * @throws {Error} When the program is missing ("deno is not installed").
 *
 * @example
 * ```ts ignore
 * import { runInForeground } from "@cryptocandles/runtime";
 * const code = await runInForeground("deno", ["test", "tests/"]);
 * ```
 */
export async function runInForeground(
  cmd: string,
  args: string[],
  options: ForegroundOptions = {},
): Promise<number> {
  const { env = {} } = options;
  try {
    const child = new Deno.Command(cmd, { args, env, stdin: "null" }).spawn();
    return (await child.status).code;
  } catch (error) {
    throw notInstalled(cmd, error);
  }
}

/**
 * Starts `cmd args…` in the background, detached from this process (its
 * own process group, no stdin, output discarded), so that it keeps running
 * after this process exits and a Ctrl-C here does not reach it.
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @returns Its pid.
 * @throws {Error} When the program is missing ("java is not installed").
 *
 * @example
 * ```ts ignore
 * import { spawnDetached } from "@cryptocandles/runtime";
 * const pid = spawnDetached(".stack/jdk/bin/java", ["-jar", "app.jar"]);
 * ```
 */
export function spawnDetached(cmd: string, args: string[]): number {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
  } catch (error) {
    throw notInstalled(cmd, error);
  }
  child.unref();
  // Reap it if it ends while we still run (else it lingers as a zombie).
  child.status.catch(() => {});
  return child.pid;
}

/** A signal {@linkcode signalProcess} can send. */
export type SignalName = "TERM" | "KILL" | "INT";

/**
 * Sends a signal to a process with `kill(1)` (Deno.kill needs an unscoped
 * `--allow-run`; `--allow-run=kill` is enough for this).
 *
 * @param pid The process.
 * @param signal The signal's name.
 * @returns True when it was delivered, false when no such process runs.
 *
 * @example
 * ```ts ignore
 * import { signalProcess } from "@cryptocandles/runtime";
 * await signalProcess(1234, "TERM");
 * ```
 */
export async function signalProcess(
  pid: number,
  signal: SignalName,
): Promise<boolean> {
  const { success } = await runCommand("kill", [`-${signal}`, String(pid)], {
    check: false,
  });
  return success;
}

/** What {@linkcode describeProcess} found. */
export interface ProcessInfo {
  /** The state letters `ps` shows, such as `Sl` (`Z…` for a zombie). */
  state: string;
  /** The command line. */
  args: string;
}

/**
 * Asks `ps` for a process's state and command line (Deno grants /proc only
 * with `-A`).
 *
 * @param pid The process.
 * @returns Its state and command line, or undefined when it does not run
 *   (a zombie counts as not running).
 *
 * @example
 * ```ts ignore
 * import { describeProcess } from "@cryptocandles/runtime";
 * console.log((await describeProcess(Deno.pid))?.args);
 * ```
 */
export async function describeProcess(
  pid: number,
): Promise<ProcessInfo | undefined> {
  const { success, stdout } = await runCommand(
    "ps",
    ["-o", "stat=", "-o", "args=", "-p", String(pid)],
    { check: false },
  );
  const line = stdout.trim();
  const match = /^(\S+)\s+(.*)$/s.exec(line);
  if (!success || !match || match[1].startsWith("Z")) return undefined;
  return { state: match[1], args: match[2] };
}

function notInstalled(cmd: string, error: unknown): unknown {
  return error instanceof Deno.errors.NotFound
    ? new Error(`${cmd} is not installed`)
    : error;
}
