/**
 * Runs a server of the local stack with its output appended to a log file,
 * for programs that only log to stdout/stderr (InfluxDB 3 Core): Deno
 * cannot hand a detached child a file as its stdout, so the stack starts
 * this small relay detached instead, with permission to run exactly that
 * program and write exactly that file.
 *
 *     deno run -q --no-config --allow-run=P --allow-write=L log_relay.ts L P [args…]
 *
 * SIGTERM and SIGINT are passed on to the program; the relay exits with the
 * program's code once it has ended and its output is written.
 *
 * @module
 */
const [logFile, program, ...args] = Deno.args;
if (!logFile || !program) {
  await Deno.stderr.write(
    new TextEncoder().encode(
      "usage: log_relay.ts <log file> <program> [args…]\n",
    ),
  );
  Deno.exit(2);
}
const log = await Deno.open(logFile, {
  create: true,
  append: true,
  write: true,
});
const child = new Deno.Command(program, {
  args,
  stdin: "null",
  stdout: "piped",
  stderr: "piped",
}).spawn();
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => {
    try {
      child.kill(signal);
    } catch {
      // It has exited already.
    }
  });
}
/** Appends a stream to the log, line-interleaved as chunks arrive. */
async function copy(stream: ReadableStream<Uint8Array>): Promise<void> {
  for await (const chunk of stream) {
    let written = 0;
    while (written < chunk.length) {
      written += await log.write(chunk.subarray(written));
    }
  }
}
const [status] = await Promise.all([
  child.status,
  copy(child.stdout),
  copy(child.stderr),
]);
log.close();
Deno.exit(status.signal ? 128 + signalNumber(status.signal) : status.code);

function signalNumber(signal: Deno.Signal): number {
  return ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[
    signal
  ] ?? 1;
}
