/**
 * The argument blocks of the differentiable fused HRNN kernel (`taped_kernel.ts`) on the tfjs wasm heap: the
 * scratch they live in, the part common to every tensor of a call (sizes, flags, weights), the per-tensor part
 * (pointers, first-step indicators, μ_ℓ, the biased GRU biases) and the LR means per tensor or per problem
 * instance.
 *
 * @example
 * ```ts
 * import { groupTotals } from "./taped_args.ts";
 * groupTotals([1, 2, 3], [10, 20, 30], [0, 0, 1]); // { total: [3, 3], count: [30, 30] }
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { ARG_BLOCK } from "./fused_abi.ts";
import { checkInHeap, type Instance, offsetOf, wasmModule } from "./fused_instance.ts";
import { type Layout, MAX_LANES, VJP_BLOCK } from "./taped_layout.ts";

const { floats: A_FLOATS, sums: A_SUMS, acc: A_ACC } = ARG_BLOCK;

/**
 * A kernel call's named inputs, every name present (the taped kernels always pass all of theirs).
 *
 * @example
 * ```ts
 * const named = inputs as TensorInfoMap;
 * ```
 */
export type TensorInfoMap = Record<string, tf.TensorInfo>;

/**
 * Scratch on the tfjs heap for the argument blocks, the cotangent doubles and the VJP partial sums (byte
 * offsets).
 *
 * @example
 * ```ts
 * const sc: Scratch = scratchFor(inst, layoutOf(config));
 * ```
 */
export interface Scratch {
  /** The pass's argument block. */
  a: number;
  /** The VJP's argument block. */
  v: number;
  /** The VJP's cotangents of the float block (doubles). */
  cot: number;
  /** The VJP's per-lane partial sums. */
  part: number;
  /** The pass's sums block (doubles). */
  sums: number;
}

const scratches = new WeakMap<Instance, { ptr: number; bytes: number }>();

/**
 * The scratch of an instance, grown (freed and allocated again) when a layout needs more.
 *
 * @example
 * ```ts
 * const { a } = scratchFor(inst, lay); // the argument block's offset
 * ```
 */
export function scratchFor(inst: Instance, lay: Layout): Scratch {
  const align = (x: number) => Math.ceil(x / 16) * 16;
  const aBytes = align((A_FLOATS + lay.floatCount) * 4);
  const sumsBytes = align((lay.n0 + lay.f + 1) * 8);
  const vBytes = align((VJP_BLOCK.floats + lay.n0 + lay.f + 1) * 4);
  const cotBytes = align(lay.floatCount * 8);
  const partBytes = lay.floatCount * MAX_LANES * 4;
  const need = aBytes + sumsBytes + vBytes + cotBytes + partBytes;
  let s = scratches.get(inst);
  if (!s || s.bytes < need) {
    const wasm = wasmModule(inst.backend);
    if (s) wasm._free(s.ptr);
    const bytes = Math.max(need, 64 * 1024);
    const raw = wasm._malloc(bytes + 16);
    if (!(raw > 0)) {
      throw new Error(`HRNN taped kernel: cannot allocate ${bytes} bytes of scratch on the heap.`);
    }
    s = { ptr: (raw + 15) & ~15, bytes };
    scratches.set(inst, s);
  }
  const a = s.ptr;
  return {
    a,
    sums: a + aBytes,
    v: a + aBytes + sumsBytes,
    cot: a + aBytes + sumsBytes + vBytes,
    part: a + aBytes + sumsBytes + vBytes + cotBytes,
  };
}

/**
 * The common part of a call's argument block: views of its int words and float block, and the learned GRU
 * biases before the per-tensor external bias is added.
 *
 * @example
 * ```ts
 * const common: CommonBlock = fillCommon(b, inst, sc, lay, inputs, config.maxLogLr);
 * ```
 */
export interface CommonBlock {
  /** The float block. */
  fl: Float32Array;
  /** The int words. */
  ints: Int32Array;
  /** The learned gate and candidate biases [3N0]. */
  base: Float64Array;
}

/**
 * Fills the argument block common to all tensors of a call: sizes, flags and the weights (float block).
 *
 * @example
 * ```ts
 * const { fl } = fillCommon(b, inst, sc, lay, inputs, config.maxLogLr); // fl[1] === maxLogLr
 * ```
 */
