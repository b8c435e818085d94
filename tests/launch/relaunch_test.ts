import assert from "node:assert/strict";
import { loadConfig } from "@cryptocandles/config";
import { launchPermissions } from "@cryptocandles/launch";

Deno.test("launchPermissions() asks for nothing when every configured host is already allowed", async () => {
  const config = loadConfig(new Map([["SOURCE", "synthetic"]]));
  assert.equal(await launchPermissions(config), undefined);
});

Deno.test("launchPermissions() adds a hosted Kafka's brokers to launch's own hosts", async () => {
  const config = loadConfig(
    new Map([
      ["SOURCE", "synthetic"],
      ["KAFKA_BROKERS", "broker.example.com:9092,broker2.example.com:9092"],
    ]),
  );
  const flags = await launchPermissions(config);
  assert.ok(flags);
  assert.deepEqual(flags.slice(0, 2), ["-q", "-P=launch"]);
  const net = flags.find((f) => f.startsWith("--allow-net="))!.slice(12)
    .split(",");
  for (
    const host of [
      "broker.example.com:9092",
      "broker2.example.com:9092",
      "127.0.0.1", // launch's own set
      "api-pub.bitfinex.com:443",
    ]
  ) assert.ok(net.includes(host), `${host} in ${net.join(",")}`);
});

Deno.test("launch under its own permission set runs itself again with a hosted Kafka's hosts, and then gets Kafka's own answer, not a refused permission", async () => {
  const out = await new Deno.Command("deno", {
    args: [
      "run",
      "-q",
      "-P=launch",
      "launch.ts",
      "--stack",
      "external",
      "--no-chart",
      "--no-grafana",
    ],
    env: {
      // 127.0.0.2 is this machine too, but not on launch's list; nothing listens on port 9.
      KAFKA_BROKERS: "127.0.0.2:9",
      SOURCE: "synthetic",
      NO_COLOR: "1",
      LOG_FORMAT: "text",
    },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 1, text);
  assert.match(
    text,
    /running again with the configured hosts: --allow-net=\S*127\.0\.0\.2:9/,
  );
  assert.match(text, /KAFKA_BROKERS 127\.0\.0\.2:9 does not answer/);
  assert.doesNotMatch(text, /not allowed/);
});
