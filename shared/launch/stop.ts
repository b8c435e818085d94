/**
 * Stopping the stack's own processes: SIGTERM to each, a grace period,
 * SIGKILL for any still running, and their pid files removed. Used for the
 * brokers and registry (stack.ts) and for InfluxDB and Grafana (servers.ts).
 *
 * @module
 */
import { delay, type Logger, signalProcess } from "@cryptocandles/runtime";

/** Options for {@linkcode stopProcesses}. */
export interface StopProcessesOptions {
  /** Whether the process is still the one the stack started (guards against pid reuse). */
  isOurs: (name: string, pid: number) => Promise<boolean>;
  /** The pid file of a process, removed once it stopped. */
  pidFile: (name: string) => string;
  /** How long to wait after SIGTERM before SIGKILL, in ms. */
  graceMs: number;
  /** How often to look, in ms. @default {200} */
  everyMs?: number;
  /** Where "stopped …" lines go. */
  log?: Logger;
}

/**
 * Stops processes the stack started: SIGTERM to all at once, then waits for
 * each up to the grace period and SIGKILLs what is left.
 *
 * @param running The processes, by name and pid.
 * @param options How to tell they are ours, their pid files and the grace period.
 * @returns The names of the processes stopped, in the order given.
 *
 * @example
 * ```ts ignore
 * import { stopProcesses } from "./stop.ts";
 * await stopProcesses([{ name: "kafka-1", pid: 4242 }], { isOurs, pidFile, graceMs: 30_000, log });
 * ```
 */
export async function stopProcesses(
  running: { name: string; pid: number }[],
  options: StopProcessesOptions,
): Promise<string[]> {
  const { isOurs, pidFile, graceMs, everyMs = 200, log } = options;
  for (const s of running) await signalProcess(s.pid, "TERM");
  const deadline = Date.now() + graceMs;
  for (const s of running) {
    while (await isOurs(s.name, s.pid) && Date.now() < deadline) {
      await delay(everyMs);
    }
    if (await isOurs(s.name, s.pid)) {
      log?.warn(`${s.name} ignored SIGTERM for ${graceMs / 1000} s, killing`, {
        pid: s.pid,
      });
      await signalProcess(s.pid, "KILL");
    }
    await Deno.remove(pidFile(s.name)).catch(() => {});
    log?.info(`stopped ${s.name}`, { pid: s.pid });
  }
  return running.map((s) => s.name);
}
