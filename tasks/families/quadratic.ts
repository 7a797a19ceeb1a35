/**
 * Quadratic-type families of the paper's code (design §8.2): Quadratic, Bowl and Norm.
 *
 * Fixed random data (W, y) are drawn from an {@link Rng} seeded with the spec's seed, so a spec always rebuilds
 * the same instance.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import { type FamilyBuilder, makeProblem, normalInit } from "../base.ts";
import { ParamReader } from "../params.ts";
import type { ProblemSpec } from "../problem.ts";
import { type BatchedBuilder, makeVectorizedProblem } from "../batched.ts";

/** Draws W [ndim, ndim] and y [ndim, 1] iid N(0,1) from the spec seed (kept tensors). */
function fixedWy(seed: number, ndim: number): { w: tf.Tensor2D; y: tf.Tensor2D } {
  const rng = new Rng(seed);
  const w = tf.keep(tf.tensor2d(rng.normalArray(ndim * ndim), [ndim, ndim]));
  const y = tf.keep(tf.tensor2d(rng.normalArray(ndim), [ndim, 1]));
  return { w, y };
}

/** `quadratic` {ndim, noiseStdev=0}: f(x) = ½‖W x − y‖², x [ndim, 1], W and y iid N(0,1); init N(0,1). */
export const buildQuadratic: FamilyBuilder = (spec) => {
  const p = new ParamReader(spec.family, spec.params);
  const ndim = p.int("ndim", undefined, { min: 1 });
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  p.done();
  const { w, y } = fixedWy(spec.seed, ndim);
  const shapes = [[ndim, 1]];
  return makeProblem({
    spec,
    paramNames: ["x"],
    paramShapes: shapes,
    noiseStdev,
    init: (rng) => normalInit(shapes, rng),
    objective: ([x]) =>
      tf.mul(0.5, tf.sum(tf.square(tf.sub(tf.matMul(w, x as tf.Tensor2D), y)))) as tf.Scalar,
    dispose: () => tf.dispose([w, y]),
  });
};

/**
 * `bowl` {cond, angle=0, noiseStdev=0}: f(x) = ½‖A x‖², A = diag(√cond, 1)·R(angle), x [2, 1]; init N(0,1).
 */
export const buildBowl: FamilyBuilder = (spec) => {
  const p = new ParamReader(spec.family, spec.params);
  const cond = p.num("cond", undefined, { above: 0 });
  const angle = p.num("angle", 0);
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  p.done();
  const c = Math.cos(angle), s = Math.sin(angle), r = Math.sqrt(cond);
  // diag(√cond, 1) · [[c, −s], [s, c]]
  const a = tf.keep(tf.tensor2d([r * c, -r * s, s, c], [2, 2]));
  const shapes = [[2, 1]];
  return makeProblem({
    spec,
    paramNames: ["x"],
    paramShapes: shapes,
    noiseStdev,
    init: (rng) => normalInit(shapes, rng),
    objective: ([x]) => tf.mul(0.5, tf.sum(tf.square(tf.matMul(a, x as tf.Tensor2D)))) as tf.Scalar,
    dispose: () => a.dispose(),
  });
};

/**
 * `norm` {ndim, normPower=2, noiseStdev=0}: f(x) = (Σ_i (|(W x − y)_i| + 1e-6)^p)^(1/p), W and y as in Quadratic;
 * init N(0,1). The reference notes p < 1 gives NaN gradients early on, so p must be >= 1 here.
 */
export const buildNorm: FamilyBuilder = (spec) => {
  const p = new ParamReader(spec.family, spec.params);
  const ndim = p.int("ndim", undefined, { min: 1 });
  const power = p.num("normPower", 2, { min: 1 });
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  p.done();
  const { w, y } = fixedWy(spec.seed, ndim);
  const shapes = [[ndim, 1]];
  return makeProblem({
    spec,
    paramNames: ["x"],
    paramShapes: shapes,
    noiseStdev,
    init: (rng) => normalInit(shapes, rng),
    objective: ([x]) => {
      const r = tf.add(tf.abs(tf.sub(tf.matMul(w, x as tf.Tensor2D), y)), 1e-6);
      return tf.pow(tf.sum(tf.pow(r, power)), 1 / power) as tf.Scalar;
    },
    dispose: () => tf.dispose([w, y]),
  });
};

