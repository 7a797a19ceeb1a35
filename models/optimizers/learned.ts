/**
 * The "learned optimizer family" that meta-training is generic over (the LearnedOptimizer of
 * learned_optimization): a way to create meta-parameters and a way to turn meta-parameters into an
 * {@link Optimizer}. Also a tiny learned optimizer (learned per-tensor log learning rate + learned momentum
 * logit) used to test the meta-training machinery independently of the hierarchical RNN.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer, OptState } from "../../lib/optimizer.ts";
import type { Rng } from "../../lib/rng.ts";

/** Options passed when an optimizer is built from meta-parameters. */
export interface LearnedOptimizerOptions {
  /**
   * Randomness for `init` (e.g. the HRNN's random initial log learning rates). Meta-training passes a
   * generator derived from its seed and counters so that runs are reproducible and resumable.
   */
  rng?: Rng;
}

/** A family of optimizers indexed by meta-parameters. */
export interface LearnedOptimizer {
  /** Short name, recorded in checkpoints. */
  readonly name: string;
  /** JSON description of the family's configuration; part of the checkpoint config hash. */
  readonly config?: unknown;
  /** Fresh meta-parameters (all float32), deterministic in `seed`. */
  init(seed: number): Record<string, tf.Tensor>;
  /**
   * The optimizer defined by these meta-parameters. Its `init` and `update` must be differentiable w.r.t. the
   * meta-parameter tensors (they are called inside `tf.grads`), and must not dispose them.
   */
  optimizer(metaParams: Record<string, tf.Tensor>, opts?: LearnedOptimizerOptions): Optimizer;
}

/** Configuration of {@link makeToyLearnedOptimizer}. */
export interface ToyLearnedConfig {
  /** Number of separately learned log learning rates; tensor i uses entry min(i, n−1). */
  numLogLrs: number;
  /** Initial log learning rate. */
  initLogLr: number;
  /** Initial momentum logit (momentum = sigmoid(logit)). */
  initMomentumLogit: number;
  /** Std of seeded jitter added to the initial values (0: the exact values above). */
  jitter: number;
}

/** Defaults of {@link ToyLearnedConfig}. */
export const TOY_LEARNED_DEFAULTS: ToyLearnedConfig = {
  numLogLrs: 1,
  initLogLr: Math.log(0.05),
  initMomentumLogit: 0,
  jitter: 0,
};

/** State of the toy optimizer: one momentum buffer per tensor. */
export type ToyState = { m: tf.Tensor[] };

/**
 * A two-knob learned optimizer: momentum with a learned (sigmoid) coefficient and learned per-tensor log
 * learning rates. Meta-parameters: `log_lr` [numLogLrs], `momentum_logit` [] (scalar).
 *
 *   m ← β·m + (1 − β)·g,  update = −exp(log_lr[i])·m,  β = σ(momentum_logit).
 *
 * @example
 * ```ts
 * const toy = makeToyLearnedOptimizer({ numLogLrs: 2, jitter: 0.1 });
 * const opt = toy.optimizer(toy.init(0)); // an Optimizer: opt.init(params), opt.update(grads, state, params)
 * ```
 */
export function makeToyLearnedOptimizer(config: Partial<ToyLearnedConfig> = {}): LearnedOptimizer {
  const cfg: ToyLearnedConfig = { ...TOY_LEARNED_DEFAULTS, ...config };
  if (!Number.isInteger(cfg.numLogLrs) || cfg.numLogLrs < 1) {
    throw new Error(`toy learned optimizer: numLogLrs must be an integer >= 1 (got ${cfg.numLogLrs})`);
  }
  return {
    name: "toy",
    config: cfg,
    init(seed: number) {
      const jit = (n: number, base: number) => {
        const out = new Float32Array(n).fill(base);
        if (cfg.jitter > 0) {
          // Small seeded LCG so that this module needs no Rng instance.
          let s = (seed >>> 0) || 1;
          for (let i = 0; i < n; i++) {
            s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
            out[i] += cfg.jitter * (s / 4294967296 - 0.5) * 2;
          }
        }
        return out;
      };
      return {
        log_lr: tf.tensor1d(jit(cfg.numLogLrs, cfg.initLogLr)),
        momentum_logit: tf.scalar(jit(1, cfg.initMomentumLogit)[0]),
      };
    },
    optimizer(mp): Optimizer {
      const logLr = mp["log_lr"], logit = mp["momentum_logit"];
      if (!logLr || !logit) {
        throw new Error("toy learned optimizer: meta-params need 'log_lr' and 'momentum_logit'");
      }
      return {
        name: "toy",
        init: (params) => ({ m: params.map((p) => tf.zerosLike(p)) }),
        update(grads, state: OptState, _params) {
          const st = state as ToyState;
          return tf.tidy(() => {
            const beta = tf.sigmoid(logit);
            const oneMinus = tf.sub(1, beta);
            const m = grads.map((g, i) => tf.add(tf.mul(beta, st.m[i]), tf.mul(oneMinus, g)));
            const updates = m.map((mi, i) => {
              const lr = tf.exp(tf.gather(logLr, Math.min(i, cfg.numLogLrs - 1)));
              return tf.neg(tf.mul(lr, mi));
            });
            return { updates, state: { m } };
          });
        },
      };
    },
  };
}
