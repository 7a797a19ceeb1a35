/**
 * A correct `Sign` for the tfjs `wasm` backend, replacing the built-in one.
 *
 * tfjs-backend-wasm 4.22.0's `Sign` returns 0 for every |x| below float32 machine epsilon (1.19e-7): measured
 * `tf.sign([3.7e-12, 1e-7, -1e-9, 1e-30])` = [0, 0, 0, 0] on wasm vs [1, 1, −1, 1] on cpu. The HRNN's first-step
 * rule (models/hrnn/README.md §2.3: the RMS decay is used only when some mean square is non-zero) is written with
 * `sign`, so on wasm every tensor whose mean squares stayed below 1.19e-7 (gradients below ~3e-4) was treated
 * as being at its first step forever. This kernel follows the cpu backend: −1, 0 or 1 by comparison with 0
 * (NaN gives 0), in the input's dtype.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { heapView, input, type KernelArgs, wasmBackend } from "./wasm_io.ts";

/**
 * sign of every element of `x` into `out` (−1, 0 or 1; NaN → 0, as on the cpu backend).
 *
 * @example
 * ```ts
 * const out = new Float32Array(4);
 * signInto([3.7e-12, -2, 0, NaN], out); // out = [1, -1, 0, 0]
 * ```
 */
export function signInto(x: ArrayLike<number>, out: { [i: number]: number; length: number }): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = v > 0 ? 1 : v < 0 ? -1 : 0;
  }
}

/**
 * The kernel function: reads `x` from the wasm heap and writes its sign to a new wasm tensor.
 *
 * @example
 * ```ts
 * const s = sign({ inputs: { x }, backend: tf.backend(), attrs: {} }); // -1, 0 or 1 per element of x
 * ```
 */
export function sign(args: KernelArgs): tf.TensorInfo {
  const backend = wasmBackend(args);
  const x = input(args, "x");
  const dtype = x.dtype === "int32" ? "int32" : "float32";
  // Every element is written, so the output is not zero-filled first (allocOutput would).
  const out = backend.makeOutput(x.shape, dtype);
  const outView = heapView(backend, out);
  const xs = x.dtype === dtype ? heapView(backend, x) : (backend.readSync(x.dataId) as ArrayLike<number>);
  signInto(xs, outView);
  return out;
}

/** Registration record for `tf.registerKernel` (replaces the built-in wasm `Sign`). */
export const signConfig: tf.KernelConfig = {
  kernelName: tf.Sign,
  backendName: "wasm",
  kernelFunc: sign,
};
