/**
 * Where the results live: the results directory (`--results`, `LOPT_RESULTS`, or `./results`) and the
 * database file inside it.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import { DB_FILE, resolveResultsDir } from "./results_dir.ts";
 * join(resolveResultsDir(), DB_FILE); // "/abs/path/results/lopt.duckdb"
 * ```
 *
 * @module
 */

import { resolve } from "node:path";

/**
 * File name of the results database inside the results directory.
 *
 * @example
 * ```ts
 * join("results", DB_FILE); // "results/lopt.duckdb"
 * ```
 */
export const DB_FILE = "lopt.duckdb";

/**
 * Resolves the results directory: the `--results` flag, else the `LOPT_RESULTS` environment variable,
 * else `./results`; returned as an absolute path.
 *
 * @example
 * ```ts
 * resolveResultsDir("/tmp/r"); // "/tmp/r"
 * ```
 */
export function resolveResultsDir(flag?: string): string {
  const chosen = flag && flag.length > 0 ? flag : (Deno.env.get("LOPT_RESULTS") || "results");
  return resolve(Deno.cwd(), chosen);
}
