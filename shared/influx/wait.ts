/**
 * Waiting for InfluxDB at start: the database is created when missing,
 * retried while InfluxDB does not answer.
 *
 * @module
 */
import { type Logger, retry } from "@cryptocandles/runtime";
import { ensureDatabase, type InfluxOptions } from "./influx.ts";

/**
 * Creates the database if needed, waiting (and saying so once) while
 * InfluxDB is down; logs whether it was created or found.
 *
 * @param influx Where, and which database.
 * @param options The logger and the signal that stops waiting.
 * @throws {InfluxWriteError} When InfluxDB answers with an error no retry mends (such as 401).
 *
 * @example
 * ```ts ignore
 * await waitForDatabase(influx, { log, signal });
 * ```
 */
export async function waitForDatabase(
  influx: InfluxOptions,
  options: { log: Logger; signal: AbortSignal },
): Promise<void> {
  const { log, signal } = options;
  const made = await retry(() => ensureDatabase(influx), {
    maxAttempts: Infinity,
    maxTimeout: 5000,
    signal,
    isRetriable: (e) => (e as { retriable?: boolean }).retriable === true,
    onRetry: (e, n) =>
      n === 1 && log.warn(`waiting for InfluxDB: ${(e as Error).message}`),
  });
  const { database, host } = influx;
  log.info(`database ${database} ${made === "created" ? made : "found"}`, {
    host,
  });
}
