/**
 * A differentiable linear solve for tfjs: X = M⁻¹ R as one op, for one system or a batch of them.
 *
 * tfjs 4.22 has no solve op (only `tf.linalg.qr` and `bandPart`), and an elimination written in tfjs ops costs
 * several ops per row, all of them differentiated twice when a problem's gradient is itself differentiated
 * (meta-training with second derivatives). This op computes X in float64 on the host (LU with partial
 * pivoting; the systems it serves are small) and defines its gradient with the same op:
 * dR = M⁻ᵀ dX and dM = −dR Xᵀ (X solved again from the saved M and R). The gradient is built from differentiable ops (this solve, a transpose, a
 * matmul), so it can be differentiated again: second derivatives through a solve are exact.
 *
 * Reads its inputs synchronously (`dataSync`), like every problem that meta-training runs.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { linearSolve } from "./linear_solve.ts";
 * const x = linearSolve(tf.tensor2d([[2, 0], [0, 4]]), tf.tensor2d([[2], [2]])); // [[1], [0.5]]
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Solves each system `m[b] · x = r[b]` in float64: Gaussian elimination with partial pivoting.
 * `m` is [batch, k, k] and `r` is [batch, k, cols], row-major; a singular system gives NaN.
 */
function solveBatch(m: ArrayLike<number>, r: ArrayLike<number>, batch: number, k: number, cols: number) {
  const out = new Float32Array(batch * k * cols);
  const a = new Float64Array(k * k);
  const x = new Float64Array(k * cols);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < k * k; i++) a[i] = m[b * k * k + i];
    for (let i = 0; i < k * cols; i++) x[i] = r[b * k * cols + i];
    let singular = false;
    for (let c = 0; c < k && !singular; c++) {
      let p = c;
      for (let i = c + 1; i < k; i++) if (Math.abs(a[i * k + c]) > Math.abs(a[p * k + c])) p = i;
      if (!(Math.abs(a[p * k + c]) > 0)) {
        singular = true;
        break;
      }
      if (p !== c) {
        for (let j = 0; j < k; j++) [a[c * k + j], a[p * k + j]] = [a[p * k + j], a[c * k + j]];
        for (let j = 0; j < cols; j++) {
          [x[c * cols + j], x[p * cols + j]] = [x[p * cols + j], x[c * cols + j]];
        }
      }
      const pivot = a[c * k + c];
      for (let i = c + 1; i < k; i++) {
        const f = a[i * k + c] / pivot;
        if (f === 0) continue;
        for (let j = c; j < k; j++) a[i * k + j] -= f * a[c * k + j];
        for (let j = 0; j < cols; j++) x[i * cols + j] -= f * x[c * cols + j];
      }
    }
    if (singular) {
      out.fill(NaN, b * k * cols, (b + 1) * k * cols);
      continue;
    }
    for (let i = k - 1; i >= 0; i--) {
      for (let j = 0; j < cols; j++) {
        let s = x[i * cols + j];
        for (let l = i + 1; l < k; l++) s -= a[i * k + l] * x[l * cols + j];
        x[i * cols + j] = s / a[i * k + i];
      }
    }
    for (let i = 0; i < k * cols; i++) out[b * k * cols + i] = x[i];
  }
  return out;
}

/** The batched op on [batch, k, k] and [batch, k, cols] tensors, with its gradient. */
const solve3d: (m: tf.Tensor, r: tf.Tensor) => tf.Tensor = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [m, r, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [batch, k] = m.shape;
    const cols = r.shape[2]!;
    const x: tf.Tensor = tf.tensor3d(solveBatch(m.dataSync(), r.dataSync(), batch, k!, cols), [
      batch,
      k!,
      cols,
    ]);
    // Saves the inputs, not X: tfjs records the copies it saves on the tape before this op, so a gradient
    // through a saved output would not reach M and R when the gradient is differentiated again.
    save([m, r]);
    return {
      value: x,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [ms, rs] = saved;
        const xs: tf.Tensor = solve3d(ms, rs);
        const dr: tf.Tensor = solve3d(tf.transpose(ms, [0, 2, 1]), dy);
        const dm: tf.Tensor = tf.neg(tf.matMul(dr as tf.Tensor3D, xs as tf.Tensor3D, false, true));
        return [dm, dr];
      },
    };
  },
);

/**
 * X = M⁻¹ R for M [k, k] and R [k, cols], or for batches M [B, k, k] and R [B, k, cols]. Differentiable any
 * number of times in M and R. A singular M gives NaN.
 *
 * @example
 * ```ts
 * const x = linearSolve(tf.tensor3d([[[2]], [[4]]]), tf.tensor3d([[[1]], [[1]]])); // [[[0.5]], [[0.25]]]
 * ```
 */
export function linearSolve<T extends tf.Tensor2D | tf.Tensor3D>(m: T, r: T): T {
  if (m.rank !== r.rank || (m.rank !== 2 && m.rank !== 3)) {
    throw new Error(
      `linearSolve: expected M and R both of rank 2 or both of rank 3, got ${m.rank} and ${r.rank}`,
    );
  }
  const k = m.shape[m.rank - 1];
  if (m.shape[m.rank - 2] !== k || r.shape[r.rank - 2] !== k || (m.rank === 3 && m.shape[0] !== r.shape[0])) {
    throw new Error(`linearSolve: M [${m.shape}] must be square and match R [${r.shape}]`);
  }
  if (m.rank === 3) return solve3d(m, r) as T;
  return tf.tidy(() => {
    const x = solve3d(tf.expandDims(m, 0), tf.expandDims(r, 0));
    return tf.squeeze(x, [0]) as T;
  });
}
