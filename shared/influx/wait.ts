/**
 * Waiting for InfluxDB at start: the database (and the tables the
 * dashboards query) are created when missing, retried while InfluxDB does
 * not answer.
 *
 * @module
 */
import { type Logger, retry } from "@cryptocandles/runtime";
import {
  ensureDatabase,
  ensureTable,
  type InfluxOptions,
  type TableSchema,
} from "./influx.ts";

/** Options for {@linkcode waitForDatabase}. */
export interface WaitForDatabaseOptions {
  log: Logger;
  /** Stops waiting. */
  signal: AbortSignal;
  /**
   * Tables to create when missing, once the database is there. One that
   * InfluxDB refuses to create (a server without `/api/v3/configure/table`,
   * a token without the right) is logged and left to the first write.
   * @default {[]}
   */
  tables?: readonly TableSchema[];
}

/**
 * Creates the database (and `tables`) if needed, waiting (and saying so
 * once) while InfluxDB is down; logs whether each was created or found.
 *
 * @param influx Where, and which database.
 * @param options The logger, the signal that stops waiting and the tables.
 * @throws {InfluxWriteError} When InfluxDB answers the database's creation with an error no retry mends (such as 401).
 *
 * @example
 * ```ts ignore
 * await waitForDatabase(influx, { log, signal, tables: [candleTableSchema("criptomonedas")] });
 * ```
 */
export async function waitForDatabase(
  influx: InfluxOptions,
  options: WaitForDatabaseOptions,
): Promise<void> {
  const { log, signal, tables = [] } = options;
  const patiently = <T>(attempt: () => Promise<T>) =>
    retry(attempt, {
      maxAttempts: Infinity,
      maxTimeout: 5000,
      signal,
      isRetriable: (e) => (e as { retriable?: boolean }).retriable === true,
      onRetry: (e, n) =>
        n === 1 && log.warn(`waiting for InfluxDB: ${(e as Error).message}`),
    });
  const made = await patiently(() => ensureDatabase(influx));
  const { database, host } = influx;
  log.info(`database ${database} ${made === "created" ? made : "found"}`, {
    host,
  });
  for (const schema of tables) {
    try {
      const table = await patiently(() => ensureTable(influx, schema));
      log.info(
        `table ${schema.table} ${table === "created" ? table : "found"}`,
      );
    } catch (error) {
      if (signal.aborted) throw error;
      log.warn(
        `table ${schema.table} not created (${
          (error as Error).message
        }); the first write will make it`,
      );
    }
  }
}
