/**
 * Where the local stack's InfluxDB 3 Core and Grafana OSS come from, in this
 * order: `INFLUXDB3_BIN` / `GRAFANA_HOME`, then `influxdb3` / `grafana` on
 * PATH, then the official release archive of the version compose.yaml pins,
 * downloaded once into `<stack dir>/programs/`, checked against its
 * published SHA-256 before anything is unpacked.
 *
 * Whatever is chosen is linked at a fixed place, as `java.ts` does for the
 * JDK: the stack always runs `<dir>/bin/influxdb3` (`<dir>/bin` links to
 * `<dir>/programs/bin`) and `<dir>/grafana-home/bin/grafana`, the two paths
 * the permission sets allow.
 * Programs found elsewhere are looked at through a probe link in the stack
 * folder, so the sets need no read access outside it.
 *
 * Release facts:
 * - InfluxDB 3 Core: InfluxData's installer (influxdata/influxdb,
 *   install_influxdb.sh) downloads
 *   `https://dl.influxdata.com/influxdb/releases/influxdb3-core-{version}_{artifact}.tar.gz`
 *   (artifact `linux_amd64`, `linux_arm64`, `darwin_arm64`) and checks the
 *   first field of the same URL + `.sha256`; some archives have a leading
 *   folder, which it strips.
 * - Grafana OSS 13.2.3: https://grafana.com/grafana/download/13.2.3?edition=oss&platform=linux
 *   lists `https://dl.grafana.com/grafana/release/13.2.3/grafana_13.2.3_36482603486_linux_amd64.tar.gz`
 *   with SHA-256 `6107ad27…3235` (quoted in several public install scripts
 *   found with the search tool); it unpacks to `grafana-13.2.3/`. Other
 *   platforms' checksums were not found, so only linux x86_64 is downloaded.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { exists, type Logger, runCommand } from "@cryptocandles/runtime";

/** The two programs the stack can provide besides Kafka and the registry. */
export type ProgramName = "influxdb3" | "grafana";

/** The InfluxDB 3 Core version compose.yaml pins (`influxdb:3.9.3-core`). */
export const INFLUXDB3_VERSION = "3.9.3";
/** The Grafana OSS version compose.yaml pins (`grafana/grafana:13.2.3`). */
export const GRAFANA_VERSION = "13.2.3";

/** A release archive to download. */
export interface Release {
  program: ProgramName;
  version: string;
  /** The `.tar.gz` archive. */
  url: string;
  /** Its SHA-256 (hex), when pinned here. */
  sha256?: string;
  /** Where the SHA-256 is published (first field of the file), when not pinned. */
  sha256Url?: string;
  /** About how big the archive is, for the progress line. */
  approxMb: number;
}

/**
 * The pinned release of a program for this OS and CPU.
 *
 * @param program `influxdb3` or `grafana`.
 * @param platform OS and CPU. @default {Deno.build}
 * @returns The release, or undefined when none is published (or known) for the platform.
 *
 * @example
 * ```ts
 * import { pinnedRelease } from "@cryptocandles/launch";
 * console.log(pinnedRelease("influxdb3", { os: "linux", arch: "x86_64" })?.url);
 * // "https://dl.influxdata.com/influxdb/releases/influxdb3-core-3.9.3_linux_amd64.tar.gz"
 * ```
 */
export function pinnedRelease(
  program: ProgramName,
  platform: { os: string; arch: string } = Deno.build,
): Release | undefined {
  const { os, arch } = platform;
  if (program === "influxdb3") {
    const artifact = os === "linux" && arch === "x86_64"
      ? "linux_amd64"
      : os === "linux" && arch === "aarch64"
      ? "linux_arm64"
      : os === "darwin" && arch === "aarch64"
      ? "darwin_arm64"
      : undefined;
    if (!artifact) return undefined;
    const url =
      `https://dl.influxdata.com/influxdb/releases/influxdb3-core-${INFLUXDB3_VERSION}_${artifact}.tar.gz`;
    return {
      program,
      version: INFLUXDB3_VERSION,
      url,
      sha256Url: `${url}.sha256`,
      approxMb: 110,
    };
  }
  if (os !== "linux" || arch !== "x86_64") return undefined;
  return {
    program,
    version: GRAFANA_VERSION,
    url:
      `https://dl.grafana.com/grafana/release/${GRAFANA_VERSION}/grafana_${GRAFANA_VERSION}_36482603486_linux_amd64.tar.gz`,
    sha256: "6107ad27016296aac38e0d7ffa8753ab540b5541ad27e94790f771289d733235",
    approxMb: 200,
  };
}

