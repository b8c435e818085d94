/**
 * A script's command line: `--<variable>` for every variable, `--help`, and
 * the script's own flags; and the `--help` text that lists them.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { VARIABLES } from "./variables.ts";

/** A script's own flag, in `node:util` `parseArgs` form. */
export interface FlagSpec {
  /** `string` takes a value, `boolean` is a switch. */
  type: "string" | "boolean";
}

/** The result of {@linkcode parseFlags}. */
export interface Flags {
  /** Variable values given as flags, keyed by variable name. */
  overrides: Record<string, string>;
  /** `--help` was given. */
  help: boolean;
  /** Flags the script declared itself (see `extra`). */
  extra: Record<string, string | boolean | undefined>;
}

/**
 * Parses a script's flags: `--<variable>` for every variable (for example
 * `--source synthetic`, `--kafka-topic T`), `--help`, and the script's own
 * extra flags.
 *
 * @param args The command-line arguments.
 * @param extra The script's own flags, in `node:util` `parseArgs` form.
 * @returns Overrides for {@linkcode loadConfig}, the help switch and extras.
 * @throws {TypeError} On an unknown flag or a stray argument, naming it.
 *
 * @example Override the source
 * ```ts
 * import { loadConfig, parseFlags } from "@cryptocandles/config";
 * const { overrides } = parseFlags(["--source", "synthetic"]);
 * console.log(loadConfig(new Map(), overrides).source); // "synthetic"
 * ```
 */
export function parseFlags(
  args: string[],
  extra: Record<string, FlagSpec> = {},
): Flags {
  const byFlag = new Map(VARIABLES.map((v) => [flagName(v.name), v.name]));
  const options: Record<string, FlagSpec> = {
    help: { type: "boolean" },
    ...extra,
  };
  for (const flag of byFlag.keys()) options[flag] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new TypeError((error as Error).message.split("\n")[0]);
  }
  const flags: Flags = { overrides: {}, help: values.help === true, extra: {} };
  for (const [key, value] of Object.entries(values)) {
    const variable = byFlag.get(key);
    if (variable) flags.overrides[variable] = String(value);
    else if (key !== "help") flags.extra[key] = value;
  }
  return flags;
}

/**
 * Renders the `--help` text: usage, the script's own flags, then every
 * variable with its default.
 *
 * @param usage The first line, such as `deno task producer [flags]`.
 * @param own Lines describing the script's own flags.
 * @returns The help text.
 *
 * @example Print a script's help
 * ```ts
 * import { helpText } from "@cryptocandles/config";
 * console.log(helpText("deno task producer [flags]"));
 * ```
 */
export function helpText(usage: string, own: string[] = []): string {
  const rows = VARIABLES.map((v) =>
    `  --${flagName(v.name).padEnd(22)} ${v.name.padEnd(22)} ${v.help}${
      v.default ? ` (default ${v.default})` : ""
    }`
  );
  return [
    `usage: ${usage}`,
    ...own.map((line) => `  ${line}`),
    "",
    "Every setting is a flag or an environment variable (flags win; .env is read by the deno tasks):",
    ...rows,
  ].join("\n");
}

/** `KAFKA_TOPIC` → `kafka-topic`. */
function flagName(variable: string): string {
  return variable.toLowerCase().replaceAll("_", "-");
}
