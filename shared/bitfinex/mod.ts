/**
 * TODO
 *
 * @module
 */
export * from "./bitfinex.ts";
