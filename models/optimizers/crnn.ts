/**
 * A coordinatewise RNN optimizer ("cRNN"): the simplest learned optimizer of the HRNN paper's released code, a
 * single GRU shared by every coordinate with no tensor or global level, kept as a baseline.
 *
 * Each coordinate carries a running mean square of its gradient, the GRU's hidden state, its own learning
 * rate and its own mean-square decay. Per step:
 * 1. the mean square is updated with the coordinate's current decay (§2.3; mean square and decay both start
 *    at 1, so the first step divides by 1) and the GRU reads asinh(g / √(ms + 1e-16)) (§2.4);
 * 2. from the new hidden state o, three linear readouts give the step direction δ = o·w_u, the next decay
 *    σ(o·w_d + b_d) (b_d starts at 2.2, a decay near 0.9) and a learning-rate multiplier 2σ(o·w_ℓ + b_ℓ);
 * 3. the learning rate is multiplied by it (so it compounds over steps) and the update is −lr·δ.
 *
 * The hidden state starts from a learned vector (the same for every coordinate); the learning rates start at
 * log-uniform random values in `initLrRange`. The GRU is the BiasGRUCell of `models/hrnn/gru.ts` without an
 * external bias. All tfjs ops on the meta-parameters, so meta-training can backpropagate through it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer } from "../../lib/optimizer.ts";
import type { LearnedOptimizer, LearnedOptimizerOptions } from "./learned.ts";
import type { MetaParamSpec } from "../hrnn/meta_params.ts";
import { biasGruCellBatched, levelGruWeights, prepareBatchedGru } from "../hrnn/gru.ts";
import { asinhLog, matMul, matMulBias } from "../hrnn/ops.ts";
import { Rng } from "../../lib/rng.ts";
import { checkAgainstSpecs, createFromSpecs } from "./param_specs.ts";

/** Configuration of the coordinatewise RNN. */
export interface CrnnConfig {
  /** GRU units. */
  units: number;
  /** Range of the initial per-coordinate learning rates (log-uniform; equal ends: that constant). */
  initLrRange: [number, number];
  /** Std of the readout weights at init, times 1/√units (the reference: 0.5). */
  readoutScale: number;
  /** Initial bias of the decay readout (the reference: 2.2, σ(2.2) ≈ 0.9). */
  decayBiasInit: number;
  /** Std of the GRU weights at init, times 1/√(inputs + units). */
  gruScale: number;
}

/** Defaults: 20 units, the reference's readout and decay inits, initial learning rates 1e-4 … 1e-2. */
export const CRNN_DEFAULTS: CrnnConfig = {
  units: 20,
  initLrRange: [1e-4, 1e-2],
  readoutScale: 0.5,
  decayBiasInit: 2.2,
  gruScale: 1,
};

/**
 * Merges overrides over {@link CRNN_DEFAULTS} and validates the result.
 *
 * @example
 * ```ts
 * const cfg = makeCrnnConfig({ units: 4 });
 * ```
 */
export function makeCrnnConfig(overrides: Partial<CrnnConfig> = {}): CrnnConfig {
  const known = new Set(Object.keys(CRNN_DEFAULTS));
  const unknown = Object.keys(overrides).filter((k) => !known.has(k));
  if (unknown.length) {
    throw new Error(`cRNN config: unknown option(s) ${unknown.join(", ")}; known: ${[...known].join(", ")}`);
  }
  const cfg = { ...CRNN_DEFAULTS, ...overrides };
  validateCrnnConfig(cfg);
  return cfg;
}

/**
 * Throws when a config is unusable.
 *
 * @example
 * ```ts
 * validateCrnnConfig(CRNN_DEFAULTS); // ok
 * ```
 */
export function validateCrnnConfig(cfg: CrnnConfig): void {
  if (!Number.isInteger(cfg.units) || cfg.units < 1 || cfg.units > 256) {
    throw new Error(`cRNN config: units must be an integer in [1, 256], got ${cfg.units}`);
  }
  const r = cfg.initLrRange;
  if (!Array.isArray(r) || r.length !== 2 || !(r[0] > 0) || !(r[1] >= r[0]) || !Number.isFinite(r[1])) {
    throw new Error(
      `cRNN config: initLrRange must be [min, max] with 0 < min <= max, got ${JSON.stringify(r)}`,
    );
  }
  for (const k of ["readoutScale", "decayBiasInit", "gruScale"] as const) {
    if (!Number.isFinite(cfg[k])) throw new Error(`cRNN config: ${k} must be a finite number, got ${cfg[k]}`);
  }
}

/**
 * Names, shapes and initial distributions of the meta-parameters: the GRU (`gru0/gates_w` [1 + H, 2H],
 * `gru0/gates_b` [2H], `gru0/cand_w` [1 + H, H], `gru0/cand_b` [H]), the initial hidden state `init/state`
 * [1, H] ~ U(−1, 1), and the readouts `readout/step_w`, `readout/decay_w`, `readout/lr_w` [H, 1] with biases
 * `readout/decay_b`, `readout/lr_b` [1].
 *
 * @example
 * ```ts
 * crnnSpecs(CRNN_DEFAULTS).map((s) => s.name);
 * ```
 */
