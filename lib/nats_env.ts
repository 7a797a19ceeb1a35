/**
 * The environment variable that names the NATS server for meta-training workers, in a module of its own so
 * that checking it (as the `meta-train` stage's params validation does) does not load the NATS client.
 *
 * @example
 * ```ts
 * import { NATS_URL_ENV } from "./nats_env.ts";
 * const url = Deno.env.get(NATS_URL_ENV) ?? ""; // "" when no --nats URL was given
 * ```
 *
 * @module
 */

/** The environment variable naming the NATS server (`--nats URL` sets it). */
export const NATS_URL_ENV = "LOPT_NATS_URL";
