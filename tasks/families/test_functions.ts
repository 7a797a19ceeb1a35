/**
 * The 2-D optimization test functions of the paper's code (design §8.2): Rosenbrock, LogSumExp, Ackley, Beale, Booth,
 * Styblinski-Tang, Matyas, Branin and Michalewicz. Each has one parameter v = (x, y) of shape [2], params
 * `{noiseStdev=0}`, and no data. All are built from smooth tfjs ops (twice differentiable).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../../lib/rng.ts";
import { type FamilyBuilder, makeProblem } from "../base.ts";
import { ParamReader } from "../params.ts";
import { type BatchedBuilder, makeVectorizedProblem } from "../batched.ts";

/**
 * A test function of x and y, element-wise over their last axis of size 1: [1] for one problem, [B, 1] for a
 * batch of B instances; returns the same shape.
 */
type F2 = (x: tf.Tensor, y: tf.Tensor) => tf.Tensor;

/** Uniform init box of a test function: [xLo, xHi] × [yLo, yHi], or a standard normal draw. */
type InitBox = { x: [number, number]; y: [number, number] } | "normal";

/** The batched builder of a test function: v stacked to [B, 2], f on its columns [B, 1]. */
function twoDBatched(f: F2): BatchedBuilder {
  return (specs, ctx) => {
    const instances = specs.map((s) => ctx.build(s));
    const noiseStdev = (specs[0].params as { noiseStdev?: number }).noiseStdev ?? 0;
    return makeVectorizedProblem({
      specs,
      paramShapes: [[2]],
      noiseStdev,
      instances,
      objectives: ([v]) => {
        const x = tf.slice(v, [0, 0], [-1, 1]), y = tf.slice(v, [0, 1], [-1, 1]);
        return tf.sum(f(x, y), 1) as tf.Tensor1D;
      },
    });
  };
}

/** A test function's unbatched and batched builders. */
function twoD(f: F2, box: InitBox): FamilyBuilder & { batched: BatchedBuilder } {
  const build: FamilyBuilder = (spec) => {
    const p = new ParamReader(spec.family, spec.params);
    const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
    p.done();
    return makeProblem({
      spec,
      paramNames: ["v"],
      paramShapes: [[2]],
      noiseStdev,
      init: (rng: Rng) => {
        const v = box === "normal"
          ? [rng.normal(), rng.normal()]
          : [rng.uniform(box.x[0], box.x[1]), rng.uniform(box.y[0], box.y[1])];
        return [tf.tensor1d(v, "float32")];
      },
      objective: ([v]) => {
        const [x, y] = tf.split(v, 2);
        return tf.sum(f(x, y)) as tf.Scalar;
      },
    });
  };
  return Object.assign(build, { batched: twoDBatched(f) });
}

const sq = (t: tf.Tensor) => tf.square(t);
const box = (lo: number, hi: number): InitBox => ({ x: [lo, hi], y: [lo, hi] });

/** `rosenbrock`: (1 − x)² + 100 (y − x²)²; init U(−5, 10)². Minimum 0 at (1, 1). */
export const buildRosenbrock = twoD(
  (x, y) => tf.add(sq(tf.sub(1, x)), tf.mul(100, sq(tf.sub(y, sq(x))))),
  box(-5, 10),
);

/** `log_sum_exp`: ln(e^{x+3y−0.1} + e^{x−3y−0.1} + e^{−x−0.1} + 1); init N(0,1). */
export const buildLogSumExp = twoD((x, y) => {
  const terms = tf.concat([
    tf.sub(tf.add(x, tf.mul(3, y)), 0.1),
    tf.sub(tf.sub(x, tf.mul(3, y)), 0.1),
    tf.sub(tf.neg(x), 0.1),
    tf.zerosLike(x),
  ], -1);
  return tf.logSumExp(terms, -1, true);
}, "normal");

/**
 * `ackley`: −20·exp(−0.2·√(0.5(x²+y²))) − exp(0.5(cos 2πx + cos 2πy)) + e + 20; init U(−32.768, 32.768)².
 * Minimum 0 at the origin (where the gradient of the square root is undefined, as in the reference).
 */
