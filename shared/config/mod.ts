/**
 * TODO
 *
 * @module
 */
export * from "./config.ts";
