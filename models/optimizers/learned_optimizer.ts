/**
 * Loading the learned optimizer for use in your own code, on Deno, Node.js or in a browser: the shipped
 * pretrained weights ({@link loadPretrained}) or a weights file of your own ({@link loadLearnedOptimizer}).
 * Loading also sets up TensorFlow.js: it keeps a backend you have already set, else selects `wasm` (the fused
 * HRNN kernel runs there), and says which (`selectBackendForUser` in `lib/backend.ts`).
 *
 * @module
 */
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { type BackendSelection, selectBackendForUser } from "../../lib/backend.ts";
import { denoRuntime, runtimeName } from "../../lib/runtime.ts";
import { LEARNED_OPTIMIZER_NAME, type Optimizer } from "../../lib/optimizer.ts";
import { optimizerFromWeights } from "./learned_kinds.ts";
import { fusedUnsupportedReason } from "../hrnn/fused_abi.ts";
import { fusedLoadError } from "../hrnn/fused_instance.ts";
import { describeFusedEngine } from "../hrnn/native.ts";
import { decodeBase64 } from "../hrnn/kernel/encoding.ts";
import { decodeWeights, type LearnedKind, type WeightsProvenance } from "../hrnn/weights_file.ts";
import { PRETRAINED_WEIGHTS_BASE64 } from "../pretrained/hrnn_weights.ts";
import release from "../pretrained/provenance.json" with { type: "json" };
import type { PretrainedRelease } from "../release_record.ts";

/**
 * File name of the weights inside a `meta-train` artifact folder.
 *
 * @example
 * ```ts
 * await loadLearnedOptimizer(`results/artifacts/meta-train/<key>/${ARTIFACT_WEIGHTS_FILE}`);
 * ```
 */
export const ARTIFACT_WEIGHTS_FILE = "hrnn.weights";

/**
 * Options of {@link loadPretrained} and {@link loadLearnedOptimizer}.
 *
 * @example
 * ```ts
 * const options: LoadOptions = { seed: 1, wasmPaths: "/wasm/", log: null };
 * ```
 */
export interface LoadOptions {
  /**
   * Seeds the random initial per-parameter learning rates that `init` draws (default 0): the same seed gives
   * the same training run.
   */
  seed?: number;
  /**
   * Where the tfjs wasm backend's `.wasm` files are served from (a URL prefix ending in `/`), for browsers;
   * passed to `setWasmPaths` before the backend starts. Node.js and Deno find them in `node_modules`.
   */
  wasmPaths?: string;
  /** Receives the line saying which backend runs (default `console.info`); `null`: say nothing. */
  log?: ((line: string) => void) | null;
}

/**
 * A loaded learned optimizer.
 *
 * @example
 * ```ts
 * const l: LearnedOptimizer = await loadPretrained();
 * console.log(l.backend.backend, l.updateEngine, l.provenance.profile);
 * l.dispose();
 * ```
 */
export interface LearnedOptimizer {
  /** The optimizer: pass it to `toTfOptimizer` for `model.fit`, or call `init` / `update` yourself. */
  optimizer: Optimizer;
  /** Which learned optimizer the weights hold: `hrnn` (the released weights), `l2l-lstm` or `crnn`. */
  kind: LearnedKind;
  /** Where the weights came from (profile, params, meta-training summary, commit), as stored in the file. */
  provenance: WeightsProvenance;
  /** The TensorFlow.js backend the optimizer runs on and whether it was kept or selected. */
  backend: BackendSelection;
  /**
   * How the update runs, in words: the native fused kernel (Deno with `--allow-ffi` on Linux x86-64), the
   * WebAssembly fused kernel (the wasm backend elsewhere), or tfjs ops (other backends), and why.
   */
  updateEngine: string;
  /** Frees the meta-parameter tensors (the optimizer cannot be used afterwards). */
  dispose(): void;
}

/**
 * The release record of the shipped pretrained weights (`models/pretrained/provenance.json`): the profile and
 * params they were trained with, the lopt commit, the meta-training curve summary, the held-out and ConvNet
 * evaluation summaries measured with them, and the licence.
 *
 * @example
 * ```ts
 * const r = pretrainedRelease();
 * console.log(r.profile, r.licence);
 * ```
 */
export function pretrainedRelease(): PretrainedRelease {
  return structuredClone(release) as unknown as PretrainedRelease;
}

