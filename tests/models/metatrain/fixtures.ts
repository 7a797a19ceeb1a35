/**
 * Test fixtures for meta-training: a tiny least-squares problem written here (no dependency on `tasks/`), a
 * gradient-replay wrapper, and finite-difference helpers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../lib/rng.ts";
import type { Batch, Problem, ProblemSpec } from "../../../tasks/problem.ts";

/**
 * Tiny quadratic: f(x1, x2) = mean((A1 x1 + A2 x2 − b)²) + c, with x1 ∈ R³, x2 ∈ R², 5 rows; optional
 * gradient noise (`noise`) and a fixed "minibatch" of 3 of the rows drawn per step (`minibatch`).
 * Stand-in problem for tests only. `spec.params`: {noise?, minibatch?, nanAfter?}: `nanAfter` makes the full
 * objective NaN once it has been called that many times (to test non-finite handling).
 */
export function tinyQuadratic(spec: ProblemSpec): Problem {
  const noise = Number(spec.params.noise ?? 0);
  const minibatch = Boolean(spec.params.minibatch ?? false);
  const nanAfter = Number(spec.params.nanAfter ?? Infinity);
  const offset = Number(spec.params.offset ?? 0.1);
  const rng = new Rng(spec.seed);
  const rows = 5;
  const A1 = tf.keep(tf.tensor2d(rng.normalArray(rows * 3), [rows, 3]));
  const A2 = tf.keep(tf.tensor2d(rng.normalArray(rows * 2, 0, 0.7), [rows, 2]));
  const b = tf.keep(tf.tensor2d(rng.normalArray(rows), [rows, 1]));
  const rowIds = tf.keep(tf.tensor2d(Float32Array.from({ length: rows }, (_, i) => i), [rows, 1]));
  let fullCalls = 0;
  const residual = (ps: tf.Tensor[]) =>
    tf.sub(tf.add(tf.matMul(A1, ps[0].reshape([3, 1])), tf.matMul(A2, ps[1].reshape([2, 1]))), b);
  const objective = (ps: tf.Tensor[], batch: Batch | null): tf.Scalar =>
    tf.tidy(() => {
      const r2 = tf.square(residual(ps));
      if (batch === null) return tf.add(tf.mean(r2), offset) as tf.Scalar;
      // batch.x: [rows, 1] 0/1 mask of the selected rows
      return tf.add(tf.div(tf.sum(tf.mul(r2, batch.x)), tf.sum(batch.x)), offset) as tf.Scalar;
    });
  return {
    spec,
    paramNames: ["x1", "x2"],
    paramShapes: [[3], [2]],
    datasetSize: minibatch ? rows : 0,
    init: (r) => [tf.tensor1d(r.normalArray(3)), tf.tensor1d(r.normalArray(2))],
    sampleBatch(r) {
      if (!minibatch) return null;
      const mask = new Float32Array(rows);
      const order = r.shuffle([0, 1, 2, 3, 4]) as number[];
      for (const i of order.slice(0, 3)) mask[i] = 1;
      return { x: tf.tensor2d(mask, [rows, 1]), y: rowIds };
    },
    objective,
    fullObjective(ps) {
      fullCalls++;
      if (fullCalls > nanAfter) return tf.tidy(() => tf.add(objective(ps, null), NaN) as tf.Scalar);
      return objective(ps, null);
    },
    gradients(ps, batch, r) {
      return tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => objective(xs, batch))(ps);
        const noisy = noise > 0
          ? grads.map((g) => tf.add(g, tf.tensor(r.normalArray(g.size, 0, noise), g.shape)))
          : grads;
        return { loss: value as tf.Scalar, grads: noisy };
      });
    },
    dispose() {
      tf.dispose([A1, A2, b, rowIds]);
    },
  };
}

/** A spec for {@link tinyQuadratic}. */
export function tinySpec(seed = 1, params: Record<string, unknown> = {}): ProblemSpec {
  return { family: "tiny_quadratic", params, seed };
}

/**
 * Wraps a problem so that `gradients` returns recorded constant gradients (by call index) instead of computing
 * them: differentiating an unroll of the replay problem = differentiating with the gradients held constant.
 */
export function replayGradients(inner: Problem, recorded: Float32Array[][]): Problem & { rewind(): void } {
  let call = 0;
  return {
    ...inner,
    spec: inner.spec,
    paramNames: inner.paramNames,
    paramShapes: inner.paramShapes,
    datasetSize: inner.datasetSize,
    gradients(ps, batch, _r) {
      const g = recorded[call++];
      if (!g) throw new Error("replay problem: more gradient calls than recorded");
      return { loss: inner.objective(ps, batch), grads: g.map((v, i) => tf.tensor(v, ps[i].shape)) };
    },
    rewind() {
      call = 0;
    },
  };
}

