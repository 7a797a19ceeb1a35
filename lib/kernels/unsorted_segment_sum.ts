/**
 * `UnsortedSegmentSum` for the tfjs `wasm` backend (missing in 4.22.0). tfjs uses it for the gradient of
 * `tf.gather` (embedding lookups, label gathers), so training anything that gathers needs it.
 *
 * `out[s, ...] = Σ_{i : segmentIds[i] = s} x[i, ...]`; ids outside `[0, numSegments)` are dropped (as in
 * TensorFlow). Output shape `[numSegments, ...x.shape.slice(segmentIds.rank)]`, dtype of `x`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { allocOutput, heapView, input, type KernelArgs, wasmBackend } from "./wasm_io.ts";

/**
 * Adds each row `i` of `x` (rows of length `inner`) into row `ids[i]` of `out` (`numSegments` rows, must be
 * zeroed by the caller). Rows with an id outside `[0, numSegments)` are skipped.
 *
 * @example
 * ```ts
 * const out = new Float32Array(4);
 * unsortedSegmentSumRows([1, 2, 3, 4, 5, 6], [1, 0, 1], out, 2, 2); // out = [3, 4, 6, 8]
 * ```
 */
export function unsortedSegmentSumRows(
  x: ArrayLike<number>,
  ids: ArrayLike<number>,
  out: { [i: number]: number; length: number },
  inner: number,
  numSegments: number,
): void {
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += x[src + j];
  }
}

/**
 * The kernel function: reads `x` and `segmentIds` from the wasm heap, writes the sums to a new wasm tensor.
 *
 * @example
 * ```ts
 * const attrs = { numSegments: 4 };
 * const sums = unsortedSegmentSum({ inputs: { x, segmentIds }, backend: tf.backend(), attrs }); // 4 rows
 * ```
 */
export function unsortedSegmentSum(
  args: KernelArgs,
): tf.TensorInfo {
  const backend = wasmBackend(args);
  const x = input(args, "x");
  const segmentIds = input(args, "segmentIds");
  const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const idsRank = segmentIds.shape.length;
  const outShape = [numSegments, ...x.shape.slice(idsRank)];
  const nIds = tf.util.sizeFromShape(segmentIds.shape);
  const inner = nIds === 0
    ? tf.util.sizeFromShape(x.shape.slice(idsRank))
    : tf.util.sizeFromShape(x.shape) / nIds;
  const dtype = x.dtype === "int32" ? "int32" : "float32";
  const out = allocOutput(backend, outShape, dtype);
  const outView = heapView(backend, out);
  const xs = x.dtype === dtype ? heapView(backend, x) : (backend.readSync(x.dataId) as ArrayLike<number>);
  const ids = segmentIds.dtype === "int32"
    ? heapView(backend, segmentIds)
    : (backend.readSync(segmentIds.dataId) as ArrayLike<number>);
  unsortedSegmentSumRows(xs, ids, outView, inner, numSegments);
  return out;
}

/** Registration record for `tf.registerKernel`. */
export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: "wasm",
  kernelFunc: unsortedSegmentSum,
};
