/**
 * The one file-system question the scripts ask beyond Deno's own API.
 *
 * @module
 */

/**
 * Whether `path` exists (following symlinks: a dangling link does not).
 *
 * @param path A file or folder.
 * @returns True when it can be stat'ed.
 * @throws {Deno.errors.NotCapable} When reading `path` is not permitted.
 *
 * @example
 * ```ts
 * import { exists } from "@cryptocandles/runtime";
 * console.log(await exists("/no/such/file")); // false
 * ```
 */
export async function exists(path: string | URL): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return false;
  }
}
