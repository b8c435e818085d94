import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  downloadRelease,
  pinnedRelease,
  ProgramMissingError,
  provideProgram,
  type Release,
} from "@cryptocandles/launch";
import { createLogger, runCommand } from "@cryptocandles/runtime";
import { freePort } from "../support.ts";

/**
 * A made-up influxdb3 archive with the real layout (one leading folder
 * holding the `influxdb3` binary, as InfluxData's installer expects), and a
 * local server that counts the requests for it.
 */
async function archiveServer() {
  const work = await Deno.makeTempDir({ prefix: "programs-" });
  const folder = `${work}/influxdb3-core-3.9.3`;
  await Deno.mkdir(folder);
  await Deno.writeTextFile(`${folder}/influxdb3`, "#!/bin/sh\necho fake\n", {
    mode: 0o755,
  });
  await Deno.writeTextFile(`${folder}/LICENSE`, "MIT\n");
  const archive = `${work}/influxdb3-core-3.9.3_linux_amd64.tar.gz`;
  await runCommand("tar", [
    "-czf",
    archive,
    "-C",
    work,
    "influxdb3-core-3.9.3",
  ]);
  const bytes = await Deno.readFile(archive);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const hits: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      hits.push(path);
      if (path.endsWith(".tar.gz")) return new Response(bytes);
      if (path.endsWith(".sha256")) {
        return new Response(
          `${sha256}  influxdb3-core-3.9.3_linux_amd64.tar.gz\n`,
        );
      }
      return new Response("not found", { status: 404 });
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const release = (sha?: string): Release => ({
    program: "influxdb3",
    version: "3.9.3",
    url: `${base}/influxdb3-core-3.9.3_linux_amd64.tar.gz`,
    ...(sha ? { sha256: sha } : { sha256Url: `${base}/x.tar.gz.sha256` }),
    approxMb: 1,
  });
  return {
    work,
    sha256,
    hits,
    release,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(work, { recursive: true });
    },
  };
}

Deno.test("downloadRelease refuses an archive whose SHA-256 differs and unpacks nothing", async () => {
  await using fixture = await archiveServer();
  const dir = `${fixture.work}/stack`;
  const wrong = "0".repeat(64);
  await assert.rejects(
    downloadRelease(fixture.release(wrong), { dir }),
    /checksum mismatch .*expected SHA-256 0{64}, got [0-9a-f]{64}; the download was removed and nothing was unpacked/,
  );
  const left = [];
  for await (const e of Deno.readDir(dir)) left.push(e.name);
  assert.deepEqual(left.sort(), ["downloads"]);
  assert.deepEqual([...Deno.readDirSync(`${dir}/downloads`)], []);
});

Deno.test("downloadRelease checks the published .sha256, strips the leading folder, unpacks once and never downloads again", async () => {
  await using fixture = await archiveServer();
  const dir = `${fixture.work}/stack`;
  const lines: string[] = [];
  const log = logTo(lines);
  const folder = await downloadRelease(fixture.release(), { dir, log });
  assert.equal(folder, `${dir}/programs/influxdb3-3.9.3`);
  assert.equal(
    await Deno.readTextFile(`${folder}/influxdb3`),
    "#!/bin/sh\necho fake\n",
  );
  assert.ok(
    lines.some((l) =>
      /downloading influxdb3 3\.9\.3 \(about 1 MB, once\)/.test(l)
    ),
  );
  assert.deepEqual(fixture.hits, [
    "/x.tar.gz.sha256",
    "/influxdb3-core-3.9.3_linux_amd64.tar.gz",
  ]);
  const again = await provideProgram("influxdb3", {
    dir,
    searchPath: "",
    release: fixture.release(),
  });
  assert.equal(fixture.hits.length, 2, "no second download");
  assert.equal(again.path, `${dir}/bin/influxdb3`);
  assert.match(again.from, /influxdb3 3\.9\.3 from http:\/\/127\.0\.0\.1/);
  assert.equal(
    await Deno.realPath(again.path),
    await Deno.realPath(`${folder}/influxdb3`),
  );
});

Deno.test("provideProgram takes INFLUXDB3_BIN first, then PATH, before any download", async () => {
  await using fixture = await archiveServer();
  const dir = `${fixture.work}/stack`;
  const bin = `${fixture.work}/mybin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(`${bin}/influxdb3`, "#!/bin/sh\n", { mode: 0o755 });
  const explicit = await provideProgram("influxdb3", {
    dir,
    explicit: `${bin}/influxdb3`,
    release: fixture.release(),
  });
  assert.equal(explicit.from, `INFLUXDB3_BIN=${bin}/influxdb3`);
  const onPath = await provideProgram("influxdb3", {
    dir,
    searchPath: `/nonexistent:${bin}`,
    release: fixture.release(),
  });
  assert.equal(onPath.from, `influxdb3 on PATH (${bin})`);
  assert.equal(await Deno.readLink(`${dir}/bin/influxdb3`), `${bin}/influxdb3`);
  assert.deepEqual(fixture.hits, []);
});

Deno.test("with no program and no network, one line says what was tried and how to provide it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "programs-offline-" });
  try {
    const port = freePort(); // nothing listens: a refused connection, as offline
    const release: Release = {
      program: "grafana",
      version: "13.2.3",
      url: `http://127.0.0.1:${port}/grafana.tar.gz`,
      sha256: "0".repeat(64),
      approxMb: 200,
    };
    const error = await provideProgram("grafana", {
      dir,
      searchPath: "/nonexistent",
      release,
    }).then(() => undefined, (e) => e);
    assert.ok(error instanceof ProgramMissingError);
    const message = (error as Error).message;
    assert.equal(message.split("\n").length, 1);
    assert.match(
      message,
      /^Grafana not started: GRAFANA_HOME is not set; no grafana on PATH; download of http:\/\/127\.0\.0\.1:\d+\/grafana\.tar\.gz failed \(.+\)\. Set GRAFANA_HOME to a Grafana folder \(with bin\/grafana\), put grafana on PATH, or run your own and point GRAFANA_URL at it$/,
    );
    console.log(`the offline line: ${message}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the pinned releases follow the published URL schemes, and an unknown platform has none", () => {
  assert.equal(
    pinnedRelease("influxdb3", { os: "linux", arch: "aarch64" })?.sha256Url,
    "https://dl.influxdata.com/influxdb/releases/influxdb3-core-3.9.3_linux_arm64.tar.gz.sha256",
  );
  assert.equal(
    pinnedRelease("grafana", { os: "linux", arch: "x86_64" })?.url,
    "https://dl.grafana.com/grafana/release/13.2.3/grafana_13.2.3_36482603486_linux_amd64.tar.gz",
  );
  assert.equal(
    pinnedRelease("influxdb3", { os: "windows", arch: "x86_64" }),
    undefined,
  );
  assert.equal(
    pinnedRelease("grafana", { os: "darwin", arch: "aarch64" }),
    undefined,
  );
});

function logTo(lines: string[]) {
  return createLogger("test", { write: (line) => lines.push(line) });
}
