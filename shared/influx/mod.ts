/**
 * TODO
 *
 * @module
 */
export * from "./influx.ts";
