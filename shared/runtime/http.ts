/**
 * One HTTP helper for the project's JSON clients (schema registry,
 * InfluxDB, Grafana): a `fetch` with a timeout and an abort signal, JSON in
 * and out, and one error class, {@linkcode HttpError}, that says whether a
 * call is worth another attempt (network errors, 408, 429 and 5xx are) and
 * how long the server asked to wait (`Retry-After`).
 *
 * Retrying is the caller's choice, with `retry` from this package:
 * `retry(() => requestJson(url), { isRetriable: (e) => e instanceof HttpError && e.retriable })`.
 *
 * @module
 */

/** Options for {@linkcode HttpError}. */
export interface HttpErrorOptions {
  /** The request's method. @default {""} */
  method?: string;
  /** The request's URL, with any secret in it masked. @default {""} */
  url?: string;
  /** The server's answer: parsed JSON, or text when it is not JSON. @default {undefined} */
  body?: unknown;
  /** Milliseconds the server asked to wait (`Retry-After`). @default {undefined} */
  retryAfterMs?: number;
  /** The error underneath, such as fetch's `TypeError`. @default {undefined} */
  cause?: unknown;
}

/**
 * A request a server refused (an unexpected status) or did not answer
 * (status 0: network error or timeout). Clients subclass it to give their
 * own name (`RegistryError`, `InfluxWriteError`, `GrafanaError`).
 *
 * @example Retry only what is worth it
 * ```ts ignore
 * import { HttpError, requestJson, retry } from "@cryptocandles/runtime";
 * const health = await retry(() => requestJson("http://127.0.0.1:8181/health"), {
 *   isRetriable: (e) => e instanceof HttpError && e.retriable,
 *   delayFor: (e) => (e as HttpError).retryAfterMs,
 * });
 * ```
 */
export class HttpError extends Error {
  /** HTTP status, or 0 when the server did not answer. */
  readonly status: number;
  /** True for no answer, 408, 429 and 5xx: worth another attempt. */
  readonly retriable: boolean;
  /** Milliseconds the server asked to wait (`Retry-After`), when it did. */
  readonly retryAfterMs?: number;
  /** The request's method. */
  readonly method: string;
  /** The request's URL, secrets masked. */
  readonly url: string;
  /** The server's answer: parsed JSON, or text when it is not JSON. */
  readonly body?: unknown;

  /**
   * @param message What failed, with the server's own message.
   * @param status HTTP status, or 0 when the server did not answer.
   * @param options Method, URL, body, Retry-After and cause.
   */
  constructor(message: string, status: number, options: HttpErrorOptions = {}) {
    const { method = "", url = "", body, retryAfterMs, cause } = options;
    super(message, { cause });
    this.name = "HttpError";
    this.status = status;
    this.retriable = status === 0 || status === 408 || status === 429 ||
      status >= 500;
    this.retryAfterMs = retryAfterMs;
    this.method = method;
    this.url = url;
    this.body = body;
  }
}

/** A constructor of {@linkcode HttpError} or of a subclass. */
export type HttpErrorClass = new (
  message: string,
  status: number,
  options?: HttpErrorOptions,
) => HttpError;

