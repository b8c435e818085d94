/**
 * `deno task setup-schema`: makes the ticker topic (and its dead-letter
 * topic) with the configured shape, sets the value subject's compatibility
 * to BACKWARD, and registers the schema; the same for the compacted history
 * topic `<KAFKA_TOPIC>.candles` and its `Candle` schema. Idempotent: a
 * second run says the id it found.
 *
 *     deno task setup-schema [--schema v1|v2] [--schema-file path.avsc]
 *
 * @module
 */
import {
  createRegistry,
  readCandleSchema,
  readSchema,
  type RegistryClient,
} from "@cryptocandles/avro";
import { type Flags, runScript, UsageError } from "@cryptocandles/config";
import {
  connectOnce,
  createKafka,
  ensureCompactedTopic,
  ensureTopic,
} from "@cryptocandles/kafka";
import type { Logger } from "@cryptocandles/runtime";

await runScript({
  name: "setup-schema",
  flags: { schema: "string", "schema-file": "string" },
  help: [
    "--schema v1|v2          which schema of schemas/ to register (default v2)",
    "--schema-file PATH      register this .avsc instead (to try an evolution)",
  ],
  async main({ config, log, flags }) {
    const schemaText = await schemaOf(flags);
    const subject = `${config.kafka.topic}-value`;
    const admin = createKafka(config.kafka, { clientId: "setup-schema", log })
      .admin();
    try {
      await connectOnce(admin);
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
      const dlqTopic = config.consumer.dlqTopic;
      const dlq = await ensureTopic(admin, {
        topic: dlqTopic,
        partitions: 1,
        replication,
        minIsr,
      });
      log.info(
        `dead-letter topic ${dlqTopic} ${
          dlq === "created" ? "created" : "already there"
        }`,
      );
      const candles = `${topic}.candles`;
      const history = await ensureCompactedTopic(admin, {
        topic: candles,
        partitions,
        replication,
        minIsr,
      });
      log.info(
        `history topic ${candles} (compacted) ${
          history === "created" ? "created" : "already there"
        }`,
      );

      const registry = createRegistry(config.registryUrl);
      await register(registry, subject, schemaText, log);
      await register(
        registry,
        `${candles}-value`,
        await readCandleSchema(),
        log,
      );
    } finally {
      await admin.disconnect().catch(() => {});
    }
  },
});

/** Sets BACKWARD on the subject and registers the schema unless it is there. */
async function register(
  registry: RegistryClient,
  subject: string,
  schemaText: string,
  log: Logger,
): Promise<void> {
  await registry.setCompatibility(subject, "BACKWARD");
  const found = await registry.lookup(subject, schemaText);
  if (found) {
    log.info(`schema already registered under ${subject}`, {
      id: found.id,
      version: found.version,
    });
    return;
  }
  const { id } = await registry.register(subject, schemaText);
  log.info(`schema registered under ${subject}`, {
    id,
    compatibility: "BACKWARD",
  });
}

/** The schema to register: `--schema-file`, else `--schema` v1 or v2 (a usage error otherwise). */
async function schemaOf(flags: Flags): Promise<string> {
  const version = String(flags.extra.schema ?? "v2");
  if (version !== "v1" && version !== "v2") {
    throw new UsageError(
      `--schema must be v1 or v2: current value is "${version}"`,
    );
  }
  const file = flags.extra["schema-file"];
  const text = file
    ? await readFileOrThrow(String(file))
    : await readSchema(version);
  try {
    JSON.parse(text);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return text;
}

async function readFileOrThrow(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    throw new UsageError(
      `--schema-file ${path} cannot be read: ${(error as Error).message}`,
    );
  }
}
