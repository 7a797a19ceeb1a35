/**
 * TensorFlow.js backend selection for lopt.
 *
 * `wasm` is the default (fast, ships inside the npm package); `tensorflow` (tfjs-node or tfjs-node-gpu) is used
 * only when the user has installed it; `cpu` is the portable fallback. Kernels that the wasm backend lacks are
 * registered by {@link registerMissingKernels} (see `lib/kernels/`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerMissingKernels } from "./kernels/mod.ts";
import { registerZeroGradients } from "./gradients.ts";

/** Backends lopt knows how to set up. */
export const BACKENDS = ["wasm", "cpu", "tensorflow"] as const;
/** One of {@link BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

type KernelRegistrar = (backend: string) => void;
const registrars: KernelRegistrar[] = [registerMissingKernels];

/** Adds a function that registers extra kernels for a backend; called by {@link initBackend}. */
export function addKernelRegistrar(fn: KernelRegistrar): void {
  registrars.push(fn);
}

let current: BackendName | null = null;

/**
 * Selects and initialises a backend. Idempotent. Throws a message telling the user what to do when the
 * requested backend cannot be loaded.
 */
export async function initBackend(name: BackendName = defaultBackend()): Promise<BackendName> {
  if (!BACKENDS.includes(name)) {
    throw new Error(`Unknown backend '${name}'. Choose one of: ${BACKENDS.join(", ")}.`);
  }
  if (current === name) return name;
  tf.enableProdMode();
  if (name === "tensorflow") {
    const loaded = await loadTfjsNode();
    if (!loaded) {
      throw new Error(
        "Backend 'tensorflow' needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, which is not installed. " +
          "Install one of them in this project (npm i @tensorflow/tfjs-node-gpu), or select the 'wasm' backend instead (for a stage: --set STAGE.backend=wasm; elsewhere: LOPT_BACKEND=wasm).",
      );
    }
  }
  registerZeroGradients();
  for (const r of registrars) r(name);
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`TensorFlow.js could not initialise the '${name}' backend.`);
  await tf.ready();
  current = name;
  return name;
}

/** The backend named by LOPT_BACKEND, or `wasm`. */
export function defaultBackend(): BackendName {
  const env = Deno.env.get("LOPT_BACKEND");
  if (env && (BACKENDS as readonly string[]).includes(env)) return env as BackendName;
  return "wasm";
}

/**
 * Loads tfjs-node-gpu or tfjs-node if the user installed it into `node_modules/` (e.g. `npm i
 * @tensorflow/tfjs-node-gpu`). Only an installed package is imported, by its path: importing an `npm:`
 * specifier would make Deno fetch the package (without its native library) and rewrite deno.lock.
 */
async function loadTfjsNode(): Promise<boolean> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    const dir = `${Deno.cwd()}/node_modules/${pkg}`;
    let main: string;
    try {
      const manifest = JSON.parse(await Deno.readTextFile(`${dir}/package.json`)) as { main?: string };
      main = `${dir}/${manifest.main ?? "index.js"}`;
    } catch {
      continue; // not installed
    }
    try {
      await import(new URL(`file://${main}`).href);
      return true;
    } catch (e) {
      throw new Error(`${pkg} is installed in ${dir} but failed to load: ${(e as Error).message}`);
    }
  }
  return false;
}
