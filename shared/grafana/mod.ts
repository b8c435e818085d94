/**
 * TODO
 *
 * @module
 */
export * from "./dashboard.ts";
export * from "./grafana.ts";
