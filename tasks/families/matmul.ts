/**
 * MatMulAlgorithm (§8.2): search for a k-multiplication algorithm for n×n matrix products.
 *
 * θ_c is the closed-form least-squares solution of the normal equations (PᵀP + ridge·I) θ_c = PᵀC, computed by
 * {@link linearSolve} (one differentiable op, so first and second derivatives flow through it). The ridge
 * (param `ridge`, default 1e-6, absolute) keeps the system invertible when P loses rank (k larger than
 * rank(P)), which the exact (PᵀP)⁻¹ of the reference would not survive in float32.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type FamilyBuilder, makeProblem } from "../base.ts";
import { ParamReader } from "../params.ts";
import { linearSolve } from "../../lib/linear_solve.ts";
import { type BatchedBuilder, makeVectorizedProblem } from "../batched.ts";

/**
 * The fixed batch (A, B, C) of all ordered pairs of one-hot n×n matrices; see §8.2.
 *
 * @example
 * ```ts
 * const { a, b, c } = matmulBatch(2); // 16 pairs of one-hot 2×2 matrices: a, b, c each 16·4 floats
 * ```
 */
export function matmulBatch(n: number): { a: Float32Array; b: Float32Array; c: Float32Array } {
  const n2 = n * n, rows = n2 * n2;
  const a = new Float32Array(rows * n2), b = new Float32Array(rows * n2), c = new Float32Array(rows * n2);
  for (let ia = 0; ia < n2; ia++) {
    for (let ib = 0; ib < n2; ib++) {
      const r = ia * n2 + ib; // a cycles slowest, b fastest
      a[r * n2 + ia] = 1;
      b[r * n2 + ib] = 1;
      // a = e_(ra, ca), b = e_(rb, cb) (row-major vec); a·b = e_(ra, cb) iff ca == rb
      const ra = Math.floor(ia / n), ca = ia % n, rb = Math.floor(ib / n), cb = ib % n;
      if (ca === rb) c[r * n2 + ra * n + cb] = 1;
    }
  }
  return { a, b, c };
}

/**
 * `matmul_algorithm` {n, k, ridge=1e-6, noiseStdev=0}: parameters θ_a, θ_b [n², k]; P = (A θ_a) ⊙ (B θ_b);
 * f = ‖P θ_c − C‖²_F with θ_c the least-squares fit. Requires n ≥ 2 and n² ≤ k ≤ n³. Init: Gaussian with each
 * column scaled to unit L2 norm.
 */
export const buildMatMulAlgorithm: FamilyBuilder = (spec) => {
  const p = new ParamReader(spec.family, spec.params);
  const n = p.int("n", undefined, { min: 2 });
  const k = p.int("k", undefined, { min: n * n, max: n * n * n });
  const ridge = p.num("ridge", 1e-6, { min: 0 });
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  p.done();
  const n2 = n * n, rows = n2 * n2;
  const batch = matmulBatch(n);
  const A = tf.keep(tf.tensor2d(batch.a, [rows, n2]));
  const B = tf.keep(tf.tensor2d(batch.b, [rows, n2]));
  const C = tf.keep(tf.tensor2d(batch.c, [rows, n2]));
  const ridgeI = tf.keep(tf.tidy(() => tf.mul(tf.eye(k), ridge) as tf.Tensor2D));
  const shapes = [[n2, k], [n2, k]];
  return makeProblem({
    spec,
    paramNames: ["theta_a", "theta_b"],
    paramShapes: shapes,
    noiseStdev,
    init: (rng) =>
      shapes.map((s) => {
        const v = rng.normalArray(s[0] * s[1]);
        for (let j = 0; j < s[1]; j++) {
          let norm = 0;
          for (let i = 0; i < s[0]; i++) norm += v[i * s[1] + j] ** 2;
          norm = Math.sqrt(norm) || 1;
          for (let i = 0; i < s[0]; i++) v[i * s[1] + j] /= norm;
        }
        return tf.tensor2d(v, s as [number, number]);
      }),
    objective: ([ta, tb]) => {
      const P = tf.mul(tf.matMul(A, ta as tf.Tensor2D), tf.matMul(B, tb as tf.Tensor2D)) as tf.Tensor2D;
      const ptp = tf.add(tf.matMul(P, P, true, false), ridgeI) as tf.Tensor2D;
      const thetaC = linearSolve(ptp, tf.matMul(P, C, true, false));
      return tf.sum(tf.square(tf.sub(tf.matMul(P, thetaC), C))) as tf.Scalar;
    },
    dispose: () => tf.dispose([A, B, C, ridgeI]),
  });
};

/** Batched `matmul_algorithm`: every instance's least-squares fit in one batched solve. */
export const batchedMatMulAlgorithm: BatchedBuilder = (specs, ctx) => {
  const instances = specs.map((s) => ctx.build(s));
  const q = specs[0].params as { n: number; k: number; ridge?: number; noiseStdev?: number };
  const size = specs.length;
  const n2 = q.n * q.n, rows = n2 * n2;
  const batch = matmulBatch(q.n);
  // The one-hot batch (A, B, C) is the same for every instance; tiled once so every product is batched.
  const [A, B, C, ridgeI] = tf.tidy(() => {
    const tile = (x: Float32Array) =>
      tf.keep(tf.tile(tf.tensor3d(x, [1, rows, n2]), [size, 1, 1]) as tf.Tensor3D);
    return [tile(batch.a), tile(batch.b), tile(batch.c), tf.keep(tf.mul(tf.eye(q.k), q.ridge ?? 1e-6))];
  });
  return makeVectorizedProblem({
    specs,
    paramShapes: instances[0].paramShapes,
    noiseStdev: q.noiseStdev ?? 0,
    instances,
    objectives: ([ta, tb]) => {
      const P = tf.mul(tf.matMul(A, ta as tf.Tensor3D), tf.matMul(B, tb as tf.Tensor3D)) as tf.Tensor3D;
      const ptp = tf.add(tf.matMul(P, P, true, false), ridgeI) as tf.Tensor3D;
      const thetaC = linearSolve(ptp, tf.matMul(P, C, true, false) as tf.Tensor3D);
      return tf.sum(tf.square(tf.sub(tf.matMul(P, thetaC), C)), [1, 2]) as tf.Tensor1D;
    },
    dispose: () => tf.dispose([A, B, C, ridgeI]),
  });
};