export function fillCommon(
  b: BackendWasm,
  inst: Instance,
  sc: Scratch,
  lay: Layout,
  inputs: TensorInfoMap,
  maxLogLr: number,
): CommonBlock {
  const buf = inst.memory.buffer;
  const ints = new Int32Array(buf, sc.a, A_FLOATS);
  ints.fill(0);
  ints[1] = lay.k;
  ints[2] = lay.n0;
  ints[3] = lay.f;
  ints[4] = lay.flags;
  ints[A_SUMS] = sc.sums;
  const fl = new Float32Array(buf, sc.a + A_FLOATS * 4, lay.floatCount);
  fl.fill(0);
  fl[1] = maxLogLr;
  // The learned GRU biases before the external bias is added (per tensor).
  const base = new Float64Array(3 * lay.n0);
  lay.weights.forEach((w, q) => {
    const t = inputs[`w${q}`];
    const src = new Float32Array(buf, offsetOf(b, t), w.length);
    if (w.sigmoid) fl[w.offset] = 1 / (1 + Math.exp(-src[0]));
    else fl.set(src, w.offset);
    if (w.biasFrom !== undefined) { for (let i = 0; i < w.length; i++) base[w.biasFrom + i] = src[i]; }
  });
  return { fl, ints, base };
}

/**
 * Per-tensor part of the argument block: pointers of the inputs, nz, μ_ℓ and the biased GRU biases.
 *
 * @example
 * ```ts
 * fillTensor(b, inst, lay, inputs, j, n, common, means[j]);
 * ```
 */
export function fillTensor(
  b: BackendWasm,
  inst: Instance,
  lay: Layout,
  inputs: TensorInfoMap,
  j: number,
  n: number,
  common: CommonBlock,
  lrMean: number,
): void {
  const { ints, fl, base } = common;
  const ex = inst.exports;
  const p = (name: string) => offsetOf(b, inputs[name]);
  ints[0] = n;
  ints[5] = p(`g${j}`);
  ints[6] = p(`h${j}`);
  ints[7] = p(`inp${j}`);
  ints[8] = p(`scl${j}`);
  ints[9] = lay.dos ? p(`lr${j}`) : 0;
  for (let i = 0; i < lay.k; i++) {
    ints[A_ACC + i] = p(`a${j}_${i}`);
    ints[A_ACC + lay.k + i] = p(`m${j}_${i}`);
  }
  fl[0] = lrMean;
  for (let i = 0; i < lay.k; i++) fl[7 + i] = ex.any_nonzero(p(`m${j}_${i}`), n);
  const n0 = lay.n0;
  let bias: Float32Array | null = null;
  if (lay.hasBias) {
    bias = new Float32Array(inst.memory.buffer, offsetOf(b, inputs.bias) + j * 3 * n0 * 4, 3 * n0);
  }
  for (let i = 0; i < 2 * n0; i++) fl[lay.ocg + i] = base[i] + (bias ? bias[i] : 0);
  for (let i = 0; i < n0; i++) fl[lay.occ + i] = base[2 * n0 + i] + (bias ? bias[2 * n0 + i] : 0);
}

/**
 * μ_ℓ per tensor: the tensor's mean, or with useProblemLrMean the mean over its problem instance's tensors
 * (`groups`; absent: all tensors); 0 when unused.
 *
 * @example
 * ```ts
 * const means = lrMeans(b, inst, lay, inputs, [10, 20], undefined);
 * ```
 */
export function lrMeans(
  b: BackendWasm,
  inst: Instance,
  lay: Layout,
  inputs: TensorInfoMap,
  ns: number[],
  groups: number[] | undefined,
): number[] {
  if (!lay.relativeLr) return ns.map(() => 0);
  const sums = ns.map((n, j) => inst.exports.sum_f32(offsetOf(b, inputs[`lr${j}`]), n));
  if (lay.problemMean) {
    const { total, count } = groupTotals(sums, ns, groups);
    return ns.map((_, j) => total[groupOf(groups, j)] / count[groupOf(groups, j)]);
  }
  return sums.map((s, j) => s / ns[j]);
}

/**
 * The instance of tensor j (0 without groups).
 *
 * @example
 * ```ts
 * groupOf([0, 0, 1], 2); // 1
 * ```
 */
export function groupOf(groups: number[] | undefined, j: number): number {
  return groups ? groups[j] : 0;
}

/**
 * Per instance: the sum of `values` over its tensors and its number of coordinates.
 *
 * @example
 * ```ts
 * groupTotals([1, 2], [10, 20], undefined); // { total: [3], count: [30] }
 * ```
 */
export function groupTotals(
  values: number[],
  ns: number[],
  groups: number[] | undefined,
): { total: number[]; count: number[] } {
  const total: number[] = [], count: number[] = [];
  values.forEach((v, j) => {
    const g = groupOf(groups, j);
    total[g] = (total[g] ?? 0) + v;
    count[g] = (count[g] ?? 0) + ns[j];
  });
  return { total, count };
}

/**
 * Checks each (tensor, float count) pair against the heap before native code touches it (`checkInHeap`).
 *
 * @example
 * ```ts
 * checkAll(b, inst, [[inputs.g0, n], [inputs.h0, n * n0]]);
 * ```
 */
export function checkAll(b: BackendWasm, inst: Instance, list: [tf.TensorInfo | undefined, number][]): void {
  const heapBytes = inst.memory.buffer.byteLength;
  for (const [t, count] of list) checkInHeap(b, t, count, heapBytes);
}
