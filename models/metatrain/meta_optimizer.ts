/**
 * The meta-optimizer: pure init/update over the meta-parameter map (design §6.5), an {@link Optimizer}
 * over the meta-parameters listed in sorted name order.
 *
 * `rmsprop` (the paper) is the baselines' {@link rmsprop} with TF1 semantics: accumulator initialised to 1,
 * ms ← ρ·ms + (1−ρ)·g², mom ← μ·mom + lr·g/√(ms + ε), w ← w − mom; paper settings lr 1e-6, ρ 0.9, ε 1e-20,
 * μ 0. `adam` is {@link metaAdam}: bias-corrected, ε outside the sqrt, with the bias corrections 1 − βᵗ
 * computed in float64 from the step count. It is not the baselines' {@link adam}, which follows
 * `tf.train.adam` (float32 running products βᵗ, −lr applied last), so the two round differently. The
 * meta-gradients reach the meta-optimizer already cleaned and clipped by the estimator
 * (`cleanGradients`), one estimate at a time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer, OptState, UpdateResult } from "../../lib/optimizer.ts";
import { disposeTree } from "../../lib/state_tree.ts";
import { rmsprop } from "../optimizers/baselines.ts";

/** Meta-optimizer configuration. */
export interface MetaOptimizerConfig {
  /** `rmsprop` (paper) or `adam`. */
  kind: "rmsprop" | "adam";
  /** Learning rate (paper: 1e-6). */
  lr: number;
  /** RMSProp decay ρ (paper: 0.9). */
  decay: number;
  /** RMSProp momentum μ (TF default 0). */
  momentum: number;
  /** ε: inside the sqrt for RMSProp (paper: 1e-20), added to √v̂ for Adam. */
  eps: number;
  /** RMSProp accumulator initial value (TF1: 1). */
  initAccumulator: number;
  /** Adam β1. */
  beta1: number;
  /** Adam β2. */
  beta2: number;
}

/** The paper's meta-optimizer: RMSProp lr 1e-6, decay 0.9, ε 1e-20, accumulator 1, no momentum. */
export const PAPER_META_OPTIMIZER: MetaOptimizerConfig = {
  kind: "rmsprop",
  lr: 1e-6,
  decay: 0.9,
  momentum: 0,
  eps: 1e-20,
  initAccumulator: 1,
  beta1: 0.9,
  beta2: 0.999,
};

/** State of the meta-optimizer: the state of {@link metaOptimizer}'s optimizer over the sorted parameter list. */
export type MetaOptState = OptState;

function validate(cfg: MetaOptimizerConfig): void {
  if (cfg.kind !== "rmsprop" && cfg.kind !== "adam") {
    throw new Error(`unknown meta-optimizer '${cfg.kind}'; choose 'rmsprop' or 'adam'`);
  }
  if (!(cfg.lr >= 0)) throw new Error(`meta-optimizer lr must be >= 0 (got ${cfg.lr})`);
}

/** State of {@link metaAdam}: the moments per tensor and the number of updates applied. */
export type MetaAdamState = { m: tf.Tensor[]; v: tf.Tensor[]; step: number };

/**
 * Adam as the meta-optimizer applies it: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², update =
 * −(lr·m̂)/(√v̂ + ε) with m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ) and the corrections computed in float64.
 *
 * @example
 * ```ts
 * const opt = metaAdam({ ...PAPER_META_OPTIMIZER, kind: "adam", lr: 1e-3 });
 * const { updates, state } = opt.update(grads, opt.init(params), params);
 * ```
 */
export function metaAdam(cfg: MetaOptimizerConfig): Optimizer<MetaAdamState> {
  return {
    name: "meta_adam",
    init: (params) => ({
      m: params.map((p) => tf.zerosLike(p)),
      v: params.map((p) => tf.zerosLike(p)),
      step: 0,
    }),
    update(grads: tf.Tensor[], state: MetaAdamState): UpdateResult<MetaAdamState> {
      const step = state.step + 1;
      return tf.tidy(() => {
        const m: tf.Tensor[] = [], v: tf.Tensor[] = [];
        const updates = grads.map((g, i) => {
          const mi = tf.add(tf.mul(cfg.beta1, state.m[i]), tf.mul(1 - cfg.beta1, g));
          const vi = tf.add(tf.mul(cfg.beta2, state.v[i]), tf.mul(1 - cfg.beta2, tf.square(g)));
          m.push(mi);
          v.push(vi);
          const mHat = tf.div(mi, 1 - Math.pow(cfg.beta1, step));
          const vHat = tf.div(vi, 1 - Math.pow(cfg.beta2, step));
          return tf.neg(tf.div(tf.mul(cfg.lr, mHat), tf.add(tf.sqrt(vHat), cfg.eps)));
        });
        return { updates, state: { m, v, step } };
      });
    },
  };
}

/**
 * The meta-optimizer `cfg` selects, as an {@link Optimizer} over a list of meta-parameter tensors.
 *
 * @example
 * ```ts
 * const opt = metaOptimizer(PAPER_META_OPTIMIZER); // rmsprop, lr 1e-6, accumulator 1
 * ```
 */
export function metaOptimizer(cfg: MetaOptimizerConfig): Optimizer {
  validate(cfg);
  if (cfg.kind === "adam") return metaAdam(cfg);
  return rmsprop({
    learningRate: cfg.lr,
    decay: cfg.decay,
    momentum: cfg.momentum,
    epsilon: cfg.eps,
    initialAccumulator: cfg.initAccumulator,
  });
}

function sortedList(m: Record<string, tf.Tensor>): tf.Tensor[] {
  return Object.keys(m).sort().map((n) => m[n]);
}

/**
 * Fresh meta-optimizer state for the given meta-parameters.
 *
 * @example
 * ```ts
 * const state = metaOptInit(PAPER_META_OPTIMIZER, metaParams);
 * ```
 */
export function metaOptInit(cfg: MetaOptimizerConfig, metaParams: Record<string, tf.Tensor>): MetaOptState {
  return metaOptimizer(cfg).init(sortedList(metaParams));
}

/**
 * One meta-update. Pure: returns new meta-parameters and state (new tensors); the inputs are not disposed.
 * Every meta-parameter needs a gradient of the same shape.
 *
 * @example
 * ```ts
 * const { params, state: next } = metaOptUpdate(PAPER_META_OPTIMIZER, metaParams, grads, state);
 * ```
 */
export function metaOptUpdate(
  cfg: MetaOptimizerConfig,
  metaParams: Record<string, tf.Tensor>,
  grads: Record<string, tf.Tensor>,
  state: MetaOptState,
): { params: Record<string, tf.Tensor>; state: MetaOptState } {
  const names = Object.keys(metaParams).sort();
  const missing = names.find((n) => !grads[n]);
  if (missing) throw new Error(`meta-optimizer: no gradient for meta-parameter '${missing}'`);
  const list = names.map((n) => metaParams[n]);
  const r = metaOptimizer(cfg).update(names.map((n) => grads[n]), state, list);
  const params: Record<string, tf.Tensor> = {};
  names.forEach((n, i) => (params[n] = tf.add(list[i], r.updates[i])));
  tf.dispose(r.updates);
  return { params, state: r.state };
}

/**
 * Disposes the tensors of a meta-optimizer state.
 *
 * @example
 * ```ts
 * disposeMetaOptState(state);
 * ```
 */
export function disposeMetaOptState(state: MetaOptState | null | undefined): void {
  disposeTree(state);
}
