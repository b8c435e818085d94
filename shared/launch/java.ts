/**
 * Which Java the local stack runs. Apicurio Registry 3.3.3 needs Java 21+,
 * so the stack takes, in this order: `JAVA_HOME` when it is 21+, else `java`
 * on PATH when it is 21+ (its home from `java -XshowSettings:properties`),
 * else the newest JDK 21+ in the OS's standard folders. The version comes
 * from the JDK's `release` file (or from what `java` printed), never from a
 * folder's name.
 *
 * The choice is linked as `<stack dir>/jdk`, and the stack always runs
 * `<stack dir>/jdk/bin/java`: that one path is what the permission sets
 * allow, wherever the JDK lives. Deno checks a path as written, so the link
 * may point anywhere. A JDK outside the readable folders (a `JAVA_HOME` in
 * the user's home) is read through a probe link in the stack folder too.
 *
 * @module
 */
import { exists, type Logger, runCommand } from "@cryptocandles/runtime";

/** The oldest Java major version the stack runs on (Apicurio 3.3.3). */
export const MIN_JAVA = 21;

/** Options for {@linkcode findJdk} and {@linkcode ensureJdk}. */
export interface JdkOptions {
  /** The stack folder, where `jdk` (and a short-lived `jdk.probe`) are linked. @default {".stack"} */
  dir?: string;
  /** The JDK named by the environment. @default {Deno.env.get("JAVA_HOME")} */
  javaHome?: string;
  /** The program asked for its home when JAVA_HOME does not do. @default {"java"} */
  pathJava?: string;
  /**
   * Where JDKs sit side by side, as patterns with one `*` for the JDK's
   * folder. @default {["/usr/lib/jvm/*"] on Linux, ["/Library/Java/JavaVirtualMachines/*\/Contents/Home"] on macOS}
   */
  folders?: string[];
  /** The oldest major version taken. @default {21} */
  minVersion?: number;
}

/** A JDK that {@linkcode findJdk} chose. */
export interface Jdk {
  /** Its home, as found (a link is not resolved). */
  home: string;
  /** Its major version, such as 21. */
  version: number;
  /** Why this one, for the log: "JAVA_HOME", "java on PATH" or "newest Java 21+ under /usr/lib/jvm". */
  reason: string;
  /** What was looked at and passed over, such as "java on PATH is Java 17 (/opt/jdk-17)". */
  skipped: string[];
}

/**
 * Chooses the JDK the stack runs: `JAVA_HOME` if 21+, else `java` on PATH
 * if 21+, else the newest 21+ in the OS's folders.
 *
 * @param options Stack folder, JAVA_HOME, PATH's java and folders (for tests).
 * @returns The chosen JDK, with the reason and what it passed over.
 * @throws {Error} One line saying what was looked at and how to fix it, when
 *   no Java 21+ is found.
 *
 * @example
 * ```ts ignore
 * import { findJdk } from "@cryptocandles/launch";
 * const jdk = await findJdk();
 * console.log(`Java ${jdk.version} at ${jdk.home} (${jdk.reason})`);
 * ```
 */
