/**
 * TODO
 *
 * @module
 */
export * from "./permissions.ts";
export * from "./stack.ts";
export * from "./status.ts";
export * from "./steps.ts";
export * from "./supervisor.ts";
