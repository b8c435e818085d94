/**
 * TODO
 *
 * @module
 */
export * from "./candles.ts";
export * from "./http.ts";
