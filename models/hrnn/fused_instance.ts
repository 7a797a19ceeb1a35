/**
 * The fused kernel's WebAssembly module instantiated on the tfjs `wasm` backend's heap, and the heap access
 * the fused paths (`fused.ts`, `fused_taped.ts`) share: tensor offsets, bounds checks before native code runs,
 * and the backend's `malloc`.
 *
 * The kernel module imports the wasm backend's memory (`backend.wasm.asm.memory` of tfjs-backend-wasm 4.22),
 * so it works with pointers (`memoryOffset`) into that heap. It runs on a stack and scratch block that this
 * module allocates once per backend on the same heap with the backend's `malloc`.
 *
 * @example
 * ```ts
 * import { fusedLoadError } from "./fused_instance.ts";
 * const why = fusedLoadError(); // null when the kernel runs on the active wasm backend
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { gradientRecording } from "./engine.ts";
import { decodeBase64 } from "./kernel/encoding.ts";
import { STACK_BYTES as KERNEL_STACK_BYTES, WASM_BASE64 } from "./kernel/hrnn_coords_wasm.ts";

/** Stack for the kernel: its measured frames (build.ts) plus a margin, at least 64 KiB. */
const STACK_BYTES = Math.max(64 * 1024, Math.ceil((KERNEL_STACK_BYTES * 1.25 + 16 * 1024) / 16) * 16);

/**
 * The kernel module's exports (hrnn_coords.c).
 *
 * @example
 * ```ts
 * const total = (ex: KernelExports, ptr: number, n: number) => ex.sum_f32(ptr, n);
 * ```
 */
export interface KernelExports {
  /** The fused pass over one tensor (argument block at `args`). */
  hrnn_coords(args: number): void;
  /** The pass's vector-Jacobian product (argument blocks `args` and `vargs`). */
  hrnn_vjp(args: number, vargs: number): void;
  /** Adds `s` to `n` floats at `ptr`. */
  add_f32(ptr: number, n: number, s: number): void;
  /** The sum of `n` floats at `ptr`. */
  sum_f32(ptr: number, n: number): number;
  /** 1 when any of `n` floats at `ptr` is nonzero, else 0. */
  any_nonzero(ptr: number, n: number): number;
  /** Multiplies `n` floats at `ptr` by `s`. */
  scale_f32(ptr: number, n: number, s: number): void;
  /** The module's stack pointer (set to the scratch block before each call). */
  __stack_pointer: WebAssembly.Global;
}

/**
 * The kernel instantiated on one wasm backend's memory, with its scratch block.
 *
 * @example
 * ```ts
 * const heap = (inst: Instance) => new Uint8Array(inst.memory.buffer);
 * ```
 */
export interface Instance {
  /** The backend whose heap the kernel works on. */
  backend: BackendWasm;
  /** The kernel module's exports. */
  exports: KernelExports;
  /** The backend's memory (the heap). */
  memory: WebAssembly.Memory;
  /** Start of the scratch block (argument block + sums); the kernel's stack grows down from here. */
  scratch: number;
  /** Size of the scratch block in bytes. */
  scratchBytes: number;
}

let compiled: WebAssembly.Module | null = null;
const instances = new WeakMap<object, Instance>();