/** Reads the params every instance of a quadratic-type batch shares (they differ only in their seeds). */
function sharedParams(spec: ProblemSpec): { ndim: number; noiseStdev: number; power: number } {
  const p = spec.params as { ndim?: number; noiseStdev?: number; normPower?: number };
  return { ndim: p.ndim ?? 2, noiseStdev: p.noiseStdev ?? 0, power: p.normPower ?? 2 };
}

/** Stacked W [B, n, n] and y [B, n, 1] of the instances (each from its own seed, as {@link fixedWy}). */
function stackedWy(specs: ProblemSpec[], ndim: number): { w: tf.Tensor3D; y: tf.Tensor3D } {
  return tf.tidy(() => {
    const parts = specs.map((s) => fixedWy(s.seed, ndim));
    const w = tf.keep(tf.stack(parts.map((q) => q.w)) as tf.Tensor3D);
    const y = tf.keep(tf.stack(parts.map((q) => q.y)) as tf.Tensor3D);
    tf.dispose(parts.flatMap((q) => [q.w, q.y]));
    return { w, y };
  });
}

/**
 * A batched W-y family: every instance's W_b, y_b stacked, and `residualLoss` of the residuals W_b x_b − y_b
 * [B, n, 1] (with the shared params) giving the objectives [B].
 */
function batchedWy(
  residualLoss: (r: tf.Tensor3D, p: ReturnType<typeof sharedParams>) => tf.Tensor1D,
): BatchedBuilder {
  return (specs, ctx) => {
    const instances = specs.map((s) => ctx.build(s));
    const shared = sharedParams(specs[0]);
    const { w, y } = stackedWy(specs, shared.ndim);
    return makeVectorizedProblem({
      specs,
      paramShapes: instances[0].paramShapes,
      noiseStdev: shared.noiseStdev,
      instances,
      objectives: ([x]) => residualLoss(tf.sub(tf.matMul(w, x as tf.Tensor3D), y) as tf.Tensor3D, shared),
      dispose: () => tf.dispose([w, y]),
    });
  };
}

/** Batched `quadratic`: f_b = ½‖W_b x_b − y_b‖² for all instances in one batched matmul. */
export const batchedQuadratic: BatchedBuilder = batchedWy(
  (r) => tf.mul(0.5, tf.sum(tf.square(r), [1, 2])) as tf.Tensor1D,
);

/** Batched `norm`: f_b = (Σ_i (|(W_b x_b − y_b)_i| + 1e-6)^p)^(1/p). */
export const batchedNorm: BatchedBuilder = batchedWy((r, { power }) =>
  tf.pow(tf.sum(tf.pow(tf.add(tf.abs(r), 1e-6), power), [1, 2]), 1 / power) as tf.Tensor1D
);

/** Batched `bowl`: f_b = ½‖A x_b‖² (A is shared: it depends only on cond and angle). */
export const batchedBowl: BatchedBuilder = (specs, ctx) => {
  const instances = specs.map((s) => ctx.build(s));
  const p = specs[0].params as { cond: number; angle?: number; noiseStdev?: number };
  const c = Math.cos(p.angle ?? 0), s = Math.sin(p.angle ?? 0), r = Math.sqrt(p.cond);
  const a = tf.tidy(() =>
    tf.keep(tf.tile(tf.tensor3d([r * c, -r * s, s, c], [1, 2, 2]), [specs.length, 1, 1]) as tf.Tensor3D)
  );
  return makeVectorizedProblem({
    specs,
    paramShapes: instances[0].paramShapes,
    noiseStdev: p.noiseStdev ?? 0,
    instances,
    objectives: ([x]) =>
      tf.mul(0.5, tf.sum(tf.square(tf.matMul(a, x as tf.Tensor3D)), [1, 2])) as tf.Tensor1D,
    dispose: () => a.dispose(),
  });
};
