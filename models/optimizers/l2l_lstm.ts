/**
 * The coordinatewise LSTM optimizer of Andrychowicz et al. 2016 ("Learning to learn by gradient descent by
 * gradient descent"), the learned optimizer the HRNN paper compares against: a stack of LSTM layers (two of 20
 * units in that paper) run on every coordinate of every parameter tensor independently, with one set of
 * weights shared by all coordinates.
 *
 * Per coordinate and step:
 * 1. the gradient g is preprocessed into two inputs (that paper's appendix, with p = 10):
 *    (ln|g| / p, sign g) when |g| ≥ e^−p, else (−1, e^p·g);
 * 2. the LSTM layers run on that input and their own previous (h, c) state (zero at the start);
 * 3. a linear readout of the top layer's h, times `outputScale` (0.1), is the additive update.
 *
 * Everything is differentiable tfjs ops, so meta-training backpropagates through an unroll of it (and
 * through the problem gradient when second derivatives are on). All coordinates of all tensors are stacked
 * into one [N, ·] matrix per update, so a step costs the same few ops whatever the number of tensors.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer } from "../../lib/optimizer.ts";
import type { LearnedOptimizer } from "./learned.ts";
import type { MetaParamSpec } from "../hrnn/meta_params.ts";
import { matMul, matMulBias, tanhFast } from "../hrnn/ops.ts";
import { checkAgainstSpecs, createFromSpecs } from "./param_specs.ts";

/** Configuration of the coordinatewise LSTM. */
export interface L2lLstmConfig {
  /** Units of each LSTM layer, bottom first (the paper: two layers of 20). */
  layers: number[];
  /** The preprocessing constant p (the paper: 10). */
  preprocessP: number;
  /** Factor on the readout (the paper: 0.1). */
  outputScale: number;
  /** Initial forget-gate bias (1, the usual LSTM choice). */
  forgetBiasInit: number;
  /** Std of the readout weights at init, times 1/√(top layer units). */
  readoutScale: number;
}

/** The configuration of Andrychowicz et al. 2016. */
export const L2L_LSTM_PAPER: L2lLstmConfig = {
  layers: [20, 20],
  preprocessP: 10,
  outputScale: 0.1,
  forgetBiasInit: 1,
  readoutScale: 1,
};

/**
 * Merges overrides over {@link L2L_LSTM_PAPER} and validates the result (throws one line naming the field).
 *
 * @example
 * ```ts
 * const small = makeL2lLstmConfig({ layers: [2, 2] });
 * ```
 */
export function makeL2lLstmConfig(overrides: Partial<L2lLstmConfig> = {}): L2lLstmConfig {
  const known = new Set(Object.keys(L2L_LSTM_PAPER));
  const unknown = Object.keys(overrides).filter((k) => !known.has(k));
  if (unknown.length) {
    throw new Error(
      `L2L LSTM config: unknown option(s) ${unknown.join(", ")}; known: ${[...known].join(", ")}`,
    );
  }
  const cfg = { ...L2L_LSTM_PAPER, ...overrides };
  validateL2lLstmConfig(cfg);
  return cfg;
}

/**
 * Throws when a config is unusable (layers not 1–4 positive integers ≤ 256, p ≤ 0, non-finite scales).
 *
 * @example
 * ```ts
 * validateL2lLstmConfig(L2L_LSTM_PAPER); // ok
 * ```
 */
export function validateL2lLstmConfig(cfg: L2lLstmConfig): void {
  if (
    !Array.isArray(cfg.layers) || cfg.layers.length < 1 || cfg.layers.length > 4 ||
    !cfg.layers.every((n) => Number.isInteger(n) && n >= 1 && n <= 256)
  ) {
    throw new Error(
      `L2L LSTM config: layers must be 1 to 4 integers in [1, 256], got ${JSON.stringify(cfg.layers)}`,
    );
  }
  if (!(Number.isFinite(cfg.preprocessP) && cfg.preprocessP > 0)) {
    throw new Error(`L2L LSTM config: preprocessP must be a positive number, got ${cfg.preprocessP}`);
  }
  for (const k of ["outputScale", "forgetBiasInit", "readoutScale"] as const) {
    if (!Number.isFinite(cfg[k])) {
      throw new Error(`L2L LSTM config: ${k} must be a finite number, got ${cfg[k]}`);
    }
  }
}

