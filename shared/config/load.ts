/**
 * Reads the configuration once from the environment (or `.env` through
 * Deno's `--env-file`) and a script's flags, checks it against the table of
 * variables, and returns it typed.
 *
 * @module
 */
import type { Getter } from "./parse.ts";
import {
  type Config,
  isField,
  RULES,
  SPEC,
  type Spec,
  VARIABLES,
} from "./variables.ts";

/** Something that answers `get(name)`, such as `Deno.env` or a `Map`. */
export interface EnvSource {
  get(name: string): string | undefined;
}

const DEFAULTS = new Map(VARIABLES.map((v) => [v.name, v.default]));

/**
 * Reads and checks the configuration.
 *
 * Flags given as `--kafka-topic X` (any variable, lower-case with dashes)
 * win over the environment; unset or blank variables take the contract's
 * defaults.
 *
 * @param env Where variables are read from.
 * @param overrides Values that win over `env` (from {@linkcode parseFlags}).
 * @returns The typed configuration.
 * @throws {TypeError} One line naming the variable and what was expected.
 *
 * @example Defaults
 * ```ts
 * import { loadConfig } from "@cryptocandles/config";
 * const config = loadConfig(new Map());
 * console.log(config.kafka.topic); // "CRIPTOMONEDAS"
 * ```
 */
export function loadConfig(
  env: EnvSource = Deno.env,
  overrides: Record<string, string> = {},
): Config {
  const get: Getter = (name) => {
    const value = (overrides[name] ?? env.get(name))?.trim();
    return value ? value : DEFAULTS.get(name);
  };
  const config = readTable(SPEC, get);
  for (const rule of RULES) rule(config);
  return config;
}

/** Reads every field of a table (depth first, in its order). */
function readTable<T>(table: Spec<T>, get: Getter): T {
  const entries = Object.entries(table).map(([key, node]) => [
    key,
    isField(node) ? node.read(get) : readTable(node as Spec<unknown>, get),
  ]);
  return Object.fromEntries(entries) as T;
}
