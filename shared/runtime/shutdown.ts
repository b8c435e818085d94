/**
 * Graceful shutdown on SIGINT/SIGTERM, the same in every script: the first
 * signal aborts the script's one `AbortController` (loops end, work in hand
 * is flushed, clients disconnect); a second signal, or 10 s without the
 * process ending, exits at once with code 1.
 *
 * A repeat within 1 s of the first counts as the same signal: Ctrl-C on
 * `deno task X` reaches the script twice (from the terminal, and forwarded
 * by `deno task`).
 *
 * @module
 */
import type { Logger } from "./log.ts";

/** Options for {@linkcode onShutdownSignals}. */
export interface ShutdownOptions {
  /** Exit 1 when still running this long after the first signal, in ms. @default {10000} */
  hardExitMs?: number;
  /** Signals to handle. @default {["SIGINT", "SIGTERM"]} */
  signals?: Deno.Signal[];
}

/**
 * Aborts `controller` on the first SIGINT/SIGTERM and arms the hard exit.
 *
 * @param controller The script's controller; its signal goes to every loop.
 * @param log Where "stopping" and the hard exit are logged.
 * @param options Hard-exit delay and the signals.
 * @returns A function that removes the listeners (call it once shut down).
 *
 * @example
 * ```ts ignore
 * const controller = new AbortController();
 * const release = onShutdownSignals(controller, log);
 * await work(controller.signal);
 * release();
 * ```
 */
export function onShutdownSignals(
  controller: AbortController,
  log: Logger,
  options: ShutdownOptions = {},
): () => void {
  const { hardExitMs = 10_000, signals = ["SIGINT", "SIGTERM"] } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let firstAt = 0;
  const handler = (name: Deno.Signal) => () => {
    if (controller.signal.aborted && Date.now() - firstAt < 1000) return;
    if (controller.signal.aborted) {
      log.warn(`second ${name}: exiting now`);
      Deno.exit(1);
    }
    firstAt = Date.now();
    log.info(`${name}: stopping`);
    controller.abort(new DOMException(`${name} received`, "AbortError"));
    timer = setTimeout(() => {
      log.error(`still running ${hardExitMs / 1000} s after ${name}: exiting`);
      Deno.exit(1);
    }, hardExitMs);
    Deno.unrefTimer(timer as unknown as number);
  };
  const listeners = signals.map((name) => [name, handler(name)] as const);
  for (const [name, listener] of listeners) {
    Deno.addSignalListener(name, listener);
  }
  return () => {
    for (const [name, listener] of listeners) {
      Deno.removeSignalListener(name, listener);
    }
    clearTimeout(timer);
  };
}
