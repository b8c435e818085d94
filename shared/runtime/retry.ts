/**
 * One retry helper for the whole project, shaped like `@std/async/retry`
 * (which JSR keeps out of reach here), plus the backoff arithmetic on its
 * own for loops that reconnect rather than re-call.
 *
 * @module
 */

/** Options for {@linkcode retry} and {@linkcode backoff}. */
export interface RetryOptions {
  /** Attempts in all, the first included. @default {5} */
  maxAttempts?: number;
  /** Delay before the second attempt, in ms. @default {200} */
  minTimeout?: number;
  /** Longest delay, in ms. @default {30000} */
  maxTimeout?: number;
  /** Growth of the delay per attempt. @default {2} */
  multiplier?: number;
  /** Fraction of each delay drawn at random, 0 to 1. @default {0.5} */
  jitter?: number;
  /** Whether an error is worth another attempt. @default {() => true} */
  isRetriable?: (error: unknown) => boolean;
  /** A delay an error asks for (such as Retry-After), in ms, instead of the backoff. */
  delayFor?: (error: unknown) => number | undefined;
  /** Called before each wait, for logging. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops waiting and retrying. */
  signal?: AbortSignal;
  /** Random source in [0, 1), injected by tests. @default {Math.random} */
  random?: () => number;
}

/**
 * The delay before attempt `attempt + 1`: `minTimeout * multiplier^(attempt-1)`,
 * capped at `maxTimeout`, with `jitter` of it drawn at random.
 *
 * @param attempt The attempt that just failed, from 1.
 * @param options Timeouts, multiplier, jitter and random source.
 * @returns The delay in ms.
 * @throws {RangeError} When jitter is not between 0 and 1.
 *
 * @example
 * ```ts
 * import { backoff } from "@cryptocandles/runtime";
 * console.log(backoff(3, { minTimeout: 100, jitter: 0 })); // 400
 * ```
 */
export function backoff(attempt: number, options: RetryOptions = {}): number {
  const {
    minTimeout = 200,
    maxTimeout = 30_000,
    multiplier = 2,
    jitter = 0.5,
    random = Math.random,
  } = options;
  if (jitter < 0 || jitter > 1) {
    throw new RangeError(
      `Cannot back off as 'jitter' must be between 0 and 1: current value is ${jitter}`,
    );
  }
  const exact = Math.min(maxTimeout, minTimeout * multiplier ** (attempt - 1));
  return Math.round(exact * (1 - jitter * random()));
}

/**
 * Calls `fn` until it resolves, an error is not retriable, attempts run
 * out, or `signal` aborts. The error thrown is the last one, unchanged (its
 * message says what failed; nothing is wrapped in "failed after N attempts").
 *
 * @param fn The work; it gets the attempt number, from 1.
 * @param options Attempts, backoff, which errors to retry, and a signal.
 * @returns What `fn` resolved to.
 * @throws The last error of `fn`, or the signal's reason.
 *
 * @example
 * ```ts
 * import { retry } from "@cryptocandles/runtime";
 * let calls = 0;
 * const value = await retry(() => ++calls < 3 ? Promise.reject(new Error("flaky")) : Promise.resolve(calls), { minTimeout: 1 });
 * console.log(value); // 3
 * ```
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const {
    maxAttempts = 5,
    isRetriable = () => true,
    delayFor,
    onRetry,
    signal,
  } = options;
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= maxAttempts || !isRetriable(error) || signal?.aborted) {
        throw error;
      }
      const ms = delayFor?.(error) ?? backoff(attempt, options);
      onRetry?.(error, attempt, ms);
      await delay(ms, signal);
    }
  }
}

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts.
 *
 * @param ms The delay.
 * @param signal Aborts the wait.
 * @returns A promise that resolves after `ms`.
 *
 * @example
 * ```ts
 * import { delay } from "@cryptocandles/runtime";
 * await delay(10);
 * ```
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
