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

async function loadTfjsNode(): Promise<boolean> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await import(`npm:${pkg}@4.22.0`);
      return true;
    } catch {
      // not installed: try the next one
    }
  }
  return false;
}
