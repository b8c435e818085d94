/**
 * Runs the project's scripts as supervised children for `launch.ts`: each
 * is `deno run` with its own narrow permissions, its JSON log lines are
 * parsed (for the status view) and shown prefixed with its name, a crash
 * is restarted with capped back-off, and exit code 2 (bad configuration)
 * stops everything.
 *
 * @module
 */
import type { Logger } from "@cryptocandles/runtime";
import { backoff, delay, writeStderr } from "@cryptocandles/runtime";

/** How to run one child. */
export interface ChildSpec {
  /** Name shown before its lines, such as `consumer-1`. */
  name: string;
  /** The script, such as `scripts/producer.ts`. */
  script: string;
  /** Permission flags, such as `--allow-net=127.0.0.1:19090`. */
  permissions: string[];
  /** Extra arguments. */
  args?: string[];
  /** Environment (complete: the child gets only this, plus PATH). */
  env: Record<string, string>;
  /** Restart on a crash. @default {true} */
  restart?: boolean;
}

/** A JSON log line of a child. */
export type LogEvent = Record<string, unknown> & {
  msg?: string;
  level?: string;
  name?: string;
};

/** A supervised child. */
export interface Supervised {
  readonly spec: ChildSpec;
  /** Current pid, while running. */
  pid?: number;
  /** Restarts so far. */
  restarts: number;
  /** Resolves with the exit code when the child ends for good (stopped, exit 0, or exit 2). */
  done: Promise<number>;
  /** Stops the child (SIGTERM, then SIGKILL after `graceMs`) and does not restart it. */
  stop(graceMs?: number): Promise<void>;
}

/** Options for {@linkcode supervise}. */
export interface SuperviseOptions {
  log: Logger;
  /** Gets each parsed JSON line (for status), with the child's run name (`producer`, `producer#1` after a restart). */
  onEvent?: (name: string, event: LogEvent) => void;
  /** Prints a child's line for people. @default {writeStderr (the logger's own stderr sink)} */
  print?: (line: string) => void;
  /** Restarts allowed before giving up. @default {20} */
  maxRestarts?: number;
}

/**
 * Starts a child and keeps it running: a crash (exit other than 0 and 2,
 * or a signal) restarts it after 1 s, 2 s, 4 s … up to 30 s.
 *
 * @param spec What to run.
 * @param options Logger, event sink, printer and restart cap.
 * @returns The supervised child.
 *
 * @example
 * ```ts ignore
 * const producer = supervise({ name: "producer", script: "scripts/producer.ts", permissions, env }, { log });
 * await producer.stop();
 * ```
 */
export function supervise(
  spec: ChildSpec,
  options: SuperviseOptions,
): Supervised {
  const { log, onEvent, print = writeStderr, maxRestarts = 20 } = options;
  let child: Deno.ChildProcess | undefined;
  let stopping = false;
  let wake: (() => void) | undefined;
  const self: Supervised = {
    spec,
    restarts: 0,
    done: undefined as unknown as Promise<number>,
    async stop(graceMs = 15_000) {
      stopping = true;
      wake?.();
      if (!child) return;
      const current = child;
      try {
        current.kill("SIGTERM");
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          current.kill("SIGKILL");
        } catch { /* gone */ }
      }, graceMs);
      await current.status;
      clearTimeout(timer);
      await self.done.catch(() => {});
    },
  };
  const [command, args] = commandFor(spec);
  self.done = (async () => {
    while (true) {
      child = new Deno.Command(command, {
        args,
        env: {
          PATH: Deno.env.get("PATH") ?? "",
          NO_COLOR: "1",
          ...spec.env,
          LOG_FORMAT: "json",
        },
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        detached: true,
      }).spawn();
      self.pid = child.pid;
      const reading = Promise.all(
        [child.stdout, child.stderr].map((s) =>
          readLines(
            s,
            spec.name,
            print,
            onEvent &&
              ((_, e) => onEvent(runName(spec.name, self.restarts), e)),
          )
        ),
      );
      const { code, signal } = await child.status;
      await reading;
      self.pid = undefined;
      child = undefined;
      if (stopping || code === 0 || code === 2 || spec.restart === false) {
        return code;
      }
      if (self.restarts >= maxRestarts) {
        log.error(`${spec.name} crashed ${self.restarts + 1} times: giving up`);
        return code;
      }
      self.restarts++;
      const wait = backoff(self.restarts, {
        minTimeout: 1000,
        maxTimeout: 30_000,
        jitter: 0.2,
      });
      log.warn(
        `${spec.name} exited (${
          signal ?? `code ${code}`
        }); restart ${self.restarts} in ${wait} ms`,
      );
      await new Promise<void>((resolve) => {
        wake = resolve;
        delay(wait).then(resolve);
      });
      if (stopping) return code;
    }
  })();
  return self;
}

/** The name events of a child's nth restart carry: `consumer-1`, then `consumer-1#1` … (counters restart with it). */
function runName(name: string, restarts: number): string {
  return restarts === 0 ? name : `${name}#${restarts}`;
}

/**
 * `deno run <permissions> <script>`, or, when launch itself is a
 * `deno compile` binary, the sibling binary of the script (dist/producer …),
 * whose permissions were fixed at compile time.
 */
function commandFor(spec: ChildSpec): [string, string[]] {
  const self = Deno.execPath();
  if (/(^|\/)deno(\.exe)?$/.test(self)) {
    return ["deno", [
      "run",
      ...spec.permissions,
      spec.script,
      ...(spec.args ?? []),
    ]];
  }
  const name = spec.script.replace(/^.*\//, "").replace(/\.ts$/, "");
  return [self.replace(/[^/]*$/, name), spec.args ?? []];
}

/**
 * Runs a script to its end (for one-shot steps such as setup-schema),
 * printing its lines prefixed.
 *
 * @param spec What to run (`restart` is ignored).
 * @param options Logger, event sink and printer.
 * @returns The exit code.
 *
 * @example
 * ```ts ignore
 * const code = await runOnce({ name: "setup-schema", script: "scripts/setup-schema.ts", permissions, env }, { log });
 * ```
 */
export async function runOnce(
  spec: ChildSpec,
  options: SuperviseOptions,
): Promise<number> {
  return await supervise({ ...spec, restart: false }, options).done;
}

async function readLines(
  stream: ReadableStream<Uint8Array>,
  name: string,
  print: (line: string) => void,
  onEvent?: (name: string, event: LogEvent) => void,
): Promise<void> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      handleLine(line, name, print, onEvent);
    }
  }
  if (buffer) handleLine(buffer, name, print, onEvent);
}

function handleLine(
  line: string,
  name: string,
  print: (line: string) => void,
  onEvent?: (name: string, event: LogEvent) => void,
): void {
  if (line.trim() === "") return;
  let event: LogEvent | undefined;
  if (line.startsWith("{")) {
    try {
      event = JSON.parse(line);
    } catch { /* not JSON: print as is */ }
  }
  if (!event) return print(`[${name}] ${line}`);
  onEvent?.(name, event);
  const { time: _t, level, name: _n, msg, ...fields } = event;
  const extra = Object.entries(fields).map(([k, v]) =>
    ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`
  )
    .join("");
  print(
    `[${name}] ${
      level === "info" || level === "debug" ? "" : `${level}: `
    }${msg}${extra}`,
  );
}
