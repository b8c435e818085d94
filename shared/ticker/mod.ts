/**
 * TODO
 *
 * @module
 */
export * from "./ticker.ts";
