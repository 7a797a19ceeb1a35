/**
 * Shared helpers for the HRNN tests: reading tensors, one optimizer step, a tiny fixed quadratic problem and
 * state disposal.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../lib/rng.ts";
import type { HrnnOptimizer, HrnnState } from "../../../models/hrnn/state.ts";

/** Synchronous read of a tensor's values as a plain array. */
export function vals(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Disposes every tensor of an HRNN state. */
export function disposeState(s: HrnnState): void {
  tf.dispose(s);
}

/** One optimizer step; returns new params, the updates and the new state (inputs are not disposed). */
export function step(opt: HrnnOptimizer, grads: tf.Tensor[], state: HrnnState, params: tf.Tensor[]) {
  return tf.tidy(() => {
    const r = opt.update(grads, state, params);
    return { params: params.map((p, i) => tf.add(p, r.updates[i])), updates: r.updates, state: r.state };
  });
}

/** A tiny quadratic 0.5·Σ a⊙θ² over several tensors, with θ₀ and a drawn from a seed. */
export function tinyQuadratic(shapes: number[][], seed = 1) {
  const rng = new Rng(seed);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const curv = shapes.map((s) => tf.tensor(rng.uniformArray(size(s), 0.5, 2), s));
  const init = shapes.map((s) => rng.normalArray(size(s)));
  return {
    /** Fresh initial parameters. */
    init: (): tf.Tensor[] => shapes.map((s, i) => tf.tensor(init[i], s)),
    /** The objective. */
    f: (ps: tf.Tensor[]): tf.Scalar =>
      tf.addN(ps.map((p, i) => tf.sum(tf.mul(curv[i], tf.square(p))))).mul(0.5),
    /** Its exact gradient a⊙θ. */
    grads: (ps: tf.Tensor[]): tf.Tensor[] => ps.map((p, i) => tf.mul(curv[i], p)),
    /** Frees the curvatures. */
    dispose: () => tf.dispose(curv),
  };
}
