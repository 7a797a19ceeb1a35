/**
 * The optimizer interface: optimizers are pure `init` / `update` functions over explicit state (optax style).
 *
 * Hand-designed baselines and the hierarchical RNN implement the same interface, so the inner-loop runner
 * and the `tf.Optimizer` adapter work with any of them.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** Optimizer state: a tree of tensors and numbers. */
export type OptState = tf.Tensor | number | OptState[] | { [key: string]: OptState };

/** The result of one update. */
export interface UpdateResult<S extends OptState = OptState> {
  /** Additive updates: new params = params + updates. */
  updates: tf.Tensor[];
  /** The new state. */
  state: S;
}

/** A gradient-based optimizer. */
export interface Optimizer<S extends OptState = OptState> {
  /** A short name (e.g. `adam`, `hrnn`). */
  readonly name: string;
  /** Fresh state for the given parameter tensors. */
  init(params: tf.Tensor[]): S;
  /** Computes updates from gradients; must not mutate or dispose its inputs. */
  update(grads: tf.Tensor[], state: S, params: tf.Tensor[]): UpdateResult<S>;
  /**
   * For optimizers with attention (look-ahead), the "true" parameters to evaluate the objective at;
   * omitted when they equal the current parameters.
   */
  evalParams?(state: S, params: tf.Tensor[]): tf.Tensor[];
  /**
   * Updates several independent problem instances at once (their own gradients, states and parameters),
   * with the same results as `update` on each; optimizers that can share work across instances (one kernel
   * call, batched small ops) implement it. Batched unrolls use it when present.
   */
  updateInstances?(grads: tf.Tensor[][], states: S[], params: tf.Tensor[][]): UpdateResult<S>[];
}

/**
 * The name under which results, tables and reports list the learned optimizer being evaluated (beside the
 * baselines' own names `adam`, `rmsprop`, `momentum`).
 *
 * @example
 * ```ts
 * const optimizers = [LEARNED_OPTIMIZER_NAME, "adam"]; // ["learned", "adam"]
 * ```
 */
export const LEARNED_OPTIMIZER_NAME = "learned";
