/**
 * Gradient transforms composed optax-style: each transform is an {@link Optimizer} whose `update` maps
 * incoming gradients to outgoing updates, and {@link chain} feeds one transform's output into the next.
 *
 * - {@link zeroNonFinite}: NaN and ±Infinity entries become 0.
 * - {@link clipByValue}: every entry clipped to [−c, c].
 * - {@link clipByGlobalNorm}: all tensors scaled by c/‖g‖ when their joint L2 norm ‖g‖ exceeds c.
 *
 * The clip transforms are stateless; `chain` keeps one state per link, in order. A bound ≤ 0 makes a clip
 * transform the identity (it returns clones of its input, so the caller may dispose both).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer, OptState, UpdateResult } from "../../lib/optimizer.ts";

/** A stateless transform from a per-tensor function (the state is the empty object). */
function stateless(name: string, fn: (grads: tf.Tensor[]) => tf.Tensor[]): Optimizer<Record<string, never>> {
  return {
    name,
    init: () => ({}),
    update: (grads) => ({ updates: tf.tidy(() => fn(grads)), state: {} }),
  };
}

/**
 * Replaces NaN and ±Infinity entries by 0.
 *
 * @example
 * ```ts
 * const { updates } = zeroNonFinite().update([tf.tensor1d([1, NaN])], {}, [p]); // [1, 0]
 * ```
 */
export function zeroNonFinite(): Optimizer<Record<string, never>> {
  return stateless("zero_non_finite", (grads) =>
    grads.map((g) => {
      const finite = tf.logicalNot(tf.logicalOr(tf.isNaN(g), tf.isInf(g)));
      return tf.where(finite, g, tf.zerosLike(g));
    }));
}

/**
 * Clips every entry to [−`bound`, `bound`]; `bound` ≤ 0 passes the gradients through.
 *
 * @example
 * ```ts
 * const { updates } = clipByValue(1).update([tf.tensor1d([3, -0.5])], {}, [p]); // [1, -0.5]
 * ```
 */
export function clipByValue(bound: number): Optimizer<Record<string, never>> {
  return stateless(
    "clip_by_value",
    (grads) => grads.map((g) => bound > 0 ? tf.clipByValue(g, -bound, bound) : g.clone()),
  );
}

/**
 * Scales all tensors by `maxNorm`/‖g‖ when their joint L2 norm ‖g‖ exceeds `maxNorm` (optax
 * `clip_by_global_norm`); `maxNorm` ≤ 0 passes the gradients through. The norm is summed in float64 from each
 * tensor's float32 sum of squares.
 *
 * @example
 * ```ts
 * const { updates } = clipByGlobalNorm(1).update([tf.tensor1d([3]), tf.tensor1d([4])], {}, params); // [0.6], [0.8]
 * ```
 */
export function clipByGlobalNorm(maxNorm: number): Optimizer<Record<string, never>> {
  return stateless("clip_by_global_norm", (grads) => {
    if (!(maxNorm > 0)) return grads.map((g) => g.clone());
    const norm = Math.sqrt(grads.reduce((s, g) => s + tf.sum(tf.square(g)).dataSync()[0], 0));
    return norm > maxNorm ? grads.map((g) => tf.mul(g, maxNorm / norm)) : grads.map((g) => g.clone());
  });
}

/**
 * Composes transforms: the gradients go through `links[0]`, its updates into `links[1]`, and so on; the
 * state is the list of the links' states. The intermediate updates are disposed.
 *
 * @example
 * ```ts
 * const opt = chain(clipByGlobalNorm(1), rmsprop({ learningRate: 1e-3 }));
 * const { updates, state } = opt.update(grads, opt.init(params), params);
 * ```
 */
export function chain(...links: Optimizer[]): Optimizer<OptState[]> {
  if (links.length === 0) throw new Error("chain needs at least one transform");
  return {
    name: links.map((l) => l.name).join("+"),
    init: (params) => links.map((l) => l.init(params)),
    update(grads: tf.Tensor[], state: OptState[], params: tf.Tensor[]): UpdateResult<OptState[]> {
      if (state.length !== links.length) {
        throw new Error(`chain: got ${state.length} link states for ${links.length} transforms`);
      }
      let current = grads;
      const next: OptState[] = [];
      links.forEach((link, i) => {
        const r = link.update(current, state[i], params);
        if (current !== grads) tf.dispose(current);
        current = r.updates;
        next.push(r.state);
      });
      return { updates: current, state: next };
    },
  };
}