/** Wraps a problem so that every gradient it returns is also recorded (as constants). */
export function recordGradients(inner: Problem): { problem: Problem; recorded: Float32Array[][] } {
  const recorded: Float32Array[][] = [];
  return {
    recorded,
    problem: {
      ...inner,
      gradients(ps, batch, r) {
        const out = inner.gradients(ps, batch, r);
        recorded.push(out.grads.map((g) => g.dataSync().slice() as Float32Array));
        return out;
      },
    },
  };
}

/** A random unit direction over a meta-parameter map. */
export function randomDirection(mp: Record<string, tf.Tensor>, rng: Rng): Record<string, tf.Tensor> {
  const raw: Record<string, Float32Array> = {};
  let norm = 0;
  for (const k of Object.keys(mp)) {
    raw[k] = rng.normalArray(mp[k].size);
    for (const v of raw[k]) norm += v * v;
  }
  norm = Math.sqrt(norm);
  const out: Record<string, tf.Tensor> = {};
  for (const k of Object.keys(mp)) out[k] = tf.tensor(raw[k].map((v) => v / norm), mp[k].shape);
  return out;
}

/** mp + h·d (new tensors). */
export function shifted(
  mp: Record<string, tf.Tensor>,
  d: Record<string, tf.Tensor>,
  h: number,
): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const k of Object.keys(mp)) out[k] = tf.tidy(() => tf.add(mp[k], tf.mul(h, d[k])));
  return out;
}

/** ⟨g, d⟩ over a map. */
export function dot(g: Record<string, tf.Tensor>, d: Record<string, tf.Tensor>): number {
  let s = 0;
  for (const k of Object.keys(d)) s += tf.tidy(() => tf.sum(tf.mul(g[k], d[k])).dataSync()[0]);
  return s;
}

/** Flattens a map (sorted keys) into one array. */
export function flat(g: Record<string, tf.Tensor>): number[] {
  return Object.keys(g).sort().flatMap((k) => Array.from(g[k].dataSync()));
}

/** Cosine similarity of two equal-length vectors. */
export function cosine(a: number[], b: number[]): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

/**
 * Checks a meta-gradient against central finite differences of `lossOf` along `directions` unit directions:
 * |fd − ⟨grads, d⟩| < `tol` relative to the larger of the two. With `towardGradient`, each direction is a
 * random unit vector plus the unit gradient (normalised): the directional derivative is then far above the
 * float32 noise of the difference quotient, which a purely random direction in thousands of dimensions is not,
 * and the random part still tests every component.
 */
export function fdCheck(
  mp: Record<string, tf.Tensor>,
  grads: Record<string, tf.Tensor>,
  lossOf: (m: Record<string, tf.Tensor>) => number,
  o: { directions: number; seed: number; h: number; tol: number; label: string; towardGradient?: boolean },
): void {
  const rng = new Rng(o.seed);
  const gn = Math.sqrt(dot(grads, grads));
  for (let i = 0; i < o.directions; i++) {
    let d = randomDirection(mp, rng);
    if (o.towardGradient) {
      const mixed: Record<string, tf.Tensor> = {};
      for (const k of Object.keys(d)) mixed[k] = tf.tidy(() => tf.add(d[k], tf.div(grads[k], gn)));
      const n = Math.sqrt(dot(mixed, mixed));
      tf.dispose(Object.values(d));
      d = {};
      for (const k of Object.keys(mixed)) d[k] = tf.tidy(() => tf.div(mixed[k], n));
      tf.dispose(Object.values(mixed));
    }
    const p = shifted(mp, d, o.h), m = shifted(mp, d, -o.h);
    const fd = (lossOf(p) - lossOf(m)) / (2 * o.h);
    const ad = dot(grads, d);
    const rel = Math.abs(fd - ad) / Math.max(Math.abs(fd), Math.abs(ad));
    if (!(rel < o.tol)) {
      tf.dispose([...Object.values(d), ...Object.values(p), ...Object.values(m)]);
      throw new Error(
        `${o.label} direction ${i}: autodiff ${ad} vs finite differences ${fd} (relative ${rel})`,
      );
    }
    tf.dispose([...Object.values(d), ...Object.values(p), ...Object.values(m)]);
  }
}
