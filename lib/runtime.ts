/**
 * What the code runs on (Deno, Node.js or a browser) and a portable read of environment variables, so the
 * modules that the public package (`mod.ts`) uses run on all three.
 *
 * @module
 */

/**
 * The type of the `Deno` namespace where Deno's types are loaded, `never` elsewhere (so the package's
 * declarations also compile for Node.js projects, which have no `Deno` types).
 *
 * @example
 * ```ts
 * const deno: DenoNamespace | undefined = denoRuntime();
 * ```
 */
export type DenoNamespace = typeof globalThis extends { Deno: infer D } ? D : never;

/**
 * The `Deno` namespace when running on Deno, else undefined.
 *
 * @example
 * ```ts
 * const cwd = denoRuntime()?.cwd();
 * ```
 */
export function denoRuntime(): DenoNamespace | undefined {
  return (globalThis as { Deno?: DenoNamespace }).Deno;
}

/**
 * The runtime: `deno`, `node` or `browser` (anything else with neither `Deno` nor `process`).
 *
 * @example
 * ```ts
 * const where: RuntimeName = runtimeName();
 * ```
 */
export type RuntimeName = "deno" | "node" | "browser";

/**
 * Which runtime this is.
 *
 * @example
 * ```ts
 * if (runtimeName() === "browser") console.log("weights must be fetched, not read from a path");
 * ```
 */
export function runtimeName(): RuntimeName {
  if (denoRuntime()) return "deno";
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return proc?.versions?.node ? "node" : "browser";
}

/**
 * The value of an environment variable, or undefined when it is unset, when the runtime has none (a browser)
 * or when Deno is not allowed to read it (`--allow-env`).
 *
 * @example
 * ```ts
 * const backend = readEnv("LOPT_BACKEND") ?? "wasm";
 * ```
 */
export function readEnv(name: string): string | undefined {
  const deno = denoRuntime();
  if (deno) {
    try {
      return deno.env.get(name);
    } catch {
      return undefined; // no --allow-env
    }
  }
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name];
}
