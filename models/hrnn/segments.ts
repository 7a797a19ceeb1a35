/**
 * Blocks of parameter tensors that one HRNN update processes together, and exact per-tensor statistics
 * inside a block.
 *
 * Most problems of the meta-training ensemble have 2–2,500 parameters split over up to ~11 tensors, where
 * running the per-coordinate part of §4.7 tensor by tensor is dominated by op dispatch (and by tape
 * bookkeeping when meta-training differentiates through it). {@link planBlocks} packs consecutive small tensors
 * into one block; the update then concatenates their per-coordinate rows ([1, n_j] → [1, N]) and runs every
 * element-wise op and the per-coordinate GRU once per block. Statistics that the reference takes per tensor
 * (the first-step indicator, the RMS normalisation of the direction, the tensor-RNN inputs, the per-tensor
 * learning-rate mean) stay per tensor through {@link Segments}: products with constant 0/1 segment matrices,
 * so they remain plain differentiable ops. A tensor larger than the block limit forms a block of its own,
 * where the segment ops reduce to the whole-tensor reductions of the reference.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Largest number of coordinates packed into a multi-tensor block (larger tensors get their own block). */
export const MAX_BLOCK_COORDS = 8192;

/** A run of consecutive parameter tensors processed together. */
export interface Block {
  /** Indices of the tensors in parameter order. */
  index: number[];
  /** Coordinates n_j of each tensor. */
  sizes: number[];
  /** Σ n_j. */
  total: number;
}

/**
 * Packs consecutive tensors of the given sizes into blocks of at most `maxCoords` coordinates (in order).
 *
 * @example
 * ```ts
 * planBlocks([100, 20, 9000, 5]).map((b) => b.index); // [[0, 1], [2], [3]]
 * ```
 */
export function planBlocks(sizes: number[], maxCoords = MAX_BLOCK_COORDS): Block[] {
  const blocks: Block[] = [];
  let cur: Block | null = null;
  sizes.forEach((n, j) => {
    if (cur && cur.total + n <= maxCoords && n <= maxCoords) {
      cur.index.push(j);
      cur.sizes.push(n);
      cur.total += n;
    } else {
      cur = { index: [j], sizes: [n], total: n };
      blocks.push(cur);
    }
  });
  return blocks;
}

interface SegmentArrays {
  /** [N, T]: 1/n_j where coordinate c belongs to tensor j. */
  meanCols: Float32Array;
  /** [T, N]: 1 where coordinate c belongs to tensor j. */
  oneHotRows: Float32Array;
  /** [N, T]: 1 where coordinate c belongs to tensor j. */
  oneHotCols: Float32Array;
  /** [T, N]: 1/n_j where coordinate c belongs to tensor j. */
  meanRows: Float32Array;
}

const arrayCache = new Map<string, SegmentArrays>();

function segmentArrays(sizes: number[]): SegmentArrays {
  const key = sizes.join(",");
  let a = arrayCache.get(key);
  if (a) return a;
  const t = sizes.length;
  const total = sizes.reduce((x, y) => x + y, 0);
  a = {
    meanCols: new Float32Array(total * t),
    oneHotRows: new Float32Array(t * total),
    oneHotCols: new Float32Array(total * t),
    meanRows: new Float32Array(t * total),
  };
  let c = 0;
  sizes.forEach((n, j) => {
    for (let i = 0; i < n; i++, c++) {
      a!.meanCols[c * t + j] = 1 / n;
      a!.oneHotRows[j * total + c] = 1;
      a!.oneHotCols[c * t + j] = 1;
      a!.meanRows[j * total + c] = 1 / n;
    }
  });
  if (arrayCache.size > 256) arrayCache.clear();
  arrayCache.set(key, a);
  return a;
}

/**
 * Per-tensor reductions and broadcasts over the N coordinates of a block of T tensors. With T = 1 they are the
 * ordinary whole-tensor reductions (results broadcast by shape); with T > 1 they are products with segment
 * matrices, built once per update (call inside the update's `tf.tidy`).
 */
export interface Segments {
  /** Number of tensors T. */
  readonly count: number;
  /** Mean over each tensor's coordinates of every row: [R, N] → [R, T] ([R, 1] when T = 1). */
  meanRows(x: tf.Tensor2D): tf.Tensor2D;
  /** Per-tensor values back to coordinates: [R, T] → [R, N] (T = 1: returned as is, it broadcasts). */
  expand(v: tf.Tensor2D): tf.Tensor2D;
  /** Mean over each tensor's coordinate rows: [N, C] → [T, C]. */
  meanCoords(h: tf.Tensor2D): tf.Tensor2D;
  /** The one-hot tensor-membership columns [N, T] (T > 1 only: used to add per-tensor GRU biases). */
  oneHot(): tf.Tensor2D;
  /** Splits a [R, N] matrix (axis 1) or a [N, C] matrix (axis 0) into the T tensors' pieces. */
  split<T extends tf.Tensor>(x: T, axis: 0 | 1): T[];
}

/**
 * The {@link Segments} of a block.
 *
 * @example
 * ```ts
 * const seg = makeSegments(planBlocks([3, 2])[0]);
 * const means = seg.meanRows(tf.tensor2d([[1, 2, 3, 4, 6]])); // [[2, 5]]: one mean per tensor
 * ```
 */
export function makeSegments(block: Block): Segments {
  const t = block.sizes.length;
  const total = block.total;
  if (t === 1) {
    return {
      count: 1,
      meanRows: (x) => tf.mean(x, 1, true) as tf.Tensor2D,
      expand: (v) => v,
      // Not a [1, N]·[N, C] product: wasm re-packs a large right operand on every call (5× slower than Mean).
      meanCoords: (h) => tf.mean(h, 0, true) as tf.Tensor2D,
      oneHot: () => {
        throw new Error("a single-tensor block has no segment matrix");
      },
      split: (x) => [x],
    };
  }
  const arrays = segmentArrays(block.sizes);
  let meanCols: tf.Tensor2D | null = null,
    oneHot: tf.Tensor2D | null = null,
    meanRows: tf.Tensor2D | null = null,
    oneHotCols: tf.Tensor2D | null = null;
  return {
    count: t,
    meanRows: (x) => tf.matMul(x, meanCols ??= tf.tensor2d(arrays.meanCols, [total, t])),
    expand: (v) => tf.matMul(v, oneHot ??= tf.tensor2d(arrays.oneHotRows, [t, total])),
    meanCoords: (h) => tf.matMul(meanRows ??= tf.tensor2d(arrays.meanRows, [t, total]), h),
    oneHot: () => oneHotCols ??= tf.tensor2d(arrays.oneHotCols, [total, t]),
    split: <T extends tf.Tensor>(x: T, axis: 0 | 1) => tf.split(x, block.sizes, axis) as T[],
  };
}
