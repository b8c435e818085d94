/**
 * Stand-in executables for the local stack's process tests, written into a
 * folder the test chooses: `bin/influxdb3` (records its argv and the token
 * file's mode in `<--data-dir>/standin-starts.log`, then serves the
 * InfluxDB double on the `--http-bind` port with the same token file and
 * WAL flush interval) and `grafana-home/bin/grafana` with
 * `grafana-home/conf/defaults.ini` (runs `grafana_standin.ts`).
 *
 * @module
 */

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname)
  .replace(/\/$/, "");

/** Where {@linkcode writeStandIns} put the stand-ins. */
export interface StandIns {
  /** A folder with `influxdb3` in it (for PATH or INFLUXDB3_BIN). */
  influxBin: string;
  /** A Grafana home: `bin/grafana` and `conf/defaults.ini` (for GRAFANA_HOME). */
  grafanaHome: string;
  /** PATH with both programs first. */
  path: string;
}

/**
 * Writes the two stand-ins under `folder`.
 *
 * @param folder An absolute folder.
 * @returns Their locations and a PATH that finds both.
 *
 * @example
 * ```ts ignore
 * const standIns = await writeStandIns(await Deno.makeTempDir());
 * ```
 */
export async function writeStandIns(folder: string): Promise<StandIns> {
  const influxBin = `${folder}/bin`;
  const grafanaHome = `${folder}/grafana-home`;
  await Deno.mkdir(influxBin, { recursive: true });
  await Deno.mkdir(`${grafanaHome}/bin`, { recursive: true });
  await Deno.mkdir(`${grafanaHome}/conf`, { recursive: true });
  await Deno.writeTextFile(
    `${influxBin}/influxdb3`,
    `#!/bin/sh
# stand-in for influxdb3 serve: records argv, serves the InfluxDB double
data=""; bind=""; tokens=""; wal="1s"; prev=""
for a in "$@"; do
  case "$prev" in
    --data-dir) data="$a" ;; --http-bind) bind="$a" ;;
    --admin-token-file) tokens="$a" ;; --wal-flush-interval) wal="$a" ;;
  esac
  prev="$a"
done
[ "$1" = serve ] && [ -n "$data" ] && [ -n "$bind" ] || { echo "influxdb3 stand-in: bad arguments: $*" >&2; exit 2; }
mkdir -p "$data"
printf '%s | token-file-mode=%s\\n' "$*" "$(stat -c %a "$tokens")" >> "$data/standin-starts.log"
echo "influxdb3 stand-in: serving on $bind"
exec "${ROOT}/.venv/bin/python" "${ROOT}/tests/doubles/influxdb3_double.py" \\
  --port "\${bind##*:}" --admin-token-file "$tokens" --wal-flush-interval "$wal"
`,
    { mode: 0o755 },
  );
  await Deno.writeTextFile(
    `${grafanaHome}/bin/grafana`,
    `#!/bin/sh
# stand-in for grafana server: the Grafana double, provisioned from the stack's files
exec deno run -q --allow-net=127.0.0.1 --allow-read --allow-write --allow-env \\
  "${ROOT}/tests/doubles/grafana_standin.ts" "$@"
`,
    { mode: 0o755 },
  );
  await Deno.writeTextFile(`${grafanaHome}/conf/defaults.ini`, "; stand-in\n");
  return {
    influxBin,
    grafanaHome,
    path: `${influxBin}:${grafanaHome}/bin:${Deno.env.get("PATH") ?? ""}`,
  };
}
