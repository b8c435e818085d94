/**
 * TODO
 *
 * @module
 */
export * from "./command.ts";
export * from "./fs.ts";
export * from "./http.ts";
export * from "./log.ts";
export * from "./retry.ts";
export * from "./shutdown.ts";
