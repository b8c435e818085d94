/**
 * A client of the Confluent-compatible schema registry API (Apicurio's
 * `/apis/ccompat/v7`, or Confluent's), with schemas cached by id.
 *
 * @module
 */
import { type AvroType, parseSchema } from "./avro.ts";
import { retry, type RetryOptions } from "@cryptocandles/runtime";

/** A registry answer other than success, or no answer. */
export class RegistryError extends Error {
  /** HTTP status, or 0 when the registry did not answer. */
  readonly status: number;
  /** The registry's `error_code` (such as 40401 subject not found, 409 incompatible). */
  readonly code?: number;
  /** True for no answer, 5xx and 429. */
  readonly retriable: boolean;
  /**
   * @param message What failed, with the registry's own message.
   * @param status HTTP status, or 0.
   * @param options The registry's error code and the cause.
   */
  constructor(
    message: string,
    status: number,
    options: { code?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "RegistryError";
    this.status = status;
    this.code = options.code;
    this.retriable = status === 0 || status === 429 || status >= 500;
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
  /** Retry of unanswered, 5xx and 429 calls. @default {{ maxAttempts: 4, minTimeout: 250 }} */
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

  const call = (method: string, path: string, body?: unknown) =>
    retry(async () => {
      let response: Response;
      try {
        response = await doFetch(`${base}${path}`, {
          method,
          headers: { "content-type": CONTENT_TYPE, accept: CONTENT_TYPE },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (cause) {
        throw new RegistryError(
          `schema registry at ${base} did not answer ${method} ${path}: ${
            (cause as Error).message
          }`,
          0,
          { cause },
        );
      }
      const text = await response.text();
      const json = text ? safeJson(text) : {};
      if (!response.ok) {
        const message = json?.message ?? text.slice(0, 300);
        throw new RegistryError(
          `schema registry ${method} ${path}: ${response.status} ${message}`,
          response.status,
          {
            code: json?.error_code,
          },
        );
      }
      return json;
    }, {
      ...retryOptions,
      isRetriable: (e) => e instanceof RegistryError && e.retriable,
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

// deno-lint-ignore no-explicit-any
function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