/**
 * Names, shapes and initial distributions of the meta-parameters: per layer l, `lstm<l>/wx` [D, 4H] (input),
 * `lstm<l>/wh` [H, 4H] (recurrent), `lstm<l>/b` [4H] (gate blocks in the order input, forget, cell, output),
 * then `readout/w` [H_top, 1] and `readout/b` [1].
 *
 * @example
 * ```ts
 * l2lLstmSpecs(L2L_LSTM_PAPER).length; // 8
 * ```
 */
export function l2lLstmSpecs(cfg: L2lLstmConfig): MetaParamSpec[] {
  const specs: MetaParamSpec[] = [];
  let d = 2;
  cfg.layers.forEach((h, l) => {
    const std = 1 / Math.sqrt(d + h);
    specs.push({ name: `lstm${l}/wx`, shape: [d, 4 * h], init: { kind: "normal", mean: 0, std } });
    specs.push({ name: `lstm${l}/wh`, shape: [h, 4 * h], init: { kind: "normal", mean: 0, std } });
    specs.push({ name: `lstm${l}/b`, shape: [4 * h], init: { kind: "constant", value: 0 } });
    d = h;
  });
  specs.push({
    name: "readout/w",
    shape: [d, 1],
    init: { kind: "normal", mean: 0, std: cfg.readoutScale / Math.sqrt(d) },
  });
  specs.push({ name: "readout/b", shape: [1], init: { kind: "constant", value: 0 } });
  return specs;
}

/**
 * Fresh meta-parameters, deterministic in `seed`; the forget-gate block of each bias starts at
 * `forgetBiasInit`. The caller owns the tensors.
 *
 * @example
 * ```ts
 * const mp = createL2lLstmMetaParams(L2L_LSTM_PAPER, 0);
 * ```
 */
export function createL2lLstmMetaParams(cfg: L2lLstmConfig, seed: number): Record<string, tf.Tensor> {
  const mp = createFromSpecs(l2lLstmSpecs(cfg), seed);
  cfg.layers.forEach((h, l) => {
    const b = new Float32Array(4 * h);
    b.fill(cfg.forgetBiasInit, h, 2 * h);
    mp[`lstm${l}/b`].dispose();
    mp[`lstm${l}/b`] = tf.tensor1d(b);
  });
  return mp;
}

/**
 * The preprocessing of Andrychowicz et al. (appendix A) of a column of gradients g [N, 1]: returns [N, 2] rows
 * (ln|g|/p, sign g) for |g| ≥ e^−p, else (−1, e^p·g). The first column is written ln(max(|g|, e^−p))/p, which
 * is the same value in both cases and has no infinite intermediate (ln 0) whose masked gradient would be NaN.
 *
 * @example
 * ```ts
 * logAndSign(tf.tensor2d([[1], [1e-6]]), 10); // [[0, 1], [-1, e^10·1e-6]]
 * ```
 */
export function logAndSign(g: tf.Tensor2D, p: number): tf.Tensor2D {
  return tf.tidy(() => {
    const small = Math.exp(-p);
    const mag = tf.div(tf.log(tf.maximum(tf.abs(g), small)), p);
    const big = tf.greaterEqual(tf.abs(g), small);
    const second = tf.where(big, tf.sign(g), tf.mul(g, Math.exp(p)));
    return tf.concat([mag, second], 1) as tf.Tensor2D;
  });
}

/** State of the coordinatewise LSTM: per layer, h and c of every coordinate ([N, H], N = all coordinates). */
export interface L2lLstmState {
  [key: string]: tf.Tensor[];
  /** Hidden states, bottom layer first. */
  h: tf.Tensor[];
  /** Cell states, bottom layer first. */
  c: tf.Tensor[];
}

