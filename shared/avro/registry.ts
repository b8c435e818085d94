/**
 * A client of the Confluent-compatible schema registry API (Apicurio's
 * `/apis/ccompat/v7`, or Confluent's), with schemas cached by id.
 *
 * @module
 */
import { type AvroType, parseSchema } from "./avro.ts";
import {
  HttpError,
  type HttpErrorOptions,
  requestJson,
  retry,
  type RetryOptions,
} from "@cryptocandles/runtime";

/**
 * A registry answer other than success, or no answer: an
 * {@linkcode HttpError} (`status`, `retriable`, `retryAfterMs`, `cause`)
 * with the registry's `error_code`.
 *
 * @example Tell an incompatible schema from an outage
 * ```ts ignore
 * import { createRegistry, RegistryError } from "@cryptocandles/avro";
 * const registry = createRegistry("http://127.0.0.1:8081/apis/ccompat/v7");
 * try {
 *   await registry.register("CRIPTOMONEDAS-value", schema);
 * } catch (error) {
 *   if (error instanceof RegistryError && error.status === 409) console.log(error.message);
 * }
 * ```
 */
export class RegistryError extends HttpError {
  /** The registry's `error_code` (such as 40401 subject not found, 409 incompatible). */
  readonly code?: number;
  /**
   * @param message What failed, with the registry's own message.
   * @param status HTTP status, or 0.
   * @param options Method, URL, the registry's answer (its `error_code` becomes {@linkcode RegistryError.code}) and the cause.
   */
  constructor(
    message: string,
    status: number,
    options: HttpErrorOptions = {},
  ) {
    super(message, status, options);
    this.name = "RegistryError";
    const code = (options.body as { error_code?: unknown } | undefined)
      ?.error_code;
    this.code = typeof code === "number" ? code : undefined;
  }
}

/** A registered schema. */
export interface RegisteredSchema {
  id: number;
  version?: number;
}

/** The registry calls the project makes. */
export interface RegistryClient {
  /** The id of `schema` under `subject`, or undefined when it is not registered there. */
  lookup(
    subject: string,
    schema: string,
  ): Promise<RegisteredSchema | undefined>;
  /** Registers `schema` under `subject` (idempotent); refused with the registry's message when incompatible. */
  register(subject: string, schema: string): Promise<RegisteredSchema>;
  /** Sets the subject's compatibility level, such as `BACKWARD`. */
  setCompatibility(subject: string, level: string): Promise<void>;
  /** The avsc type of schema `id`, fetched once and cached (concurrent calls share one fetch). */
  typeById(id: number): Promise<AvroType>;
}

/** Options for {@linkcode createRegistry}. */
export interface RegistryOptions {
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Retry of unanswered, 408, 429 and 5xx calls (waiting what Retry-After asks). @default {{ maxAttempts: 4, minTimeout: 250 }} */
  retry?: RetryOptions;
  /** Per-request timeout in ms. @default {10000} */
  timeoutMs?: number;
}

const CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";

/**
 * Creates a registry client for a Confluent-compatible API base URL.
 *
 * @param baseUrl Such as `http://127.0.0.1:8081/apis/ccompat/v7`.
 * @param options fetch, retry policy and timeout.
 * @returns A {@linkcode RegistryClient}.
 *
 * @example Register the v2 schema
 * ```ts ignore
 * import { readSchema } from "@cryptocandles/avro";
 * import { createRegistry } from "@cryptocandles/avro";
 * const registry = createRegistry("http://127.0.0.1:8081/apis/ccompat/v7");
 * const { id } = await registry.register("CRIPTOMONEDAS-value", await readSchema("v2"));
 * ```
 */
export function createRegistry(
  baseUrl: string,
  options: RegistryOptions = {},
): RegistryClient {
  const {
    fetch: doFetch = fetch,
    retry: retryOptions = { maxAttempts: 4, minTimeout: 250 },
    timeoutMs = 10_000,
  } = options;
  const base = baseUrl.replace(/\/+$/, "");
  const types = new Map<number, Promise<AvroType>>();

  // deno-lint-ignore no-explicit-any
  const call = (method: string, path: string, body?: unknown): Promise<any> =>
    retry(() =>
      requestJson(`${base}${path}`, {
        method,
        body,
        headers: { "content-type": CONTENT_TYPE, accept: CONTENT_TYPE },
        timeoutMs,
        fetch: doFetch,
        service: "schema registry",
        baseUrl: base,
        errorClass: RegistryError,
      }), {
      ...retryOptions,
      isRetriable: (e) => e instanceof RegistryError && e.retriable,
      delayFor: (e) => (e as RegistryError).retryAfterMs,
    });

  const subjectPath = (subject: string) =>
    `/subjects/${encodeURIComponent(subject)}`;
  return {
    async lookup(subject, schema) {
      try {
        const found = await call("POST", subjectPath(subject), {
          schema,
          schemaType: "AVRO",
        });
        return { id: found.id, version: found.version };
      } catch (error) {
        if (error instanceof RegistryError && error.status === 404) {
          return undefined;
        }
        throw error;
      }
    },
    async register(subject, schema) {
      const { id } = await call("POST", `${subjectPath(subject)}/versions`, {
        schema,
        schemaType: "AVRO",
      });
      return { id };
    },
    async setCompatibility(subject, level) {
      await call("PUT", `/config/${encodeURIComponent(subject)}`, {
        compatibility: level,
      });
    },
    typeById(id) {
      let type = types.get(id);
      if (!type) {
        type = call("GET", `/schemas/ids/${id}`).then((found) =>
          parseSchema(found.schema)
        );
        types.set(id, type);
        type.catch(() => types.delete(id));
      }
      return type;
    },
  };
}

/**
 * The id and type of a schema that must already be registered under
 * `subject` (the producer refuses to start without it).
 *
 * @param registry A registry client.
 * @param subject Such as `CRIPTOMONEDAS-value`.
 * @param schemaText The schema's JSON text.
 * @returns The registry's id and the parsed type.
 * @throws {Error} When the schema is not registered there, saying to run setup-schema.
 *
 * @example
 * ```ts ignore
 * const { id, type } = await registeredType(registry, "CRIPTOMONEDAS-value", await readSchema("v2"));
 * ```
 */
export async function registeredType(
  registry: RegistryClient,
  subject: string,
  schemaText: string,
): Promise<{ id: number; type: AvroType }> {
  const compact = JSON.stringify(JSON.parse(schemaText));
  const found = await registry.lookup(subject, compact);
  if (!found) {
    const name = JSON.parse(schemaText).name;
    throw new Error(
      `schema ${name} is not registered under ${subject}: run \`deno task setup-schema\` first`,
    );
  }
  return { id: found.id, type: parseSchema(schemaText) };
}
