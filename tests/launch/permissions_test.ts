import assert from "node:assert/strict";
import { loadConfig, VARIABLES } from "@cryptocandles/config";
import {
  permissionsFor,
  type ScriptName,
  setFlags,
} from "@cryptocandles/launch";

/** deno.json as the file says, read here independently of the code under test. */
const DENO_JSON = JSON.parse(
  await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
);
const SCRIPTS: ScriptName[] = [
  "setup-schema",
  "producer",
  "consumer",
  "seed-grafana",
  "chart",
];

const config = (env: Record<string, string>) =>
  loadConfig(new Map(Object.entries(env)));

/** The set's net list and the task's V8 flags, straight from deno.json. */
function fromDenoJson(name: string): { net: string[]; v8: string[] } {
  const command: string = DENO_JSON.tasks[name].command;
  return {
    net: DENO_JSON.permissions[name].net,
    v8: command.split(" ").filter((w) => w.startsWith("--v8-flags=")),
  };
}

/** Splits permissionsFor's output into its parts. */
function parts(flags: string[]) {
  const net = flags.find((f) => f.startsWith("--allow-net="));
  return {
    rest: flags.filter((f) => f !== net),
    net: net?.slice("--allow-net=".length).split(","),
  };
}

Deno.test("permissionsFor() under the default configuration is the deno.json set and the task's V8 flags, nothing more", () => {
  for (const name of SCRIPTS) {
    const { net, v8 } = fromDenoJson(name);
    assert.deepEqual(permissionsFor(name, config({})), [
      "-q",
      `-P=${name}`,
      ...v8,
      `--allow-net=${net.join(",")}`,
    ], name);
  }
});

Deno.test("permissionsFor() adds the configured hosts each script reaches to the set's net list (the whole union: a CLI --allow-net replaces the set's)", () => {
  const hosted = config({
    KAFKA_BROKERS: "b1.example.com:9093,b2.example.com:9093",
    SCHEMA_REGISTRY_URL: "https://registry.example.com/apis/ccompat/v7",
    INFLUX_HOST: "https://eu-central-1.influx.example.com",
    GRAFANA_URL: "http://grafana.example.com:3001",
    CHART_HOST: "0.0.0.0",
    CHART_PORT: "8123",
    BITFINEX_REST_URL: "https://rest.example.com/v2",
  });
  const kafka = [
    "b1.example.com:9093",
    "b2.example.com:9093",
    "registry.example.com:443",
  ];
  const expected: Record<ScriptName, string[]> = {
    "setup-schema": kafka,
    producer: [...kafka, "api-pub.bitfinex.com:443"],
    consumer: [...kafka, "eu-central-1.influx.example.com:443"],
    "seed-grafana": ["grafana.example.com:3001"],
    // 0.0.0.0 is in the chart's set already, on every port.
    chart: kafka,
  };
  for (const name of SCRIPTS) {
    const { net, v8 } = fromDenoJson(name);
    const flags = parts(permissionsFor(name, hosted));
    assert.deepEqual(flags.rest, ["-q", `-P=${name}`, ...v8], name);
    assert.deepEqual(
      new Set(flags.net),
      new Set([...net, ...expected[name]]),
      name,
    );
  }
});

Deno.test("permissionsFor('producer') adds the Bitfinex host of the configured source only", () => {
  const net = (env: Record<string, string>) =>
    parts(permissionsFor("producer", config(env))).net;
  const { net: set } = fromDenoJson("producer");
  assert.deepEqual(
    net({
      SOURCE: "bitfinex-ws",
      BITFINEX_WS_URL: "wss://ws.example.com/ws/2",
    }),
    [...set, "ws.example.com:443"],
  );
  assert.deepEqual(
    net({
      SOURCE: "bitfinex-rest",
      BITFINEX_REST_URL: "http://10.0.0.5:8080/v2",
    }),
    [...set, "10.0.0.5:8080"],
  );
  assert.deepEqual(
    net({ SOURCE: "synthetic", BITFINEX_WS_URL: "wss://ws.example.com/ws/2" }),
    set,
  );
});

Deno.test("setFlags() spells a set as the deno run flags -P would grant", () => {
  assert.deepEqual(
    setFlags({
      net: ["127.0.0.1", "localhost"],
      env: { allow: ["LOG_FORMAT", "KAFKAJS_*"], ignore: true },
      read: ["schemas"],
      write: [],
      run: { allow: ["ps"], deny: ["rm"] },
      sys: true,
    }),
    [
      "--allow-net=127.0.0.1,localhost",
      "--allow-env=LOG_FORMAT,KAFKAJS_*",
      "--ignore-env",
      "--allow-read=schemas",
      "--allow-run=ps",
      "--deny-run=rm",
      "--allow-sys",
    ],
  );
});

Deno.test("every permission set names only variables of the configuration or ones a library or the stack reads", () => {
  const ours = new Set(VARIABLES.map((v) => v.name));
  // kafkajs reads KAFKAJS_* and NODE_ENV at import; the stack reads
  // JAVA_HOME; the benchmark hands PATH to its children.
  const others = new Set(["KAFKAJS_*", "NODE_ENV", "JAVA_HOME", "PATH"]);
  for (const [name, set] of Object.entries(DENO_JSON.permissions)) {
    const env = (set as { env?: unknown }).env;
    const allow = Array.isArray(env)
      ? env
      : (env as { allow?: unknown } | undefined)?.allow;
    if (!Array.isArray(allow)) continue;
    for (const variable of allow) {
      assert.ok(
        ours.has(variable) || others.has(variable),
        `${name} allows ${variable}, which nothing reads`,
      );
    }
  }
});

Deno.test("a set that allows one variable of a cross-variable check allows the others (else the check sees a default)", () => {
  const together = [
    ["KAFKA_REPLICATION", "KAFKA_MIN_ISR"],
    ["KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"],
    ["SOURCE", "REPLAY_FILE"],
    ["GRAFANA_USER", "GRAFANA_PASSWORD"],
  ];
  for (const [name, set] of Object.entries(DENO_JSON.permissions)) {
    const allow = (set as { env?: { allow?: unknown } }).env?.allow;
    if (!Array.isArray(allow)) continue;
    for (const group of together) {
      const some = group.filter((v) => allow.includes(v));
      assert.ok(
        some.length === 0 || some.length === group.length,
        `${name} allows ${some.join(", ")} without the rest of ${
          group.join(", ")
        }`,
      );
    }
  }
});

Deno.test("no task, script, test or package names one machine's JDK path", async () => {
  // A JDK's folder under the OS's JDK folders (the folders themselves are fine).
  const machinePath = /(\/usr\/lib\/jvm|JavaVirtualMachines)\/[\w.-]+/;
  const root = new URL("../../", import.meta.url);
  const files = ["deno.json"];
  for (const folder of ["scripts", "shared", "tests", "bench"]) {
    for await (const file of walk(new URL(`${folder}/`, root))) {
      files.push(file.slice(root.pathname.length));
    }
  }
  const offenders = [];
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, root));
    const match = machinePath.exec(text);
    if (match) offenders.push(`${file}: ${match[0]}`);
  }
  assert.deepEqual(offenders, []);
});

async function* walk(folder: URL): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(folder)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), folder);
    if (entry.isDirectory && entry.name !== "out") yield* walk(url);
    else if (/\.(ts|js|json|py|md)$/.test(entry.name)) yield url.pathname;
  }
}
