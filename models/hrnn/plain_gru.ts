/**
 * The tiny tensor-level and global RNNs of the fused inference pass, in plain TypeScript on float arrays
 * (float64 arithmetic): one BiasGRUCell step and a small affine map. They run on the sums the kernel returns,
 * where a handful of tfjs ops would cost more dispatch than the arithmetic.
 *
 * @example
 * ```ts
 * import { gruStepJs } from "./plain_gru.ts";
 * const h = gruStepJs(weights, [0.5, -1], [0, 0], null);
 * ```
 *
 * @module
 */

/**
 * Plain-array weights of one BiasGRUCell.
 *
 * @example
 * ```ts
 * const w: JsGru = { gatesW, gatesB, candW, candB, units: 2 };
 * ```
 */
export interface JsGru {
  /** Gate weights [(d + N) × 2N], row-major: reset gates then update gates. */
  gatesW: Float32Array;
  /** Gate biases [2N]. */
  gatesB: Float32Array;
  /** Candidate weights [(d + N) × N], row-major. */
  candW: Float32Array;
  /** Candidate biases [N]. */
  candB: Float32Array;
  /** N, the number of units. */
  units: number;
}

/**
 * A small affine x·W + b on plain arrays.
 *
 * @example
 * ```ts
 * const a: JsAffine = { w: new Float32Array([1, 2]), b: new Float32Array([0]) }; // [2] → [1]
 * ```
 */
export interface JsAffine {
  /** Weights [d × m], row-major. */
  w: Float32Array;
  /** Biases [m]. */
  b: Float32Array;
}

/**
 * Adds x·W + b to `out` (a fresh zero array when not given) and returns it.
 *
 * @example
 * ```ts
 * affine({ w: new Float32Array([1, 2]), b: new Float32Array([1]) }, [3, 4]); // Float64Array [12]
 * ```
 */
export function affine(a: JsAffine, x: ArrayLike<number>, out?: Float64Array): Float64Array {
  const m = a.b.length;
  const y = out ?? new Float64Array(m);
  for (let o = 0; o < m; o++) {
    let s = a.b[o];
    for (let i = 0; i < x.length; i++) s += x[i] * a.w[i * m + o];
    y[o] += s;
  }
  return y;
}

/**
 * The logistic function.
 *
 * @example
 * ```ts
 * sigmoid(0); // 0.5
 * ```
 */
export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * One BiasGRUCell step on plain arrays (float64 arithmetic), bias [3N] or null.
 *
 * @example
 * ```ts
 * const h = gruStepJs(weights, x, hOld, null); // Float32Array [N]
 * ```
 */
export function gruStepJs(
  w: JsGru,
  x: ArrayLike<number>,
  h: ArrayLike<number>,
  bias: ArrayLike<number> | null,
) {
  const n = w.units;
  const d = x.length;
  const xh = new Float64Array(d + n);
  for (let i = 0; i < d; i++) xh[i] = x[i];
  for (let i = 0; i < n; i++) xh[d + i] = h[i];
  const r = new Float64Array(n), u = new Float64Array(n);
  for (let o = 0; o < 2 * n; o++) {
    let s = w.gatesB[o] + (bias ? bias[o] : 0);
    for (let i = 0; i < d + n; i++) s += xh[i] * w.gatesW[i * 2 * n + o];
    if (o < n) r[o] = sigmoid(s);
    else u[o - n] = sigmoid(s);
  }
  for (let i = 0; i < n; i++) xh[d + i] = r[i] * h[i];
  const out = new Float32Array(n);
  for (let o = 0; o < n; o++) {
    let s = w.candB[o] + (bias ? bias[2 * n + o] : 0);
    for (let i = 0; i < d + n; i++) s += xh[i] * w.candW[i * n + o];
    const c = Math.tanh(s);
    out[o] = u[o] * h[o] + (1 - u[o]) * c;
  }
  return out;
}