export async function findJdk(options: JdkOptions = {}): Promise<Jdk> {
  const {
    dir = ".stack",
    javaHome = Deno.env.get("JAVA_HOME"),
    pathJava = "java",
    folders = defaultFolders(),
    minVersion = MIN_JAVA,
  } = options;
  const skipped: string[] = [];

  if (javaHome) {
    const home = absolute(javaHome);
    const version = await probeVersion(home, dir);
    if (version !== undefined && version >= minVersion) {
      return { home, version, reason: "JAVA_HOME", skipped };
    }
    skipped.push(
      version === undefined
        ? `JAVA_HOME=${javaHome} is not a JDK (no bin/java or no release file)`
        : `JAVA_HOME=${javaHome} is Java ${version}`,
    );
  } else skipped.push("JAVA_HOME is not set");

  const onPath = await askJava(pathJava);
  if (onPath?.home && onPath.version !== undefined) {
    if (onPath.version >= minVersion) {
      return {
        home: onPath.home,
        version: onPath.version,
        reason: `${pathJava} on PATH`,
        skipped,
      };
    }
    skipped.push(
      `${pathJava} on PATH is Java ${onPath.version} (${onPath.home})`,
    );
  } else skipped.push(`no ${pathJava} on PATH`);

  for (const pattern of folders) {
    const found = await jdksIn(pattern);
    const best = found.filter((j) => j.version >= minVersion)
      .sort((a, b) => b.version - a.version)[0];
    const where = pattern.slice(0, pattern.indexOf("/*"));
    if (best) {
      return {
        ...best,
        reason: `newest Java ${minVersion}+ under ${where}`,
        skipped,
      };
    }
    skipped.push(
      found.length === 0
        ? `no JDK under ${where}`
        : `${where} has ${
          found.map((j) => `${j.home.slice(where.length + 1)} (${j.version})`)
            .join(", ")
        }`,
    );
  }
  throw new Error(
    `Java ${minVersion} or newer is needed for Apicurio Registry 3.3.3 and none was found: ${
      skipped.join("; ")
    }. Install one (Debian/Ubuntu: apt install openjdk-${minVersion}-jre-headless; macOS: brew install openjdk@${minVersion}) or set JAVA_HOME to it`,
  );
}

/**
 * Points `<dir>/jdk` at a JDK's home (replacing the link in one rename, so a
 * reader never sees it missing).
 *
 * @param home The JDK's home.
 * @param dir The stack folder.
 * @returns The path the stack runs: `<dir>/jdk/bin/java`.
 * @throws {Error} When `ln` fails or `<dir>/jdk` is a real folder.
 *
 * @example
 * ```ts ignore
 * import { linkJdk } from "@cryptocandles/launch";
 * const java = await linkJdk("/opt/jdk-21", ".stack");
 * ```
 */
export async function linkJdk(home: string, dir: string): Promise<string> {
  const link = `${dir}/jdk`;
  const current = await Deno.readLink(link).catch(() => undefined);
  if (current !== home) {
    await Deno.mkdir(dir, { recursive: true });
    await symlink(home, `${link}.next`);
    await Deno.rename(`${link}.next`, link);
  }
  return javaIn(dir);
}

/**
 * Chooses the JDK ({@linkcode findJdk}), links it ({@linkcode linkJdk}) and
 * logs which one and why.
 *
 * @param options As for {@linkcode findJdk}, plus the logger.
 * @returns The path to run: `<dir>/jdk/bin/java`.
 * @throws {Error} As {@linkcode findJdk} when there is no Java 21+.
 *
 * @example
 * ```ts ignore
 * import { ensureJdk } from "@cryptocandles/launch";
 * const java = await ensureJdk({ log });
 * ```
 */
export async function ensureJdk(
  options: JdkOptions & { log?: Logger } = {},
): Promise<string> {
  const { dir = ".stack", log } = options;
  const jdk = await findJdk(options);
  const java = await linkJdk(jdk.home, dir);
  log?.info(
    `using Java ${jdk.version} at ${jdk.home} (${jdk.reason}${
      jdk.skipped.length ? `; ${jdk.skipped.join("; ")}` : ""
    })`,
    { java },
  );
  return java;
}

/**
 * The Java program the stack runs: `<dir>/jdk/bin/java`.
 *
 * @param dir The stack folder.
 * @returns The path, relative when `dir` is.
 *
 * @example
 * ```ts
 * import { javaIn } from "@cryptocandles/launch";
 * console.log(javaIn(".stack")); // ".stack/jdk/bin/java"
 * ```
 */
export function javaIn(dir: string): string {
  return `${dir}/jdk/bin/java`;
}

