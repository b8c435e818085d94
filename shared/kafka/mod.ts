/**
 * TODO
 *
 * @module
 */
export * from "./assignors.ts";
export * from "./kafka.ts";
