/**
 * TODO
 *
 * @module
 */
export * from "./sink.ts";
