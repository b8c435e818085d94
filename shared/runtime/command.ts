/**
 * Running an external program (mvn, java, docker) with argument arrays, never
 * a shell string; a failure's error carries the tail of its output.
 *
 * @module
 */

/** What a finished command printed. */
export interface CommandText {
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd args…` to its end.
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @returns What it printed on stdout and stderr.
 * @throws {Error} When the program is missing ("mvn is not installed"), or
 *   exits non-zero (with the last 15 lines it printed).
 *
 * @example
 * ```ts ignore
 * const { stderr } = await runCommand("java", ["-version"]);
 * ```
 */
export async function runCommand(
  cmd: string,
  args: string[],
): Promise<CommandText> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(cmd, { args, stdin: "null" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${cmd} is not installed`);
    }
    throw error;
  }
  const decoder = new TextDecoder();
  const text = {
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  if (!output.success) {
    const tail = (text.stdout + text.stderr).trim().split("\n").slice(-15).join(
      "\n",
    );
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${output.code}):\n${tail}`,
    );
  }
  return text;
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
 * if (await commandSucceeds("docker", ["info"])) console.log("a Docker engine answers");
 * ```
 */
export async function commandSucceeds(
  cmd: string,
  args: string[],
): Promise<boolean> {
  return await runCommand(cmd, args).then(() => true, () => false);
}