/**
 * The fixed path the stack runs a program from.
 *
 * @param program `influxdb3` or `grafana`.
 * @param dir The stack folder.
 * @returns `<dir>/bin/influxdb3` or `<dir>/grafana-home/bin/grafana`.
 *
 * @example
 * ```ts
 * import { programPath } from "@cryptocandles/launch";
 * console.log(programPath("grafana", ".stack")); // ".stack/grafana-home/bin/grafana"
 * ```
 */
export function programPath(program: ProgramName, dir: string): string {
  return program === "influxdb3"
    ? `${dir}/bin/influxdb3`
    : `${dir}/grafana-home/bin/grafana`;
}

/** Options for {@linkcode provideProgram}. */
export interface ProgramOptions {
  /** The stack folder. @default {".stack"} */
  dir?: string;
  /** `INFLUXDB3_BIN` (a binary) or `GRAFANA_HOME` (a folder). */
  explicit?: string;
  /** The PATH to search. @default {Deno.env.get("PATH")} */
  searchPath?: string;
  /** The release to download; `null` downloads nothing. @default {pinnedRelease(program)} */
  release?: Release | null;
  /** Where the choice and the progress go. */
  log?: Logger;
  /** The fetch to download with. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

/** What {@linkcode provideProgram} chose. */
export interface ProvidedProgram {
  /** The path to run (the fixed link). */
  path: string;
  /** Grafana's home folder (the fixed link), for `--homepath`. */
  home?: string;
  /** Where it came from, for the log: "INFLUXDB3_BIN=/opt/influxdb3", "influxdb3 on PATH (/usr/bin)" … */
  from: string;
}

/** No way to provide a program worked; `message` says what was tried and what to do. */
export class ProgramMissingError extends Error {
  /**
   * @param program The program.
   * @param tried What was tried, in order.
   */
  constructor(readonly program: ProgramName, readonly tried: string[]) {
    const variable = program === "influxdb3" ? "INFLUXDB3_BIN" : "GRAFANA_HOME";
    const what = program === "influxdb3"
      ? "an influxdb3 binary"
      : "a Grafana folder (with bin/grafana)";
    super(
      `${program === "influxdb3" ? "InfluxDB 3" : "Grafana"} not started: ${
        tried.join("; ")
      }. Set ${variable} to ${what}, put ${program} on PATH, or run your own and point ${
        program === "influxdb3" ? "INFLUX_HOST" : "GRAFANA_URL"
      } at it`,
    );
    this.name = "ProgramMissingError";
  }
}

/**
 * Finds (or downloads) a program and links it at its fixed path.
 *
 * @param program `influxdb3` or `grafana`.
 * @param options Stack folder, explicit location, PATH, release and logger.
 * @returns The path to run and where it came from.
 * @throws {ProgramMissingError} When nothing worked (one line: what was tried, how to provide it).
 *
 * @example
 * ```ts ignore
 * import { provideProgram } from "@cryptocandles/launch";
 * const influxdb3 = await provideProgram("influxdb3", { explicit: Deno.env.get("INFLUXDB3_BIN"), log });
 * ```
 */
export async function provideProgram(
  program: ProgramName,
  options: ProgramOptions = {},
): Promise<ProvidedProgram> {
  const {
    dir = ".stack",
    explicit,
    searchPath = Deno.env.get("PATH") ?? "",
    release = pinnedRelease(program),
    log,
  } = options;
  const variable = program === "influxdb3" ? "INFLUXDB3_BIN" : "GRAFANA_HOME";
  const tried: string[] = [];
  await Deno.mkdir(`${dir}/programs/bin`, { recursive: true });
  const chosen = async (target: string, from: string) => {
    const provided = await linkProgram(program, target, dir);
    log?.info(`${program}: using ${from}`, { run: provided.path });
    return { ...provided, from };
  };
  if (explicit) {
    const target = absolute(explicit);
    if (await usable(program, target, dir)) {
      return await chosen(target, `${variable}=${explicit}`);
    }
    tried.push(
      `${variable}=${explicit} is not ${
        program === "influxdb3"
          ? "an executable file"
          : "a folder with bin/grafana"
      }`,
    );
  } else tried.push(`${variable} is not set`);

  for (const folder of searchPath.split(":").filter(Boolean)) {
    const bin = `${absolute(folder)}/${program}`;
    if (!(await usable("influxdb3", bin, dir))) continue;
    if (program === "influxdb3") {
      return await chosen(bin, `influxdb3 on PATH (${folder})`);
    }
    const homes = [bin.replace(/\/bin\/grafana$/, ""), "/usr/share/grafana"];
    for (const home of homes) {
      if (await usable("grafana", home, dir)) {
        return await chosen(home, `grafana on PATH (${folder}, home ${home})`);
      }
    }
    tried.push(
      `grafana on PATH (${folder}) has no home with conf/defaults.ini`,
    );
  }
  if (tried.length === 1) tried.push(`no ${program} on PATH`);

  if (!release) {
    tried.push(
      `no ${program} release is pinned for ${Deno.build.os}/${Deno.build.arch}`,
    );
    throw new ProgramMissingError(program, tried);
  }
  try {
    const folder = await downloadRelease(release, { ...options, dir });
    const target = program === "influxdb3" ? `${folder}/influxdb3` : folder;
    return await chosen(
      absolute(target),
      `${program} ${release.version} from ${release.url} (in ${folder})`,
    );
  } catch (error) {
    const { message, cause } = error as Error & { cause?: Error };
    const why = cause?.message ? `${message}: ${cause.message}` : message;
    tried.push(`download of ${release.url} failed (${why})`);
    throw new ProgramMissingError(program, tried);
  }
}

/**
 * Downloads a release archive once into `<dir>/programs/<program>-<version>`:
 * progress lines while it comes, its SHA-256 checked before anything is
 * unpacked (a mismatch removes the download), a leading folder stripped,
 * and a marker written last so a folder that has it is never fetched again.
 *
 * @param release The archive.
 * @param options Stack folder, logger and fetch.
 * @returns The unpacked folder.
 * @throws {Error} When the download fails, the checksum is missing or differs, or the archive lacks the program.
 *
 * @example
 * ```ts ignore
 * import { downloadRelease, pinnedRelease } from "@cryptocandles/launch";
 * const folder = await downloadRelease(pinnedRelease("influxdb3")!, { log });
 * ```
 */
export async function downloadRelease(
  release: Release,
  options: { dir?: string; log?: Logger; fetch?: typeof fetch } = {},
): Promise<string> {
  const { dir = ".stack", log, fetch: doFetch = fetch } = options;
  const folder = `${dir}/programs/${release.program}-${release.version}`;
  if (await exists(`${folder}/.complete`)) return folder;
  await Deno.mkdir(`${dir}/downloads`, { recursive: true });
  const expected = release.sha256 ?? await publishedSha256(release, doFetch);
  const archive = `${dir}/downloads/${release.url.replace(/^.*\//, "")}`;
  log?.info(
    `downloading ${release.program} ${release.version} (about ${release.approxMb} MB, once) from ${release.url} to ${dir}/programs`,
  );
  const actual = await fetchTo(release.url, archive, doFetch, log);
  if (actual !== expected.toLowerCase()) {
    await Deno.remove(archive).catch(() => {});
    throw new Error(
      `checksum mismatch for ${release.url}: expected SHA-256 ${expected}, got ${actual}; the download was removed and nothing was unpacked`,
    );
  }
  const { stdout } = await runCommand("tar", ["-tzf", archive]);
  const entries = stdout.split("\n").filter(Boolean);
  const tops = new Set(
    entries.map((e) => e.replace(/^\.\//, "").split("/")[0]),
  );
  const strip = tops.size === 1 && entries.some((e) => e.includes("/")) ? 1 : 0;
  const partial = `${folder}.partial`;
  await Deno.remove(partial, { recursive: true }).catch(() => {});
  await Deno.mkdir(partial, { recursive: true });
  await runCommand("tar", [
    "-xzf",
    archive,
    "-C",
    partial,
    `--strip-components=${strip}`,
  ]);
  const inside = release.program === "influxdb3" ? "influxdb3" : "bin/grafana";
  if (!(await exists(`${partial}/${inside}`))) {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
    throw new Error(`${release.url} holds no ${inside}`);
  }
  await Deno.remove(folder, { recursive: true }).catch(() => {});
  await Deno.rename(partial, folder);
  await Deno.writeTextFile(
    `${folder}/.complete`,
    `${release.url}\n${actual}\n`,
  );
  await Deno.remove(archive).catch(() => {});
  log?.info(`unpacked ${release.program} ${release.version} into ${folder}`);
  return folder;
}

async function publishedSha256(
  release: Release,
  doFetch: typeof fetch,
): Promise<string> {
  if (!release.sha256Url) {
    throw new Error(`no SHA-256 is known for ${release.url}`);
  }
  const response = await doFetch(release.sha256Url, {
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  const hex = text.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  if (!response.ok || !/^[0-9a-f]{64}$/.test(hex)) {
    throw new Error(
      `${release.sha256Url} answered ${response.status} without a SHA-256`,
    );
  }
  return hex;
}

/** Streams `url` into `file`, logging progress every 25 %; returns the SHA-256. */
async function fetchTo(
  url: string,
  file: string,
  doFetch: typeof fetch,
  log?: Logger,
): Promise<string> {
  // No answer in 30 s (an offline machine whose packets vanish) is a failure;
  // once the archive comes, it may take as long as it takes.
  const connect = new AbortController();
  const timer = setTimeout(
    () => connect.abort(new Error("no answer in 30 s")),
    30_000,
  );
  const response = await doFetch(url, { signal: connect.signal })
    .finally(() => clearTimeout(timer));
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`${url} answered ${response.status}`);
  }
  const total = Number(response.headers.get("content-length")) || 0;
  const hash = createHash("sha256");
  const out = await Deno.open(file, {
    write: true,
    create: true,
    truncate: true,
  });
  let received = 0;
  let reported = 0;
  try {
    for await (const chunk of response.body) {
      hash.update(chunk);
      await writeAll(out, chunk);
      received += chunk.length;
      const quarter = total ? Math.floor((received / total) * 4) : 0;
      if (quarter > reported && quarter < 4) {
        reported = quarter;
        log?.info(
          `downloaded ${quarter * 25} % (${(received / 1e6).toFixed(0)} of ${
            (total / 1e6).toFixed(0)
          } MB)`,
        );
      }
    }
  } finally {
    out.close();
  }
  return hash.digest("hex");
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await file.write(bytes.subarray(written));
  }
}

/**
 * True when `target` is an executable file (`influxdb3`) or a Grafana home
 * (`grafana`: bin/grafana and conf/defaults.ini), looked at through a probe
 * link in the stack folder.
 */
async function usable(
  kind: ProgramName,
  target: string,
  dir: string,
): Promise<boolean> {
  const probe = `${dir}/programs/probe`;
  await symlink(target, probe);
  try {
    if (kind === "influxdb3") return await isExecutable(probe);
    return await isExecutable(`${probe}/bin/grafana`) &&
      await exists(`${probe}/conf/defaults.ini`);
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}

async function isExecutable(path: string): Promise<boolean> {
  const info = await Deno.stat(path).catch(() => undefined);
  return !!info?.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
}

async function linkProgram(
  program: ProgramName,
  target: string,
  dir: string,
): Promise<{ path: string; home?: string }> {
  if (program === "grafana") {
    await symlink(target, `${dir}/grafana-home.next`);
    await Deno.rename(`${dir}/grafana-home.next`, `${dir}/grafana-home`);
    return { path: programPath("grafana", dir), home: `${dir}/grafana-home` };
  }
  // Deno refuses to write a path its --allow-run lists, so the link is made
  // in programs/bin and <dir>/bin is a link to that folder.
  const slot = `${dir}/programs/bin`;
  await symlink(target, `${slot}/influxdb3.next`);
  await Deno.rename(`${slot}/influxdb3.next`, `${slot}/influxdb3`);
  if (await Deno.readLink(`${dir}/bin`).catch(() => "") !== "programs/bin") {
    await Deno.remove(`${dir}/bin`, { recursive: true }).catch(() => {});
    await symlink("programs/bin", `${dir}/bin`);
  }
  return { path: programPath("influxdb3", dir) };
}

function absolute(path: string): string {
  return path.startsWith("/")
    ? path
    : `${Deno.cwd()}/${path.replace(/^\.\//, "")}`;
}

/** `ln -sfn target link` (Deno.symlink needs unscoped read and write). */
async function symlink(target: string, link: string): Promise<void> {
  await runCommand("ln", ["-sfn", target, link]);
}
