/**
 * TensorFlow.js backend selection for lopt.
 *
 * `wasm` is the default (fast, ships inside the npm package); `webgpu` runs on the machine's WebGPU adapter
 * (Deno's `navigator.gpu`: a hardware GPU, or a software rasteriser such as Mesa's llvmpipe); `tensorflow`
 * (tfjs-node or tfjs-node-gpu) is used only when the user has installed it; `cpu` is the portable fallback.
 * Kernels that the wasm backend lacks are registered by {@link registerMissingKernels} (see `lib/kernels/`).
 * Each initialised backend is announced with {@link announceComputeDevice} (the pipeline writes it into the
 * stage's log and `stage_runs` row).
 *
 * On `webgpu` under Deno only asynchronous reads work (`await t.data()`): tfjs's synchronous read goes
 * through a 2D canvas, which Deno does not have.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerMissingKernels } from "./kernels/mod.ts";
import { registerMissingGradients } from "./gradients.ts";
import { announceComputeDevice } from "./compute_device.ts";
import { denoRuntime, readEnv } from "./runtime.ts";
import {
  describeWebGpu,
  NO_ADAPTER_MESSAGE,
  requestWebGpuAdapter,
  type WebGpuAdapter,
} from "./webgpu_adapter.ts";
import { installChunkedAddN } from "./webgpu_add_n.ts";

/** Backends lopt knows how to set up. */
export const BACKENDS = ["wasm", "cpu", "tensorflow", "webgpu"] as const;
/** One of {@link BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

type KernelRegistrar = (backend: string) => void;
const registrars: KernelRegistrar[] = [registerMissingKernels];

/**
 * Adds a function that registers extra kernels for a backend; called by {@link initBackend}.
 *
 * @example
 * ```ts
 * addKernelRegistrar((backend) => {
 *   if (backend === "wasm") tf.registerKernel(signConfig);
 * });
 * ```
 */
export function addKernelRegistrar(fn: KernelRegistrar): void {
  registrars.push(fn);
}

let current: BackendName | null = null;
let description: string | null = null;
let adapter: WebGpuAdapter | null = null;

/**
 * Selects and initialises a backend. Idempotent. Throws a message telling the user what to do when the
 * requested backend cannot be loaded (no tfjs-node installed, no WebGPU adapter).
 *
 * @example
 * ```ts
 * await initBackend("webgpu");
 * console.log(backendDescription()); // e.g. "webgpu (llvmpipe (LLVM 15.0.6, 256 bits); software adapter)"
 * ```
 */
export async function initBackend(name: BackendName = defaultBackend()): Promise<BackendName> {
  if (!BACKENDS.includes(name)) {
    throw new Error(`Unknown backend '${name}'. Choose one of: ${BACKENDS.join(", ")}.`);
  }
  if (current === name) return name;
  tf.enableProdMode();
  let desc: string = name;
  if (name === "tensorflow") {
    const found = await findTfjsNodeIn(tfjsNodeSearchPath());
    if (!found) throw new Error(TFJS_NODE_MISSING);
    await loadTfjsNode(found);
    desc = `tensorflow (${found.pkg})`;
  }
  if (name === "webgpu") {
    adapter = await requestWebGpuAdapter();
    if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
    // Loaded only when chosen: it registers itself as a backend on import.
    await import("@tensorflow/tfjs-backend-webgpu");
    desc = describeWebGpu(adapter);
  }
  registerMissingGradients();
  for (const r of registrars) r(name);
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`TensorFlow.js could not initialise the '${name}' backend.`);
  await tf.ready();
  if (name === "webgpu") installChunkedAddN(webgpuStorageBufferLimit());
  current = name;
  description = desc;
  announceComputeDevice(desc);
  return name;
}

/**
 * What the active backend runs on: the backend's name, for `tensorflow` the package, for `webgpu` the
 * adapter and whether it is software or hardware; null before {@link initBackend}.
 *
 * @example
 * ```ts
 * await initBackend("wasm");
 * backendDescription(); // "wasm"
 * ```
 */
export function backendDescription(): string | null {
  return description;
}

/**
 * The WebGPU adapter the `webgpu` backend runs on, or null when another backend (or none) is active.
 *
 * @example
 * ```ts
 * await initBackend("webgpu");
 * console.log(activeWebGpuAdapter()?.software ? "software adapter" : "GPU");
 * ```
 */
export function activeWebGpuAdapter(): WebGpuAdapter | null {
  return current === "webgpu" ? adapter : null;
}

/**
 * Throws a one-line error when the active backend cannot read tensors synchronously (`webgpu` under Deno)
 * and `what` needs to; call it after {@link initBackend} in code that uses `dataSync`.
 *
 * @example
 * ```ts
 * await initBackend();
 * requireSyncReads("stage meta-train");
 * ```
 */
export function requireSyncReads(what: string): void {
  if (current !== "webgpu") return;
  throw new Error(
    `${what} reads tensors synchronously, which the webgpu backend cannot do under Deno (tfjs's synchronous ` +
      "read needs a 2D canvas); run it on wasm (LOPT_BACKEND=wasm).",
  );
}