/**
 * The major version in a JDK's `release` file (`JAVA_VERSION="21.0.2"`, or
 * `"1.8.0_392"` for Java 8).
 *
 * @param text The file's text.
 * @returns The major version, or undefined when the file names none.
 *
 * @example
 * ```ts
 * import { releaseVersion } from "@cryptocandles/launch";
 * console.log(releaseVersion('JAVA_VERSION="21.0.2"\n')); // 21
 * ```
 */
export function releaseVersion(text: string): number | undefined {
  const version = /^JAVA_VERSION="?([\d._]+)/m.exec(text)?.[1];
  return version === undefined ? undefined : majorOf(version);
}

/**
 * The home and major version in what `java -XshowSettings:properties
 * -version` prints.
 *
 * @param text Its output (it writes to stderr).
 * @returns `java.home` and the major of `java.specification.version` (or `java.version`).
 *
 * @example
 * ```ts
 * import { javaSettings } from "@cryptocandles/launch";
 * const text = "    java.home = /opt/jdk-21\n    java.specification.version = 21\n";
 * console.log(javaSettings(text)); // { home: "/opt/jdk-21", version: 21 }
 * ```
 */
export function javaSettings(
  text: string,
): { home?: string; version?: number } {
  const property = (name: string) =>
    new RegExp(`^\\s*${name.replaceAll(".", "\\.")} = (.+)$`, "m").exec(text)
      ?.[1].trim();
  const version = property("java.specification.version") ??
    property("java.version");
  return {
    home: property("java.home"),
    version: version === undefined ? undefined : majorOf(version),
  };
}

function majorOf(version: string): number | undefined {
  const [first, second] = version.split(/[._-]/).map(Number);
  const major = first === 1 ? second : first;
  return Number.isInteger(major) && major > 0 ? major : undefined;
}

function defaultFolders(): string[] {
  return Deno.build.os === "darwin"
    ? ["/Library/Java/JavaVirtualMachines/*/Contents/Home"]
    : ["/usr/lib/jvm/*"];
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/** The version of the JDK at `home`, read through a probe link in `dir` (the permission sets let the stack read only its own folder and the OS's JDK folders). */
async function probeVersion(
  home: string,
  dir: string,
): Promise<number | undefined> {
  const probe = `${dir}/jdk.probe`;
  await Deno.mkdir(dir, { recursive: true });
  await symlink(home, probe);
  try {
    return await versionAt(probe);
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}

/** The version of the JDK at `home` from its `release` file, if it has bin/java. */
async function versionAt(home: string): Promise<number | undefined> {
  if (!(await exists(`${home}/bin/java`))) return undefined;
  const text = await Deno.readTextFile(`${home}/release`).catch(() => "");
  return releaseVersion(text);
}

/** What `java -XshowSettings:properties -version` says, or undefined when there is no such program. */
async function askJava(
  java: string,
): Promise<{ home?: string; version?: number } | undefined> {
  try {
    const { stdout, stderr } = await runCommand(
      java,
      ["-XshowSettings:properties", "-version"],
      { check: false },
    );
    return javaSettings(stderr + stdout);
  } catch {
    return undefined;
  }
}

/** The JDKs a pattern such as `/usr/lib/jvm/*` matches, with their versions. */
async function jdksIn(
  pattern: string,
): Promise<{ home: string; version: number }[]> {
  const star = pattern.indexOf("*");
  const [parent, rest] = [pattern.slice(0, star - 1), pattern.slice(star + 1)];
  const found: { home: string; version: number }[] = [];
  try {
    for await (const entry of Deno.readDir(parent)) {
      if (entry.name.startsWith(".")) continue;
      const home = `${parent}/${entry.name}${rest}`;
      const version = await versionAt(home).catch(() => undefined);
      if (version !== undefined) found.push({ home, version });
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found.sort((a, b) => a.home.localeCompare(b.home));
}

/** `ln -sfn target link`: Deno.symlink needs unscoped --allow-read and --allow-write. */
async function symlink(target: string, link: string): Promise<void> {
  await runCommand("ln", ["-sfn", target, link]);
}
