/**
 * Running the pipeline on one machine: the local no-Docker stack (which
 * JDK it runs, its rendered Kafka and registry configuration, its
 * processes), the permission sets of deno.json that every script runs
 * under, and what `launch.ts` needs to supervise the scripts and show
 * their status.
 *
 * @example Bring the local stack up on the configured ports
 * ```ts ignore
 * import { loadConfig } from "@cryptocandles/config";
 * import { stackPorts, stackUp } from "@cryptocandles/launch";
 *
 * const started = await stackUp({ ...stackPorts(loadConfig()), log });
 * ```
 *
 * @module
 */
export * from "./java.ts";
export * from "./permissions.ts";
export * from "./relaunch.ts";
export * from "./render.ts";
export * from "./stack.ts";
export * from "./status.ts";
export * from "./steps.ts";
export * from "./supervisor.ts";
export * from "./programs.ts";
export * from "./servers.ts";