/** One LSTM layer over N rows: gates z = x·Wx + h·Wh + b, split per gate on the (small) weights. */
function lstmLayer(
  mp: Record<string, tf.Tensor>,
  l: number,
  units: number,
  x: tf.Tensor2D,
  h: tf.Tensor2D,
  c: tf.Tensor2D,
): { h: tf.Tensor2D; c: tf.Tensor2D } {
  const wx = mp[`lstm${l}/wx`] as tf.Tensor2D, wh = mp[`lstm${l}/wh`] as tf.Tensor2D;
  const b = mp[`lstm${l}/b`] as tf.Tensor1D;
  const d = wx.shape[0];
  // Per-gate blocks of the weights, so no [N, 4H] matrix is sliced along axis 1 (slow on wasm).
  const gate = (k: number) =>
    tf.add(
      matMulBias(x, tf.slice(wx, [0, k * units], [d, units]), tf.slice(b, [k * units], [units])),
      matMul(h, tf.slice(wh, [0, k * units], [units, units])),
    );
  const i = tf.sigmoid(gate(0)), f = tf.sigmoid(gate(1)), g = tanhFast(gate(2)), o = tf.sigmoid(gate(3));
  const cNew = tf.add(tf.mul(f, c), tf.mul(i, g)) as tf.Tensor2D;
  return { h: tf.mul(o, tanhFast(cNew)) as tf.Tensor2D, c: cNew };
}

/**
 * The coordinatewise LSTM optimizer on these meta-parameters (not disposed; the optimizer reads them on every
 * update, so updates are differentiable w.r.t. them).
 *
 * @example
 * ```ts
 * const opt = makeL2lLstm(createL2lLstmMetaParams(L2L_LSTM_PAPER, 0), L2L_LSTM_PAPER);
 * let state = opt.init(params);
 * const { updates, state: next } = opt.update(grads, state, params);
 * ```
 */
export function makeL2lLstm(
  mp: Record<string, tf.Tensor>,
  cfg: L2lLstmConfig,
  name = "l2l-lstm",
): Optimizer<L2lLstmState> {
  checkAgainstSpecs(mp, l2lLstmSpecs(cfg), "L2L LSTM meta-parameters");
  const top = cfg.layers.length - 1;
  return {
    name,
    init(params) {
      const n = params.reduce((s, p) => s + p.size, 0);
      return {
        h: cfg.layers.map((u) => tf.zeros([n, u])),
        c: cfg.layers.map((u) => tf.zeros([n, u])),
      };
    },
    update(grads, state) {
      return tf.tidy(() => {
        const g = tf.concat(grads.map((t) => tf.reshape(t, [-1, 1])), 0) as tf.Tensor2D;
        let x = logAndSign(g, cfg.preprocessP);
        const h: tf.Tensor[] = [], c: tf.Tensor[] = [];
        cfg.layers.forEach((u, l) => {
          const next = lstmLayer(mp, l, u, x, state.h[l] as tf.Tensor2D, state.c[l] as tf.Tensor2D);
          h.push(next.h);
          c.push(next.c);
          x = next.h;
        });
        const out = tf.mul(
          matMulBias(h[top] as tf.Tensor2D, mp["readout/w"] as tf.Tensor2D, mp["readout/b"] as tf.Tensor1D),
          cfg.outputScale,
        );
        const sizes = grads.map((t) => t.size);
        const parts = grads.length === 1 ? [out] : tf.split(out, sizes, 0);
        return { updates: parts.map((p, i) => tf.reshape(p, grads[i].shape)), state: { h, c } };
      });
    },
  };
}

/**
 * The coordinatewise LSTM as a {@link LearnedOptimizer} family for meta-training.
 *
 * @example
 * ```ts
 * const learned = l2lLstmLearnedOptimizer(); // the paper's two layers of 20
 * const opt = learned.optimizer(learned.init(0));
 * ```
 */
export function l2lLstmLearnedOptimizer(overrides: Partial<L2lLstmConfig> = {}): LearnedOptimizer {
  const cfg = makeL2lLstmConfig(overrides);
  return {
    name: "l2l-lstm",
    config: cfg,
    init: (seed) => createL2lLstmMetaParams(cfg, seed),
    optimizer: (mp) => makeL2lLstm(mp, cfg),
  };
}