export function crnnSpecs(cfg: CrnnConfig): MetaParamSpec[] {
  const h = cfg.units;
  const std = cfg.gruScale / Math.sqrt(1 + h);
  const ro = { kind: "normal" as const, mean: 0, std: cfg.readoutScale / Math.sqrt(h) };
  return [
    { name: "gru0/gates_w", shape: [1 + h, 2 * h], init: { kind: "normal", mean: 0, std } },
    { name: "gru0/gates_b", shape: [2 * h], init: { kind: "constant", value: 0 } },
    { name: "gru0/cand_w", shape: [1 + h, h], init: { kind: "normal", mean: 0, std } },
    { name: "gru0/cand_b", shape: [h], init: { kind: "constant", value: 0 } },
    { name: "init/state", shape: [1, h], init: { kind: "uniform", lo: -1, hi: 1 } },
    { name: "readout/step_w", shape: [h, 1], init: ro },
    { name: "readout/decay_w", shape: [h, 1], init: ro },
    { name: "readout/decay_b", shape: [1], init: { kind: "constant", value: cfg.decayBiasInit } },
    { name: "readout/lr_w", shape: [h, 1], init: ro },
    { name: "readout/lr_b", shape: [1], init: { kind: "constant", value: 0 } },
  ];
}

/** State of the coordinatewise RNN, over all N coordinates of all tensors stacked. */
export interface CrnnState {
  [key: string]: tf.Tensor;
  /** Running mean square of the gradient, [N, 1]. */
  ms: tf.Tensor;
  /** GRU hidden state, [N, H]. */
  h: tf.Tensor;
  /** Per-coordinate learning rate, [N, 1]. */
  lr: tf.Tensor;
  /** Per-coordinate mean-square decay, [N, 1]. */
  decay: tf.Tensor;
}

/**
 * The coordinatewise RNN on these meta-parameters (not disposed). `rng` draws the initial learning rates at
 * every `init` (default: a fixed stream of seed 0).
 *
 * @example
 * ```ts
 * const opt = makeCrnn(createFromSpecs(crnnSpecs(CRNN_DEFAULTS), 0), CRNN_DEFAULTS, { rng: new Rng(1) });
 * ```
 */
export function makeCrnn(
  mp: Record<string, tf.Tensor>,
  cfg: CrnnConfig,
  opts: { rng?: Rng; name?: string } = {},
): Optimizer<CrnnState> {
  checkAgainstSpecs(mp, crnnSpecs(cfg), "cRNN meta-parameters");
  const rng = opts.rng ?? new Rng(0);
  const [lo, hi] = cfg.initLrRange.map(Math.log);
  return {
    name: opts.name ?? "crnn",
    init(params) {
      const n = params.reduce((s, p) => s + p.size, 0);
      const lr = new Float32Array(n);
      for (let i = 0; i < n; i++) lr[i] = lo === hi ? Math.exp(lo) : Math.exp(rng.uniform(lo, hi));
      return {
        ms: tf.ones([n, 1]),
        // Broadcast of the learned initial state: inside the unroll this is differentiable w.r.t. it.
        h: tf.tidy(() => tf.mul(tf.ones([n, 1]), mp["init/state"])),
        lr: tf.tensor2d(lr, [n, 1]),
        decay: tf.ones([n, 1]),
      };
    },
    update(grads, state) {
      return tf.tidy(() => {
        const g = tf.concat(grads.map((t) => tf.reshape(t, [-1, 1])), 0) as tf.Tensor2D;
        // §2.3 (the all-zero first-step rule never fires: ms starts at 1 and stays ≥ (1 − decay)·1e-12 > 0).
        const ms = tf.add(
          tf.mul(tf.sub(1, state.decay), tf.add(tf.square(g), 1e-12)),
          tf.mul(state.decay, state.ms),
        );
        const x = asinhLog(tf.div(g, tf.sqrt(tf.add(ms, 1e-16)))) as tf.Tensor2D;
        const o = biasGruCellBatched(
          prepareBatchedGru(levelGruWeights(mp, 0)),
          x,
          state.h as tf.Tensor2D,
          null,
        );
        const step = matMul(o, mp["readout/step_w"] as tf.Tensor2D);
        const decay = tf.sigmoid(
          matMulBias(o, mp["readout/decay_w"] as tf.Tensor2D, mp["readout/decay_b"] as tf.Tensor1D),
        );
        const mult = tf.mul(
          2,
          tf.sigmoid(matMulBias(o, mp["readout/lr_w"] as tf.Tensor2D, mp["readout/lr_b"] as tf.Tensor1D)),
        );
        const lr = tf.mul(state.lr, mult);
        const upd = tf.neg(tf.mul(lr, step));
        const parts = grads.length === 1 ? [upd] : tf.split(upd, grads.map((t) => t.size), 0);
        return {
          updates: parts.map((p, i) => tf.reshape(p, grads[i].shape)),
          state: { ms, h: o, lr, decay },
        };
      });
    },
  };
}

/**
 * The coordinatewise RNN as a {@link LearnedOptimizer} family for meta-training; `optimizer(mp, {rng})` draws
 * the initial learning rates from `rng`.
 *
 * @example
 * ```ts
 * const learned = crnnLearnedOptimizer();
 * const opt = learned.optimizer(learned.init(0), { rng: new Rng(3) });
 * ```
 */
export function crnnLearnedOptimizer(overrides: Partial<CrnnConfig> = {}): LearnedOptimizer {
  const cfg = makeCrnnConfig(overrides);
  return {
    name: "crnn",
    config: cfg,
    init: (seed) => createFromSpecs(crnnSpecs(cfg), seed),
    optimizer: (mp, o?: LearnedOptimizerOptions) => makeCrnn(mp, cfg, { rng: o?.rng }),
  };
}
