/**
 * The Python virtual environment of the InfluxDB double (`.venv`), made
 * from tests/doubles/requirements.txt when missing or out of date. Used by
 * `deno task test`, `deno task faults` and `deno task bench`.
 *
 * @module
 */
import { exists, runCommand } from "@cryptocandles/runtime";

/**
 * Creates .venv with the InfluxDB double's packages unless it already has
 * exactly the listed ones.
 *
 * @param say Told when the venv is (re)made.
 *
 * @example
 * ```ts ignore
 * await ensureVenv((m) => console.log(m));
 * ```
 */
export async function ensureVenv(
  say: (message: string) => void,
): Promise<void> {
  const requirements = "tests/doubles/requirements.txt";
  if (!(await exists(requirements))) return;
  const marker = ".venv/.requirements";
  const wanted = await Deno.readTextFile(requirements);
  if ((await Deno.readTextFile(marker).catch(() => "")) === wanted) return;
  say("creating .venv for the InfluxDB double (once)");
  await runCommand("python3", ["-m", "venv", ".venv"]);
  await runCommand(".venv/bin/python", [
    "-m",
    "pip",
    "install",
    "-q",
    "-r",
    requirements,
  ]);
  await Deno.writeTextFile(marker, wanted);
}
