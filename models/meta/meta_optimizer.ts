/**
 * The meta-optimizer: pure init/update over the meta-parameter map (reference §6.5).
 *
 * RMSProp with TF1 semantics (the paper): accumulator initialised to 1, ms ← ρ·ms + (1−ρ)·g²,
 * mom ← μ·mom + lr·g/√(ms + ε), w ← w − mom; paper settings lr 1e-6, ρ 0.9, ε 1e-20, μ 0.
 * Adam (bias-corrected, ε outside the sqrt) is offered as an option.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

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

/** State of the meta-optimizer: update count and named slot tensors per meta-parameter. */
export interface MetaOptState {
  /** Number of updates applied so far. */
  step: number;
  /** slots[paramName][slotName]: `ms`, `mom` (RMSProp) or `m`, `v` (Adam). */
  slots: Record<string, Record<string, tf.Tensor>>;
}

function validate(cfg: MetaOptimizerConfig): void {
  if (cfg.kind !== "rmsprop" && cfg.kind !== "adam") {
    throw new Error(`unknown meta-optimizer '${cfg.kind}'; choose 'rmsprop' or 'adam'`);
  }
  if (!(cfg.lr >= 0)) throw new Error(`meta-optimizer lr must be >= 0 (got ${cfg.lr})`);
}

/** Fresh meta-optimizer state for the given meta-parameters. */
export function metaOptInit(cfg: MetaOptimizerConfig, metaParams: Record<string, tf.Tensor>): MetaOptState {
  validate(cfg);
  const slots: Record<string, Record<string, tf.Tensor>> = {};
  for (const n of Object.keys(metaParams).sort()) {
    const p = metaParams[n];
    slots[n] = cfg.kind === "rmsprop"
      ? { ms: tf.fill(p.shape, cfg.initAccumulator), mom: tf.zerosLike(p) }
      : { m: tf.zerosLike(p), v: tf.zerosLike(p) };
  }
  return { step: 0, slots };
}

/**
 * One meta-update. Pure: returns new meta-parameters and state (new tensors); the inputs are not disposed.
 * Every meta-parameter needs a gradient of the same shape.
 */
export function metaOptUpdate(
  cfg: MetaOptimizerConfig,
  metaParams: Record<string, tf.Tensor>,
  grads: Record<string, tf.Tensor>,
  state: MetaOptState,
): { params: Record<string, tf.Tensor>; state: MetaOptState } {
  validate(cfg);
  const step = state.step + 1;
  const params: Record<string, tf.Tensor> = {};
  const slots: Record<string, Record<string, tf.Tensor>> = {};
  for (const n of Object.keys(metaParams).sort()) {
    const g = grads[n], p = metaParams[n], s = state.slots[n];
    if (!g) throw new Error(`meta-optimizer: no gradient for meta-parameter '${n}'`);
    if (!s) {
      throw new Error(`meta-optimizer: no state for meta-parameter '${n}' (state made for other params?)`);
    }
    const r = tf.tidy((): { p: tf.Tensor; slots: Record<string, tf.Tensor> } => {
      if (cfg.kind === "rmsprop") {
        const ms = tf.add(tf.mul(cfg.decay, s.ms), tf.mul(1 - cfg.decay, tf.square(g)));
        const mom = tf.add(
          tf.mul(cfg.momentum, s.mom),
          tf.div(tf.mul(cfg.lr, g), tf.sqrt(tf.add(ms, cfg.eps))),
        );
        return { p: tf.sub(p, mom), slots: { ms, mom } };
      }
      const m = tf.add(tf.mul(cfg.beta1, s.m), tf.mul(1 - cfg.beta1, g));
      const v = tf.add(tf.mul(cfg.beta2, s.v), tf.mul(1 - cfg.beta2, tf.square(g)));
      const mHat = tf.div(m, 1 - Math.pow(cfg.beta1, step));
      const vHat = tf.div(v, 1 - Math.pow(cfg.beta2, step));
      return { p: tf.sub(p, tf.div(tf.mul(cfg.lr, mHat), tf.add(tf.sqrt(vHat), cfg.eps))), slots: { m, v } };
    });
    params[n] = r.p;
    slots[n] = r.slots;
  }
  return { params, state: { step, slots } };
}

/** Disposes the tensors of a meta-optimizer state. */
export function disposeMetaOptState(state: MetaOptState | null | undefined): void {
  if (!state) return;
  for (const s of Object.values(state.slots)) tf.dispose(Object.values(s));
}