interface EmscriptenModule {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

/**
 * The Emscripten module of a wasm backend (its `_malloc` / `_free` allocate on the tfjs heap).
 *
 * @example
 * ```ts
 * const ptr = wasmModule(backend)._malloc(1024);
 * ```
 */
export function wasmModule(backend: BackendWasm): EmscriptenModule {
  return (backend as unknown as { wasm: EmscriptenModule }).wasm;
}

/**
 * The kernel instantiated on a wasm backend's memory (once per backend), with its stack and scratch block
 * allocated on that heap. Throws when it cannot be (see {@link fusedLoadError}).
 *
 * @example
 * ```ts
 * const inst = instanceFor(tf.backend());
 * ```
 */
export function instanceFor(backend: tf.KernelBackend): Instance {
  const cached = instances.get(backend);
  if (cached) return cached;
  const wasm = wasmModule(backend as BackendWasm);
  const memory = wasm.asm?.memory ?? wasm.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new Error(
      "HRNN fused kernel: cannot find the tfjs wasm backend's memory (tfjs-backend-wasm changed?). " +
        'Use makeHrnn(..., { kernel: "ops" }).',
    );
  }
  if (typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer) {
    throw new Error(
      "HRNN fused kernel: the tfjs wasm backend uses shared (multi-threaded) memory, which the kernel module " +
        'does not import; the update runs as tfjs ops (kernel "auto") instead.',
    );
  }
  compiled ??= new WebAssembly.Module(decodeBase64(WASM_BASE64) as Uint8Array<ArrayBuffer>);
  const inst = new WebAssembly.Instance(compiled, { env: { memory } });
  const exports = inst.exports as unknown as KernelExports;
  const scratchBytes = 128 * 1024;
  const base = wasm._malloc(STACK_BYTES + scratchBytes + 16);
  const aligned = (base + 15) & ~15;
  const instance: Instance = {
    backend: backend as BackendWasm,
    exports,
    memory,
    scratch: aligned + STACK_BYTES,
    scratchBytes,
  };
  instances.set(backend, instance);
  return instance;
}

/**
 * Whether the fused kernel can run now: the active backend is wasm and no gradient is being recorded.
 *
 * @example
 * ```ts
 * const path = fusedAvailable() ? "fused" : "ops";
 * ```
 */
export function fusedAvailable(): boolean {
  if (tf.getBackend() !== "wasm") return false;
  return !gradientRecording() && fusedLoadError() === null;
}

const loadErrors = new WeakMap<object, Error>();

/**
 * Why the kernel cannot be instantiated on the active wasm backend (e.g. a multi-threaded tfjs build whose
 * memory is shared, or a tfjs version whose internals moved), or null when it can. Tried once per backend.
 *
 * @example
 * ```ts
 * const err = fusedLoadError();
 * if (err) console.log(`HRNN update: tfjs ops (${err.message})`);
 * ```
 */
export function fusedLoadError(): Error | null {
  const backend = tf.backend();
  if (instances.has(backend)) return null;
  const known = loadErrors.get(backend);
  if (known) return known;
  try {
    instanceFor(backend);
    return null;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    loadErrors.set(backend, err);
    return err;
  }
}

/**
 * Byte offset of a tensor's data on the wasm heap (tfjs-backend-wasm's `dataIdMap`).
 *
 * @example
 * ```ts
 * const floats = new Float32Array(inst.memory.buffer, offsetOf(inst.backend, t), t.size);
 * ```
 */
export function offsetOf(backend: BackendWasm, t: tf.TensorInfo): number {
  const info = (backend as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } }).dataIdMap
    .get(t.dataId);
  return info.memoryOffset;
}

/**
 * Checks that tensor `t` holds `elements` floats and lies inside the heap (`heapBytes`): native code has no
 * bounds checks of its own, so a wrong pointer must stop here rather than write outside the heap.
 *
 * @example
 * ```ts
 * checkInHeap(backend, t, t.size, inst.memory.buffer.byteLength); // throws unless t lies in the heap
 * ```
 */
export function checkInHeap(
  b: BackendWasm,
  t: tf.TensorInfo | undefined,
  elements: number,
  heapBytes: number,
): void {
  if (!t) throw new Error("HRNN native kernel: an input tensor is missing — refusing to run.");
  const size = t.shape.reduce((a, d) => a * d, 1);
  const off = offsetOf(b, t);
  if (size !== elements || !(off > 0) || off + 4 * size > heapBytes) {
    throw new Error(
      `HRNN native kernel: tensor [${t.shape}] at heap offset ${off} (expected ${elements} floats inside ` +
        `${heapBytes} bytes) — refusing to run; use kernel "fused" or "ops" and report this.`,
    );
  }
}