/**
 * Loads the pretrained learned optimizer shipped with lopt (the weights are embedded in the module: nothing is
 * read or downloaded).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * const { optimizer } = await loadPretrained();
 * const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [4] })] });
 * model.compile({ optimizer: toTfOptimizer(optimizer), loss: "meanSquaredError" });
 * ```
 */
export async function loadPretrained(options: LoadOptions = {}): Promise<LearnedOptimizer> {
  return await fromBytes(decodeBase64(PRETRAINED_WEIGHTS_BASE64), "the pretrained weights", options);
}

/**
 * Loads a learned optimizer from a weights file (`hrnn.weights`): a path, or the folder of a `meta-train`
 * artifact (Deno, Node.js), a URL (fetched; the way to load in a browser), or the file's bytes.
 *
 * @example
 * ```ts
 * const { optimizer, provenance } = await loadLearnedOptimizer("results/artifacts/meta-train/<key>");
 * console.log(provenance.profile, optimizer.name);
 * ```
 */
export async function loadLearnedOptimizer(
  source: string | URL | Uint8Array,
  options: LoadOptions = {},
): Promise<LearnedOptimizer> {
  if (source instanceof Uint8Array) return await fromBytes(source, "the given weights bytes", options);
  const isUrl = source instanceof URL || /^(https?|blob|data):/.test(source);
  if (isUrl) {
    const url = source instanceof URL ? source : new URL(source);
    if (url.protocol !== "file:") {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HRNN weights ${url.href}: HTTP ${res.status} ${res.statusText}.`);
      return await fromBytes(new Uint8Array(await res.arrayBuffer()), `weights ${url.href}`, options);
    }
  }
  const path = source instanceof URL ? decodeURIComponent(source.pathname) : source;
  const file = await resolveWeightsPath(path);
  return await fromBytes(await readBytes(file), `weights file ${file}`, options);
}

async function fromBytes(bytes: Uint8Array, what: string, options: LoadOptions): Promise<LearnedOptimizer> {
  if (options.wasmPaths !== undefined) setWasmPaths(options.wasmPaths);
  const backend = await selectBackendForUser();
  const log = options.log === undefined ? console.info : options.log;
  log?.(backend.message);
  const loaded = decodeWeights(bytes, what);
  const optimizer = optimizerFromWeights(loaded, { seed: options.seed ?? 0, name: LEARNED_OPTIMIZER_NAME });
  return {
    optimizer,
    kind: loaded.optimizer,
    provenance: loaded.provenance,
    backend,
    updateEngine: loaded.optimizer === "hrnn"
      ? updateEngine(backend.backend, fusedUnsupportedReason(loaded.config))
      : `${loaded.optimizer} update: tfjs ops`,
    dispose: () => Object.values(loaded.metaParams).forEach((t) => t.dispose()),
  };
}

function updateEngine(backend: string, unsupported: string | null): string {
  if (backend !== "wasm") {
    return `HRNN update: tfjs ops (the fused kernel needs the wasm backend, not ${backend})`;
  }
  if (unsupported) return `HRNN update: tfjs ops (${unsupported})`;
  const err = fusedLoadError();
  return err ? `HRNN update: tfjs ops (${err.message})` : describeFusedEngine();
}

/** A file path as given, or `<folder>/hrnn.weights` for a folder (a `meta-train` artifact). */
async function resolveWeightsPath(path: string): Promise<string> {
  const isDir = await isDirectory(path);
  return isDir ? `${path.replace(/\/+$/, "")}/${ARTIFACT_WEIGHTS_FILE}` : path;
}

async function isDirectory(path: string): Promise<boolean> {
  const deno = denoRuntime();
  try {
    if (deno) return (await deno.stat(path)).isDirectory;
    if (runtimeName() === "node") return (await (await import("node:fs/promises")).stat(path)).isDirectory();
  } catch {
    return false; // missing: readBytes says so
  }
  throw new Error(`Cannot read the path ${path} in a browser: pass a URL or the file's bytes.`);
}

/** The bytes of a file (Deno or Node.js), with a one-line error naming the path. */
async function readBytes(path: string): Promise<Uint8Array> {
  try {
    const deno = denoRuntime();
    if (deno) return await deno.readFile(path);
    return new Uint8Array(await (await import("node:fs/promises")).readFile(path));
  } catch (e) {
    const code = (e as { code?: string }).code;
    const missing = code === "ENOENT" || (e as Error).name === "NotFound";
    throw new Error(
      missing
        ? `HRNN weights file ${path} does not exist. Pass a meta-train artifact folder or its hrnn.weights.`
        : `HRNN weights file ${path} cannot be read: ${(e as Error).message}`,
    );
  }
}
