/**
 * `deno task setup-schema`: makes the ticker topic (and its dead-letter
 * topic) with the configured shape, sets the value subject's compatibility
 * to BACKWARD, and registers the schema. Idempotent: a second run says the
 * id it found.
 *
 *     deno task setup-schema [--schema v1|v2] [--schema-file path.avsc]
 *
 * @module
 */
import { readSchema, type SchemaVersion } from "@cryptocandles/avro";
import {
  type Config,
  helpText,
  loadConfig,
  parseFlags,
} from "@cryptocandles/config";
import { createKafka, ensureTopic } from "@cryptocandles/kafka";
import { createLogger } from "@cryptocandles/runtime";
import { createRegistry } from "@cryptocandles/avro";

let config: Config;
let schemaText: string;
try {
  const flags = parseFlags(Deno.args, {
    schema: { type: "string" },
    "schema-file": { type: "string" },
  });
  if (flags.help) {
    console.log(helpText("deno task setup-schema [flags]", [
      "--schema v1|v2          which schema of schemas/ to register (default v2)",
      "--schema-file PATH      register this .avsc instead (to try an evolution)",
    ]));
    Deno.exit(0);
  }
  config = loadConfig(Deno.env, flags.overrides);
  const version = String(flags.extra.schema ?? "v2");
  if (version !== "v1" && version !== "v2") {
    throw new TypeError(
      `--schema must be v1 or v2: current value is "${version}"`,
    );
  }
  const file = flags.extra["schema-file"];
  schemaText = file
    ? await readFileOrThrow(String(file))
    : await readSchema(version as SchemaVersion);
  JSON.parse(schemaText);
} catch (error) {
  console.error(`setup-schema: ${(error as Error).message}`);
  Deno.exit(2);
}

const log = createLogger("setup-schema", { format: config.logFormat });
const subject = `${config.kafka.topic}-value`;
const admin = createKafka(config.kafka, { clientId: "setup-schema", log })
  .admin();
try {
  await admin.connect();
  const { topic, partitions, replication, minIsr } = config.kafka;
  const made = await ensureTopic(admin, {
    topic,
    partitions,
    replication,
    minIsr,
  });
  log.info(
    `topic ${topic} ${made === "created" ? "created" : "already there"}`,
    { partitions, replication, minIsr },
  );
  const dlq = await ensureTopic(admin, {
    topic: config.consumer.dlqTopic,
    partitions: 1,
    replication,
    minIsr,
  });
  log.info(
    `dead-letter topic ${config.consumer.dlqTopic} ${
      dlq === "created" ? "created" : "already there"
    }`,
  );

  const registry = createRegistry(config.registryUrl);
  await registry.setCompatibility(subject, "BACKWARD");
  const found = await registry.lookup(subject, schemaText);
  if (found) {
    log.info(`schema already registered under ${subject}`, {
      id: found.id,
      version: found.version,
    });
  } else {
    const { id } = await registry.register(subject, schemaText);
    log.info(`schema registered under ${subject}`, {
      id,
      compatibility: "BACKWARD",
    });
  }
} catch (error) {
  log.error((error as Error).message);
  Deno.exitCode = 1;
} finally {
  await admin.disconnect().catch(() => {});
}

async function readFileOrThrow(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new TypeError(
      `--schema-file ${path} cannot be read: ${(error as Error).message}`,
    );
  }
}
