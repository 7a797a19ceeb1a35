/**
 * Lazy updates on zero gradients (option `lazyZeroGradients`): a coordinate whose gradient is exactly 0 on a
 * step keeps its parameter and every per-coordinate state (level-0 GRU state, decays, log learning rate,
 * accumulators, mean squares, true parameter) from before the step, as lazy sparse optimizers do. The tensor
 * and global RNN states advance as usual.
 *
 * Why: on a coordinate that almost never sees a gradient, the accumulators decay to zero together, the scaled
 * inputs vanish and the level-0 GRU sits at its zero-input fixed point, so its log learning rate moves by the
 * same amount every step in a direction that meta-training never controls (up: the problem diverges; down:
 * it stalls), and the coordinate still steps by e^ℓ along a direction that carries no information. Freezing
 * the coordinate removes both: its state only moves on steps that carry information about it.
 *
 * The mask is applied after whichever update path ran (ops, fused, taped fused, WGSL), so every path gets it
 * from the same code; with a dense gradient it selects the new values everywhere and changes nothing.
 *
 * @example
 * ```ts
 * import { maskZeroGradients } from "./lazy.ts";
 * // frozen coordinates where a gradient entry is 0
 * const { updates, state } = maskZeroGradients(grads, state0, opsUpdate(grads, state0, params));
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { UpdateResult } from "../../lib/optimizer.ts";
import { gradientRecording } from "./engine.ts";
import type { HrnnState, HrnnTensorState } from "./state.ts";

/**
 * `where(mask, a, b)` whose backward selects dy (tfjs' own multiplies dy by the 0/1 mask, which turns an
 * infinite dy into NaN on the unselected side). An infinite dy arises where a frozen coordinate keeps its reset
 * state: the repeated square roots of a zero momentum decay have an infinite derivative; the frozen coordinate's
 * new value must then get a zero gradient, not NaN. The mask is a constant of the step (no gradient).
 */
function select<T extends tf.Tensor>(mask: tf.Tensor, a: T, b: T): T {
  const f = tf.customGrad(
    ((x: tf.Tensor, y: tf.Tensor, save: tf.GradSaveFunc) => {
      save([mask]);
      return {
        value: tf.where(mask, x, y),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const zero = tf.zerosLike(dy);
          return [tf.where(saved[0], dy, zero), tf.where(saved[0], zero, dy)];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (x: tf.Tensor, y: tf.Tensor) => tf.Tensor;
  return f(a, b) as T;
}

/**
 * Whether `g` has an entry that is exactly 0. A tensor without one passes through unmasked, so a dense problem
 * pays one read of its gradients per step instead of a dozen selects per tensor. On WebGPU a read-back would
 * stall the queue, so there every tensor is masked.
 */
function mayHaveZero(g: tf.Tensor): boolean {
  if (tf.getBackend() === "webgpu") return true;
  const v = g.dataSync();
  for (let i = 0; i < v.length; i++) if (v[i] === 0) return true;
  return false;
}

/**
 * Applies the zero-gradient mask to one update's result: coordinates with a zero gradient keep the old state
 * and get a zero update. The result's replaced tensors are disposed unless a gradient is being recorded (the
 * tape may still need them).
 *
 * @example
 * ```ts
 * const masked = maskZeroGradients(grads, state, opt.update(grads, state, params));
 * ```
 */
export function maskZeroGradients(
  grads: tf.Tensor[],
  old: HrnnState,
  result: UpdateResult<HrnnState>,
): UpdateResult<HrnnState> {
  const replaced: tf.Tensor[] = [];
  const masked = tf.tidy(() => {
    const updates: tf.Tensor[] = [];
    const tensors: HrnnTensorState[] = [];
    result.state.tensors.forEach((next, j) => {
      const prev = old.tensors[j];
      const g = grads[j];
      if (!mayHaveZero(g)) {
        updates.push(result.updates[j]);
        tensors.push(next);
        return;
      }
      const n = g.size;
      const row = tf.notEqual(tf.reshape(g, [1, n]), 0);
      const inShape = tf.reshape(row, g.shape);
      // A path may hand back an unchanged state tensor itself; it is neither selected nor disposed.
      const keep = <T extends tf.Tensor>(a: T, b: T, mask: tf.Tensor): T => {
        if (a === b) return a;
        replaced.push(a);
        return select(mask, a, b);
      };
      const u = result.updates[j];
      replaced.push(u);
      updates.push(select(inShape, u, tf.zerosLike(u)));
      const s: HrnnTensorState = {
        parameter: keep(
          next.parameter,
          prev.parameter,
          tf.broadcastTo(tf.reshape(row, [n, 1]), next.parameter.shape),
        ),
        scl_decay: keep(next.scl_decay, prev.scl_decay, row),
        inp_decay: keep(next.inp_decay, prev.inp_decay, row),
        grad_accum: next.grad_accum.map((a, k) => keep(a, prev.grad_accum[k], row)),
        ms: next.ms.map((m, k) => keep(m, prev.ms[k], row)),
      };
      if (next.layer) s.layer = next.layer;
      if (next.log_learning_rate) {
        s.log_learning_rate = keep(next.log_learning_rate, prev.log_learning_rate!, row);
      }
      if (next.true_param) s.true_param = keep(next.true_param, prev.true_param!, inShape);
      tensors.push(s);
    });
    const state: HrnnState = { tensors };
    if (result.state.global) state.global = result.state.global;
    return { updates, state };
  });
  if (!gradientRecording()) tf.dispose(replaced);
  return masked;
}