/** The error when `tensorflow` is chosen and neither tfjs-node package is installed; says what to do. */
export const TFJS_NODE_MISSING =
  "Backend 'tensorflow' needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, which is not installed. " +
  "Install one in a folder of its own, with internet access (mkdir ~/tfjs-node && cd ~/tfjs-node && " +
  "npm i @tensorflow/tfjs-node-gpu@4.22.0), and set LOPT_TFJS_NODE_MODULES=~/tfjs-node/node_modules; or " +
  "select the 'wasm' backend instead (for a stage: --set STAGE.backend=wasm; elsewhere: LOPT_BACKEND=wasm).";

/**
 * The `node_modules` folders searched for tfjs-node, in order: `LOPT_TFJS_NODE_MODULES` when set, then this
 * project's. (Running npm in the project itself would remove the packages Deno installed there: npm prunes
 * what its own lock file does not list.)
 *
 * @example
 * ```ts
 * tfjsNodeSearchPath(); // e.g. ["/home/me/tfjs-node/node_modules", "/work/lopt/node_modules"]
 * ```
 */
export function tfjsNodeSearchPath(): string[] {
  const deno = denoRuntime();
  if (!deno) return []; // elsewhere the user imports tfjs-node themselves
  const env = readEnv("LOPT_TFJS_NODE_MODULES");
  return [...(env ? [env] : []), `${deno.cwd()}/node_modules`];
}

/**
 * The first tfjs-node package found in `folders` (each searched with {@link findTfjsNode}), or null.
 *
 * @example
 * ```ts
 * const found = await findTfjsNodeIn(tfjsNodeSearchPath());
 * ```
 */
export async function findTfjsNodeIn(folders: string[]): Promise<TfjsNodePackage | null> {
  for (const f of folders) {
    const found = await findTfjsNode(f);
    if (found) return found;
  }
  return null;
}

/**
 * The backend named by LOPT_BACKEND, or `wasm`. A name that is not one of {@link BACKENDS} is returned as
 * given, so {@link initBackend} refuses it with the list instead of silently running on wasm.
 *
 * @example
 * ```ts
 * Deno.env.set("LOPT_BACKEND", "webgpu");
 * defaultBackend(); // "webgpu"
 * ```
 */
export function defaultBackend(): BackendName {
  const env = readEnv("LOPT_BACKEND");
  if (env) return env as BackendName;
  return "wasm";
}

/** An installed tfjs-node package: its name and the file its `package.json` `main` names. */
export interface TfjsNodePackage {
  pkg: "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node";
  dir: string;
  main: string;
}

/**
 * Finds tfjs-node-gpu (preferred) or tfjs-node installed under `nodeModules` (e.g. by `npm i
 * @tensorflow/tfjs-node-gpu@4.22.0` in a folder of its own), or null when neither is. Both share lopt's
 * TensorFlow.js engine (tfjs-core keeps its engine and kernel registry in a global, so a second copy of
 * tfjs-core in that folder registers the `tensorflow` backend where lopt sees it). Only an installed package is used, by its path:
 * importing an `npm:` specifier would make Deno fetch the package (without its native library) and rewrite
 * deno.lock.
 *
 * @example
 * ```ts
 * const found = await findTfjsNode(`${Deno.cwd()}/node_modules`);
 * console.log(found ? found.pkg : "not installed");
 * ```
 */
export async function findTfjsNode(nodeModules: string): Promise<TfjsNodePackage | null> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const) {
    const dir = `${nodeModules}/${pkg}`;
    try {
      const manifest = JSON.parse(await Deno.readTextFile(`${dir}/package.json`)) as { main?: string };
      return { pkg, dir, main: `${dir}/${manifest.main ?? "index.js"}` };
    } catch {
      continue; // not installed
    }
  }
  return null;
}

/**
 * Imports an installed tfjs-node package (which registers the `tensorflow` backend). A package that fails
 * to load (e.g. its native library was never downloaded) is a one-line error saying what to do.
 *
 * @example
 * ```ts
 * const found = await findTfjsNode(`${Deno.cwd()}/node_modules`);
 * if (found) await loadTfjsNode(found);
 * ```
 */
export async function loadTfjsNode(found: TfjsNodePackage): Promise<void> {
  try {
    await import(new URL(`file://${found.main}`).href);
  } catch (e) {
    throw new Error(
      `${found.pkg} is installed in ${found.dir} but failed to load: ${firstLine((e as Error).message)}. ` +
        `Reinstall it with internet access (npm i ${found.pkg}@4.22.0; its install step downloads the TensorFlow C ` +
        "library), or select the 'wasm' backend instead.",
    );
  }
}

function firstLine(s: string): string {
  return s.split("\n")[0];
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
    registerMissingGradients();
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
    registerMissingGradients();
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

/** How many storage buffers one shader of the active `webgpu` backend's device may bind. */
function webgpuStorageBufferLimit(): number {
  const device =
    (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } })
      .device;
  return device.limits.maxStorageBuffersPerShaderStage;
}
