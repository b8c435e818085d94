/**
 * Drops two Node-compatibility warnings that the npm libraries trigger on
 * every run and that say nothing to a user. Imported for its effect, before
 * the libraries, by `kafka.ts` and `avro.ts`:
 *
 * - `TimeoutNegativeWarning`: kafkajs 2.2.4 arms timers with negative delays
 *   (its request queue's "throttled until" is -1); they are clamped to 1 ms.
 * - `DEP0030` (SlowBuffer): avsc 5.7.7 allocates its scratch buffer with it.
 *
 * Every other warning is printed as usual.
 *
 * @example
 * ```ts
 * import "./node_warnings.ts";
 * ```
 *
 * @module
 */
import process from "node:process";

const DROPPED = new Set(["TimeoutNegativeWarning", "DEP0030"]);
const emitWarning = process.emitWarning.bind(process);

process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const [kind, code] = rest;
  const options = typeof kind === "object" && kind !== null
    ? kind as { type?: string; code?: string }
    : {};
  const type = typeof kind === "string" ? kind : options.type;
  const theCode = typeof code === "string" ? code : options.code;
  if (DROPPED.has(type ?? "") || DROPPED.has(theCode ?? "")) return;
  // deno-lint-ignore no-explicit-any
  (emitWarning as any)(warning, ...rest);
}) as typeof process.emitWarning;