/** Options for {@linkcode requestJson} and {@linkcode httpRequest}. */
export interface RequestOptions {
  /** HTTP method. @default {"GET"} */
  method?: string;
  /**
   * What to send: a string, bytes, `Blob`, `FormData`, `URLSearchParams` or
   * stream goes as it is; any other value is sent as JSON (with
   * `content-type: application/json` unless `headers` names one).
   * @default {undefined}
   */
  body?: unknown;
  /** Request headers; they win over the defaults. @default {{}} */
  headers?: Record<string, string>;
  /** Milliseconds to wait for the whole answer, body included. @default {10000} */
  timeoutMs?: number;
  /** Aborts the request; the helper then throws the signal's reason, not an {@linkcode HttpError}. @default {undefined} */
  signal?: AbortSignal;
  /** Statuses besides 2xx that are answers rather than errors (such as `[404]`). @default {[]} */
  expect?: readonly number[];
  /** How to read an accepted answer: parsed JSON (`undefined` when empty), text, or nothing. @default {"json"} */
  parse?: "json" | "text" | "none";
  /** Names the server in error messages, such as `schema registry`. @default {"server"} */
  service?: string;
  /**
   * The part of `url` error messages name after "at" (the client's base URL);
   * the rest is shown as the path. @default {the URL's origin}
   */
  baseUrl?: string;
  /** Advice appended to an error's message, by status (0: no answer). @default {() => ""} */
  hint?: (status: number) => string;
  /** The error class to throw. @default {HttpError} */
  errorClass?: HttpErrorClass;
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

/** An accepted answer of {@linkcode httpRequest}. */
export interface HttpAnswer<T> {
  /** HTTP status: 2xx or one of `expect`. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** The body, read as `parse` asks. */
  body: T;
}

/**
 * Sends one request and returns the body of an accepted answer (2xx or a
 * status in `expect`).
 *
 * @param url The full URL.
 * @param options Method, body, headers, timeout, signal, accepted statuses and how to name the server.
 * @returns The parsed JSON (`undefined` for an empty body), the text, or `undefined`, as `parse` asks.
 * @throws {HttpError} (or `errorClass`) for any other status, a network
 *   error or a timeout (status 0), or a 2xx body that is not JSON; the
 *   signal's reason when `signal` aborts.
 *
 * @example Read a subject's versions from the schema registry
 * ```ts ignore
 * import { requestJson } from "@cryptocandles/runtime";
 * const versions = await requestJson<number[]>(
 *   "http://127.0.0.1:8081/apis/ccompat/v7/subjects/CRIPTOMONEDAS-value/versions",
 *   { service: "schema registry", timeoutMs: 5000 },
 * );
 * ```
 */
export async function requestJson<T = unknown>(
  url: string,
  options: RequestOptions = {},
): Promise<T> {
  return (await httpRequest<T>(url, options)).body;
}

/**
 * {@linkcode requestJson} with the status and headers of the answer, for
 * callers that accept more than one status (`expect: [404]`).
 *
 * @param url The full URL.
 * @param options As for {@linkcode requestJson}.
 * @returns The status, headers and body of an accepted answer.
 * @throws {HttpError} As {@linkcode requestJson} does.
 *
 * @example Tell "missing" from "found"
 * ```ts ignore
 * import { httpRequest } from "@cryptocandles/runtime";
 * const { status, body } = await httpRequest("http://127.0.0.1:3000/api/datasources/uid/x", {
 *   service: "Grafana",
 *   expect: [404],
 * });
 * if (status === 404) console.log("no data source x");
 * ```
 */
export async function httpRequest<T = unknown>(
  url: string,
  options: RequestOptions = {},
): Promise<HttpAnswer<T>> {
  const {
    method = "GET",
    body,
    headers = {},
    timeoutMs = 10_000,
    signal,
    expect = [],
    parse = "json",
    fetch: doFetch = fetch,
  } = options;
  const where = describe(url, options);
  const fail = (status: number, reason: string, more: HttpErrorOptions) => {
    const { errorClass = HttpError, hint = () => "" } = options;
    const message = status === 0
      ? `${where.service} at ${where.base} did not answer ${method} ${where.path}: ${reason}`
      : `${where.service} at ${where.base} answered ${method} ${where.path} with ${status} ${reason}`;
    return new errorClass(`${message}${hint(status)}`, status, {
      method,
      url: where.url,
      ...more,
    });
  };

  const timeout = AbortSignal.timeout(timeoutMs);
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const { init, contentType } = encodeBody(body);
  const sent = new Headers({ accept: "application/json" });
  if (contentType) sent.set("content-type", contentType);
  for (const [name, value] of Object.entries(headers)) sent.set(name, value);

  let response: Response;
  try {
    response = await doFetch(url, {
      method,
      headers: sent,
      body: init,
      signal: both,
    });
  } catch (cause) {
    if (signal?.aborted) throw signal.reason;
    // A refused permission is no network error: retrying cannot help.
    if (cause instanceof Deno.errors.NotCapable) throw cause;
    const reason = timeout.aborted
      ? `no answer in ${timeoutMs} ms`
      : (cause as Error)?.message ?? String(cause);
    throw fail(0, reason, { cause });
  }
  let text: string | undefined;
  try {
    const accepted = response.ok || expect.includes(response.status);
    if (accepted && parse === "none") await response.body?.cancel();
    else text = await response.text();
  } catch (cause) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.aborted) {
      throw fail(0, `no answer in ${timeoutMs} ms`, { cause });
    }
    // A query that fails while the server streams its rows ends this way:
    // InfluxDB 3 Core answers 200 and cuts the body off.
    throw fail(
      response.status,
      `but the answer was cut off: ${
        (cause as Error)?.message ?? cause
      } (a query that fails while the server sends its rows ends this way; the server's log says why)`,
      { cause },
    );
  }

  const { status } = response;
  if (response.ok || expect.includes(status)) {
    if (parse !== "json") {
      return { status, headers: response.headers, body: text as T };
    }
    if (text === undefined || text.trim() === "") {
      return { status, headers: response.headers, body: undefined as T };
    }
    try {
      return { status, headers: response.headers, body: JSON.parse(text) };
    } catch (cause) {
      if (!response.ok) {
        return { status, headers: response.headers, body: undefined as T };
      }
      throw fail(status, `but the body is not JSON: ${text.slice(0, 300)}`, {
        body: text,
        cause,
      });
    }
  }
  const answer = parseLenient(text ?? "");
  throw fail(status, serverMessage(answer, text ?? ""), {
    body: answer,
    retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
  });
}

