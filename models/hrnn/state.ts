/**
 * The HRNN optimizer's state (§4.4) and the signature every update path shares (the ops path of `update.ts`,
 * the fused kernels of `fused.ts` and `fused_taped.ts`, the WGSL pass of `webgpu.ts`).
 *
 * Layout (see README.md): `parameter` is [n, N0] as in the reference; every per-coordinate scalar is a row
 * [1, n] (the reference's [n, 1] column, same memory) and the K accumulators and mean squares are lists of K
 * rows, so stacking features is an axis-0 concat (cheap on wasm, where axis-1 concat over n rows is a per-row
 * JavaScript loop). `true_param` is only kept with attention (without it, it always equals the parameters).
 *
 * @example
 * ```ts
 * import type { HrnnState } from "./state.ts";
 * const coords = (s: HrnnState) => s.tensors.map((t) => t.scl_decay.shape[1]);
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Optimizer, UpdateResult } from "../../lib/optimizer.ts";
import type { HrnnConfig } from "./config.ts";

/**
 * Per-tensor optimizer state (§4.4); n = number of coordinates of the tensor. Per-coordinate scalars are rows
 * [1, n] (same memory as the reference's [n, 1] columns; a reshape converts them for free).
 *
 * @example
 * ```ts
 * const n = (s: HrnnTensorState) => s.scl_decay.shape[1];
 * ```
 */
export type HrnnTensorState = {
  /** Level-0 (parameter RNN) hidden state, [n, N0]: row j is coordinate j's state. */
  parameter: tf.Tensor2D;
  /** Level-1 (tensor RNN) hidden state, [1, N1]; present with 2 or 3 levels. */
  layer?: tf.Tensor2D;
  /** RMS decay per coordinate, [1, n]; 0 after a reset. */
  scl_decay: tf.Tensor2D;
  /** Momentum decay per coordinate, [1, n]; 0 after a reset. */
  inp_decay: tf.Tensor2D;
  /** Momentum-smoothed log learning rate ℓ, [1, n]; present with dynamicOutputScale. */
  log_learning_rate?: tf.Tensor2D;
  /** Momentum accumulators a_1..a_K, each [1, n]. */
  grad_accum: tf.Tensor2D[];
  /** Mean squares ms_1..ms_K, each [1, n]. */
  ms: tf.Tensor2D[];
  /** The true parameters θ̄ in the tensor's shape; present with attention. */
  true_param?: tf.Tensor;
};

/**
 * Whole optimizer state: one entry per parameter tensor, plus the global RNN state with 3 levels.
 *
 * @example
 * ```ts
 * const levels = (s: HrnnState) => (s.global ? 3 : s.tensors[0]?.layer ? 2 : 1);
 * ```
 */
export type HrnnState = {
  /** Per-tensor states, in parameter order. */
  tensors: HrnnTensorState[];
  /** Level-2 (global RNN) hidden state, [1, N2]; present with 3 levels. */
  global?: tf.Tensor2D;
};

/**
 * One update of every path (ops, fused, taped fused, WGSL): gradients, state and parameters in, the
 * updates and the new state out.
 *
 * @example
 * ```ts
 * const twice = (step: HrnnUpdateFn): HrnnUpdateFn => (g, s, p) => step(g, step(g, s, p).state, p);
 * ```
 */
export type HrnnUpdateFn = (
  grads: tf.Tensor[],
  state: HrnnState,
  params: tf.Tensor[],
) => UpdateResult<HrnnState>;

/**
 * The HRNN optimizer; also exposes the config it was built with.
 *
 * @example
 * ```ts
 * const levels = (opt: HrnnOptimizer) => opt.config.levelSizes.length;
 * ```
 */
export interface HrnnOptimizer extends Optimizer<HrnnState> {
  /** The configuration it was built with. */
  readonly config: HrnnConfig;
}
