/**
 * The building blocks of the variable table: a {@linkcode Field} reads one
 * or more variables, and the parsers below check a raw value and throw one
 * line naming the variable, as "KAFKA_PARTITIONS must be an integer from 1
 * to 1000: current value is "two"".
 *
 * @module
 */

/** One variable as `--help` and the permissions list it. */
export interface Variable {
  /** The environment name, such as `KAFKA_BROKERS`. */
  readonly name: string;
  /** The value used when it is unset or blank. */
  readonly default?: string;
  /** One line saying what it means. */
  readonly help: string;
}

/** Reads a variable's value: trimmed, blank as unset, its default applied. */
export type Getter = (name: string) => string | undefined;

/** Checks a raw value (undefined when unset without a default) and returns it typed. */
export type Parser<T> = (
  value: string | undefined,
  name: string,
  get: Getter,
) => T;

/** A configuration field: the variables it reads and how it reads them. */
export interface Field<T> {
  /** The variables it reads, in `--help` order (one for all but SASL). */
  readonly variables: readonly Variable[];
  /** Reads and checks the value. */
  readonly read: (get: Getter) => T;
}

/** A field of one variable: its row in the table. */
export function variable<T>(
  name: string,
  parse: Parser<T>,
  info: { help: string; default?: string },
): Field<T> {
  return {
    variables: [{ name, ...info }],
    read: (get) => parse(get(name), name, get),
  };
}

/** Throws the one-line error every bad value gets. */
export function fail(variable: string, value: string, expected: string): never {
  throw new TypeError(
    `${variable} must be ${expected}: current value is ${
      JSON.stringify(value)
    }`,
  );
}

/** Any text, or undefined when unset. */
export const optional: Parser<string | undefined> = (value) => value;

/** An integer from `min` to `max`. */
export function int(min: number, max: number): Parser<number> {
  return (value = "", name) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || n < min || n > max) {
      fail(name, value, `an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** A finite number from `min` to `max`. */
export function num(min: number, max: number): Parser<number> {
  return (value = "", name) => {
    const n = Number(value);
    if (value === "" || !Number.isFinite(n) || n < min || n > max) {
      fail(name, value, `a number from ${min} to ${max}`);
    }
    return n;
  };
}

/** true/false, 1/0, yes/no or on/off. */
export const bool: Parser<boolean> = (value = "", name) => {
  const v = value.toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off"].includes(v)) return false;
  return fail(name, value, "true or false");
};

/** One of `allowed` (an `as const` array). */
export function oneOf<T extends string>(allowed: readonly T[]): Parser<T> {
  return (value = "", name) => {
    if (!allowed.includes(value as T)) {
      fail(name, value, `one of ${allowed.join(", ")}`);
    }
    return value as T;
  };
}

/** A URL of one of `protocols`, without trailing slashes. */
export function url(...protocols: string[]): Parser<string> {
  const expected = `a ${protocols.join(" or ")} URL`;
  return (value = "", name) => {
    if (!protocols.includes(URL.parse(value)?.protocol ?? "")) {
      fail(name, value, expected);
    }
    return value.replace(/\/+$/, "");
  };
}

/** Text that `ok` accepts, described as `expected`. */
export function matching(
  ok: (value: string) => boolean,
  expected: string,
): Parser<string> {
  return (value = "", name) => ok(value) ? value : fail(name, value, expected);
}

/** A Kafka topic, group or InfluxDB name. */
export const name: Parser<string> = matching(
  (v) => /^[A-Za-z0-9._-]{1,249}$/.test(v),
  "a name of letters, digits, '.', '_' or '-'",
);

/** A comma-separated list, each item accepted by `ok`, without repeats. */
export function list(
  ok: (item: string) => boolean,
  expected: string,
): Parser<string[]> {
  return (value = "", name) => {
    const items = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (items.length === 0) {
      fail(name, value, `a comma-separated list of ${expected}`);
    }
    const bad = items.find((item) => !ok(item));
    if (bad !== undefined) {
      fail(
        name,
        value,
        `a comma-separated list of ${expected} (bad item ${
          JSON.stringify(bad)
        })`,
      );
    }
    return [...new Set(items)];
  };
}

/** `host:port` with a port from 1 to 65535. */
export function hostPort(value: string): boolean {
  const match = /^([\w.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(value);
  return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65535;
}