/**
 * Reads a `Retry-After` header: delay-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`).
 *
 * @param value The header's value (`null` when absent).
 * @param now The current time in ms, for dates. @default {Date.now()}
 * @returns Milliseconds to wait (0 for a date in the past), or `undefined`
 *   when there is no header or it is neither form.
 *
 * @example Both forms
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRetryAfter } from "@cryptocandles/runtime";
 * assert.equal(parseRetryAfter("2"), 2000);
 * const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
 * assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), 30_000);
 * ```
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  // Every HTTP date form starts with a day name; Date.parse alone takes "-5" for a year.
  if (!/^[a-z]{3}/i.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The request's URL split as messages show it, secrets masked. */
function describe(url: string, options: RequestOptions) {
  const { service = "server", baseUrl } = options;
  const safe = maskUrl(url);
  const base = baseUrl?.replace(/\/+$/, "");
  if (base && url.startsWith(base)) {
    return {
      service,
      url: safe,
      base: maskUrl(base),
      path: maskUrl(url).slice(maskUrl(base).length) || "/",
    };
  }
  let origin = safe;
  let path = "";
  try {
    const parsed = new URL(safe);
    origin = parsed.origin;
    path = `${parsed.pathname}${parsed.search}`;
  } catch {
    // Not a URL: fetch will say so; show it whole.
  }
  return { service, url: safe, base: origin, path };
}

const SECRET_PARAM = /token|password|secret|key|auth|signature/i;

/** The URL without user info, and with secret-looking query values masked. */
function maskUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  let changed = false;
  if (parsed.username || parsed.password) {
    parsed.username = "";
    parsed.password = "";
    changed = true;
  }
  for (const name of [...parsed.searchParams.keys()]) {
    if (SECRET_PARAM.test(name)) {
      parsed.searchParams.set(name, "***");
      changed = true;
    }
  }
  if (!changed) return url;
  const href = parsed.href;
  // URL adds a trailing slash to a bare origin; keep the caller's form.
  return url.endsWith("/") || !href.endsWith("/") ? href : href.slice(0, -1);
}

/** What fetch takes as the body, and the content type a JSON body needs. */
function encodeBody(
  body: unknown,
): { init?: BodyInit; contentType?: string } {
  if (body === undefined || body === null) return {};
  if (
    typeof body === "string" || body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) || body instanceof Blob ||
    body instanceof FormData || body instanceof URLSearchParams ||
    body instanceof ReadableStream
  ) {
    return { init: body as BodyInit };
  }
  return { init: JSON.stringify(body), contentType: "application/json" };
}

/** JSON when the text is JSON, else the text itself (undefined when empty). */
function parseLenient(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The server's own message: `message` or `error` of a JSON body, else the text; at most 300 characters. */
function serverMessage(answer: unknown, text: string): string {
  const record = typeof answer === "object" && answer !== null
    ? answer as Record<string, unknown>
    : {};
  const found = [record.message, record.error].find((value) =>
    typeof value === "string" && value !== ""
  );
  return String(found ?? text).trim().slice(0, 300);
}