export const buildAckley = twoD((x, y) => {
  const r = tf.sqrt(tf.mul(0.5, tf.add(sq(x), sq(y))));
  const c = tf.mul(0.5, tf.add(tf.cos(tf.mul(2 * Math.PI, x)), tf.cos(tf.mul(2 * Math.PI, y))));
  return tf.add(tf.sub(tf.mul(-20, tf.exp(tf.mul(-0.2, r))), tf.exp(c)), Math.E + 20);
}, box(-32.768, 32.768));

/** `beale`: (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²; init U(−4.5, 4.5)². Minimum 0 at (3, 0.5). */
export const buildBeale = twoD((x, y) => {
  const t = (c: number, yp: tf.Tensor) => sq(tf.add(tf.sub(c, x), tf.mul(x, yp)));
  const y2 = sq(y);
  return tf.add(tf.add(t(1.5, y), t(2.25, y2)), t(2.625, tf.mul(y2, y)));
}, box(-4.5, 4.5));

/** `booth`: (x + 2y − 7)² + (2x + y − 5)²; init U(−10, 10)². Minimum 0 at (1, 3). */
export const buildBooth = twoD(
  (x, y) => tf.add(sq(tf.sub(tf.add(x, tf.mul(2, y)), 7)), sq(tf.sub(tf.add(tf.mul(2, x), y), 5))),
  box(-10, 10),
);

/**
 * `styblinski_tang`: ½ Σ_{v∈{x,y}} (v⁴ − 16v² + 5v) + 80; init U(−5, 5)². Minimum ≈ 1.67 at v ≈ −2.9035 (> 0).
 */
export const buildStyblinskiTang = twoD((x, y) => {
  const g = (v: tf.Tensor) => {
    const v2 = sq(v);
    return tf.add(tf.sub(sq(v2), tf.mul(16, v2)), tf.mul(5, v));
  };
  return tf.add(tf.mul(0.5, tf.add(g(x), g(y))), 80);
}, box(-5, 5));

/** `matyas`: 0.26(x² + y²) − 0.48xy; init U(−10, 10)². Minimum 0 at the origin. */
export const buildMatyas = twoD(
  (x, y) => tf.sub(tf.mul(0.26, tf.add(sq(x), sq(y))), tf.mul(0.48, tf.mul(x, y))),
  box(-10, 10),
);

/**
 * `branin`: (y − b x² + c x − 6)² + 10(1 − t) cos x + 10, b = 5.1/(4π²), c = 5/π, t = 1/(8π);
 * init x ~ U(−5, 10), y ~ U(0, 15). Minimum ≈ 0.397887 at (π, 2.275) and two other points.
 */
export const buildBranin = twoD((x, y) => {
  const b = 5.1 / (4 * Math.PI * Math.PI), c = 5 / Math.PI, t = 1 / (8 * Math.PI);
  const inner = tf.sub(tf.add(tf.sub(y, tf.mul(b, sq(x))), tf.mul(c, x)), 6);
  return tf.add(tf.add(sq(inner), tf.mul(10 * (1 - t), tf.cos(x))), 10);
}, { x: [-5, 10], y: [0, 15] });

/**
 * `michalewicz` (m = 5): 2 − [sin x · sin(x²/π)^10 + sin y · sin(2y²/π)^10]; init U(0, π)². The 10th power is
 * computed by repeated multiplication (no pow of a negative base). Minimum ≈ 2 − 1.8013 at (2.20, 1.57).
 */
export const buildMichalewicz = twoD((x, y) => {
  const pow10 = (s: tf.Tensor) => {
    const s2 = sq(s), s4 = sq(s2), s8 = sq(s4);
    return tf.mul(s8, s2);
  };
  const tx = tf.mul(tf.sin(x), pow10(tf.sin(tf.div(sq(x), Math.PI))));
  const ty = tf.mul(tf.sin(y), pow10(tf.sin(tf.div(tf.mul(2, sq(y)), Math.PI))));
  return tf.sub(2, tf.add(tx, ty));
}, box(0, Math.PI));
