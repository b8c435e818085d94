/**
 * TODO
 *
 * @module
 */
export * from "./avro.ts";
export * from "./registry.ts";
