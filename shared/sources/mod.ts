/**
 * TODO
 *
 * @module
 */
export * from "./sources.ts";
