import assert from "node:assert/strict";
import { loadConfig } from "@cryptocandles/config";
import {
  configuredFiles,
  permissionsFor,
  type ScriptName,
} from "@cryptocandles/launch";

/** deno.json as the file says, read here independently of the code under test. */
const DENO_JSON = JSON.parse(
  await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
);
const KAFKA_SCRIPTS: ScriptName[] = [
  "setup-schema",
  "producer",
  "consumer",
  "chart",
];
const config = (env: Record<string, string>) =>
  loadConfig(new Map(Object.entries(env)));

Deno.test("KAFKA_SSL_CA is read into the Kafka configuration and wants KAFKA_SSL=true", () => {
  assert.equal(config({}).kafka.sslCa, undefined);
  assert.equal(
    config({ KAFKA_SSL: "true", KAFKA_SSL_CA: "/etc/kafka/ca.pem" }).kafka
      .sslCa,
    "/etc/kafka/ca.pem",
  );
  assert.throws(
    () => config({ KAFKA_SSL_CA: "/etc/kafka/ca.pem" }),
    /^TypeError: KAFKA_SSL_CA is set but KAFKA_SSL is false/,
  );
});

Deno.test("permissionsFor() lets each Kafka script read the KAFKA_SSL_CA file besides its set's folders, and nothing more by default", () => {
  const ca = "/etc/kafka/private-ca.pem";
  const hosted = config({ KAFKA_SSL: "true", KAFKA_SSL_CA: ca });
  for (const name of KAFKA_SCRIPTS) {
    const read: string[] = DENO_JSON.permissions[name].read ?? [];
    assert.deepEqual(configuredFiles(name, hosted), [ca], name);
    const flags = permissionsFor(name, hosted);
    assert.deepEqual(
      flags.filter((f) => f.startsWith("--allow-read")),
      [`--allow-read=${[...read, ca].join(",")}`],
      name,
    );
    assert.ok(
      (DENO_JSON.permissions[name].env.allow as string[]).includes(
        "KAFKA_SSL_CA",
      ),
      `${name}'s set lets it read KAFKA_SSL_CA`,
    );
    assert.ok(
      !permissionsFor(name, config({})).some((f) =>
        f.startsWith("--allow-read")
      ),
      name,
    );
  }
  assert.deepEqual(configuredFiles("seed-grafana", hosted), []);
});
