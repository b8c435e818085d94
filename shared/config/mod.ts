/**
 * The project's configuration and script skeleton: every variable of the
 * interface contract, read once from the environment (or `.env` through
 * Deno's `--env-file`) and from a script's flags, checked and typed; the
 * `--help` text; and {@linkcode runScript}, which runs a script's `main`
 * with its configuration, logger and shutdown signal.
 *
 * @module
 */
export {
  type AssignorName,
  ASSIGNORS,
  type Config,
  LOG_FORMATS,
  SASL_MECHANISMS,
  type SaslMechanism,
  type Source,
  SOURCES,
  VARIABLES,
} from "./variables.ts";
export type { Variable } from "./parse.ts";
export { type EnvSource, loadConfig } from "./load.ts";
export { type Flags, type FlagSpec, helpText, parseFlags } from "./flags.ts";
export {
  describeError,
  type LoggerChoice,
  runScript,
  type ScriptContext,
  type ScriptOptions,
  UsageError,
} from "./script.ts";
