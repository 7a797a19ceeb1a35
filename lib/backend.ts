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
import { denoRuntime, readEnv } from "./runtime.ts";

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
  const env = readEnv("LOPT_BACKEND");
  if (env && (BACKENDS as readonly string[]).includes(env)) return env as BackendName;
  return "wasm";
}

/**
 * Loads tfjs-node-gpu or tfjs-node if the user installed it into `node_modules/` (e.g. `npm i
 * @tensorflow/tfjs-node-gpu`). Only an installed package is imported, by its path: importing an `npm:`
 * specifier would make Deno fetch the package (without its native library) and rewrite deno.lock.
 */
async function loadTfjsNode(): Promise<boolean> {
  const Deno = denoRuntime();
  if (!Deno) return false; // elsewhere the user imports tfjs-node themselves
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

/**
 * What {@link selectBackendForUser} did.
 *
 * @example
 * ```ts
 * const s: BackendSelection = await selectBackendForUser();
 * if (s.kept && s.backend === "cpu") console.warn(s.message);
 * ```
 */
export interface BackendSelection {
  /** The TensorFlow.js backend now active. */
  backend: string;
  /** True when a backend that was already set (by the user) was kept; false when lopt selected one. */
  kept: boolean;
  /** One line saying which backend runs and why. */
  message: string;
}

/**
 * The backend choice of the public module: keeps a backend that is already set (`tf.setBackend` by the user,
 * or tfjs-node's), else selects `wasm` (or `tensorflow` when tfjs-node has been imported). Either way lopt's
 * kernels and gradients are registered for it and the returned message names it; keeping `cpu` says that it is
 * slow. TensorFlow.js' "install tfjs-node" banner is silenced on `cpu`.
 *
 * @example
 * ```ts
 * const { backend, message } = await selectBackendForUser();
 * console.log(message); // lopt: TensorFlow.js backend 'wasm' (selected by lopt)
 * ```
 */
export async function selectBackendForUser(): Promise<BackendSelection> {
  const already = tf.engine().backendName;
  if (already) {
    await tf.ready();
    const name = tf.getBackend();
    registerZeroGradients();
    for (const r of registrars) r(name);
    if (name === "cpu") silenceCpuBanner();
    const slow = name === "cpu"
      ? '; it is slow: call `await tf.setBackend("wasm")` before loading lopt for the fused HRNN kernel'
      : "";
    return {
      backend: name,
      kept: true,
      message: `lopt: TensorFlow.js backend '${name}' (already set)${slow}`,
    };
  }
  const tfjsNode = tf.engine().registryFactory["tensorflow"] !== undefined;
  const name = tfjsNode ? "tensorflow" : "wasm";
  if (tfjsNode) {
    // Registered by an imported tfjs-node: nothing to load.
    registerZeroGradients();
    for (const r of registrars) r(name);
    if (!(await tf.setBackend(name))) {
      throw new Error("TensorFlow.js could not initialise tfjs-node's backend.");
    }
    current = name;
  } else {
    await initBackend(name);
  }
  return { backend: name, kept: false, message: `lopt: TensorFlow.js backend '${name}' (selected by lopt)` };
}

/**
 * Turns off the one-time "install our node backend" banner of the `cpu` backend (Node.js only). TensorFlow.js
 * has no setting for it: the backend prints it on its first write unless `firstUse` is already false.
 */
function silenceCpuBanner(): void {
  const cpu = tf.findBackend("cpu") as { firstUse?: boolean } | null;
  if (cpu && "firstUse" in cpu) cpu.firstUse = false;
}
