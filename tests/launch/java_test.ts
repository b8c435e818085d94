import assert from "node:assert/strict";
import {
  findJdk,
  javaIn,
  javaSettings,
  linkJdk,
  releaseVersion,
} from "@cryptocandles/launch";

/** A program name that is neither installed nor allowed: "no java on PATH". */
const NO_JAVA = "no-such-java-on-this-path";

/** A fake JDK home: bin/java (an empty file) and a release file naming `version`. */
async function fakeJdk(home: string, version?: string): Promise<string> {
  await Deno.mkdir(`${home}/bin`, { recursive: true });
  await Deno.writeTextFile(`${home}/bin/java`, "");
  if (version !== undefined) {
    await Deno.writeTextFile(
      `${home}/release`,
      `IMPLEMENTOR="Test"\nJAVA_VERSION="${version}"\nOS_NAME="Linux"\n`,
    );
  }
  return home;
}

async function withTemp(
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "java-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("releaseVersion() reads the major of JAVA_VERSION, Java 8's 1.8 scheme included", () => {
  assert.equal(releaseVersion('JAVA_VERSION="21.0.2"\n'), 21);
  assert.equal(releaseVersion('IMPLEMENTOR="x"\nJAVA_VERSION="25"\n'), 25);
  assert.equal(releaseVersion('JAVA_VERSION="1.8.0_392"\n'), 8);
  assert.equal(releaseVersion('IMPLEMENTOR="x"\n'), undefined);
});

Deno.test("javaSettings() reads java.home and the specification version from -XshowSettings output", () => {
  const text = [
    "Property settings:",
    "    java.home = /opt/jdks/jdk-21.0.5+11",
    "    java.specification.version = 21",
    "    java.version = 21.0.5",
    'openjdk version "21.0.5" 2024-10-15',
  ].join("\n");
  assert.deepEqual(javaSettings(text), {
    home: "/opt/jdks/jdk-21.0.5+11",
    version: 21,
  });
  assert.deepEqual(javaSettings("    java.version = 1.8.0_392\n"), {
    home: undefined,
    version: 8,
  });
});

Deno.test("findJdk() takes JAVA_HOME when it is 21+, even when a folder holds a newer JDK", async () => {
  await withTemp(async (tmp) => {
    const home = await fakeJdk(`${tmp}/java-21-openjdk-amd64`, "21.0.4");
    await fakeJdk(`${tmp}/jvm/jdk-25`, "25.0.1");
    const jdk = await findJdk({
      dir: `${tmp}/stack`,
      javaHome: home,
      pathJava: NO_JAVA,
      folders: [`${tmp}/jvm/*`],
    });
    assert.deepEqual(jdk, {
      home,
      version: 21,
      reason: "JAVA_HOME",
      skipped: [],
    });
    assert.deepEqual(
      [...Deno.readDirSync(`${tmp}/stack`)],
      [],
      "the probe link is gone",
    );
  });
});

Deno.test("findJdk() passes over a JAVA_HOME below 21 and takes the newest 21+ of the folders, by release file, not by name", async () => {
  await withTemp(async (tmp) => {
    const old = await fakeJdk(`${tmp}/jdk17`, "17.0.15");
    await fakeJdk(`${tmp}/jvm/java-17-openjdk-amd64`, "17.0.15");
    await fakeJdk(`${tmp}/jvm/java-99-named-wrong`, "22.0.1");
    await fakeJdk(`${tmp}/jvm/temurin-21-jdk`, "21.0.3");
    await fakeJdk(`${tmp}/jvm/no-release-file`);
    const jdk = await findJdk({
      dir: `${tmp}/stack`,
      javaHome: old,
      pathJava: NO_JAVA,
      folders: [`${tmp}/jvm/*`],
    });
    assert.equal(jdk.home, `${tmp}/jvm/java-99-named-wrong`);
    assert.equal(jdk.version, 22);
    assert.equal(jdk.reason, `newest Java 21+ under ${tmp}/jvm`);
    assert.deepEqual(jdk.skipped, [
      `JAVA_HOME=${old} is Java 17`,
      `no ${NO_JAVA} on PATH`,
    ]);
  });
});

Deno.test("findJdk() without any Java 21+ says in one line what it looked at and how to fix it", async () => {
  await withTemp(async (tmp) => {
    await fakeJdk(`${tmp}/jvm/java-17-openjdk-amd64`, "17.0.15");
    const notJdk = `${tmp}/empty`;
    await Deno.mkdir(notJdk);
    const error = await findJdk({
      dir: `${tmp}/stack`,
      javaHome: notJdk,
      pathJava: NO_JAVA,
      folders: [`${tmp}/jvm/*`, `${tmp}/missing/*/Contents/Home`],
    }).then(() => undefined, (e: Error) => e);
    assert.ok(error, "findJdk rejects");
    assert.equal(error.message.split("\n").length, 1);
    assert.equal(
      error.message,
      `Java 21 or newer is needed for Apicurio Registry 3.3.3 and none was found: ` +
        `JAVA_HOME=${notJdk} is not a JDK (no bin/java or no release file); ` +
        `no ${NO_JAVA} on PATH; ` +
        `${tmp}/jvm has java-17-openjdk-amd64 (17); ` +
        `no JDK under ${tmp}/missing. ` +
        `Install one (Debian/Ubuntu: apt install openjdk-21-jre-headless; macOS: brew install openjdk@21) or set JAVA_HOME to it`,
    );
  });
});

Deno.test("linkJdk() points <dir>/jdk at the home as given, and moves it to another home", async () => {
  await withTemp(async (tmp) => {
    const first = await fakeJdk(`${tmp}/a/java-21-openjdk-amd64`, "21");
    const second = await fakeJdk(`${tmp}/b/jdk-25`, "25");
    const dir = `${tmp}/stack`;
    assert.equal(await linkJdk(first, dir), `${dir}/jdk/bin/java`);
    assert.equal(await Deno.readLink(`${dir}/jdk`), first);
    assert.equal(await linkJdk(second, dir), javaIn(dir));
    assert.equal(await Deno.readLink(`${dir}/jdk`), second);
    assert.ok((await Deno.stat(`${dir}/jdk/bin/java`)).isFile);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["jdk"],
    );
  });
});
