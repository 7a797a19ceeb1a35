/**
 * Running mean-square helpers (README.md §2.3, §2.4) and the per-coordinate input features of the
 * hierarchical RNN (§4.6, steps 1–5 of §4.7).
 *
 * Per-coordinate quantities use the feature-major layout of the optimizer: one ROW [1, n] per quantity and
 * timescale (n = number of coordinates of the tensor), so that stacking them is a cheap axis-0 concat.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { HrnnConfig } from "./config.ts";
import { asinhLog } from "./ops.ts";
import type { Segments } from "./segments.ts";

/**
 * 1 if any element of `ms` is non-zero, else 0, as a scalar (ms ≥ 0). Its gradient is zero, so it can sit on a
 * differentiated path (unlike comparison ops, which have no gradient in tfjs).
 *
 * @example
 * ```ts
 * nonZeroIndicator(tf.zeros([1, 5])); // scalar 0: the state was just reset
 * ```
 */
export function nonZeroIndicator(ms: tf.Tensor): tf.Scalar {
  return tf.sign(tf.max(tf.abs(ms))) as tf.Scalar;
}

/**
 * §2.3: ms_new = (1 − d̃)·(g² + 1e-12) + d̃·ms, with d̃ = 0 when every element of `ms` is exactly 0 (first step
 * after a reset) and d̃ = decay otherwise. Element-wise; `decay` may be a scalar or broadcast per coordinate.
 *
 * @example
 * ```ts
 * const ms1 = newMeanSquared(g, 0.9, tf.zerosLike(g)); // g² + 1e-12: the first step ignores the decay
 * const ms2 = newMeanSquared(g, 0.9, ms1); // 0.1·(g² + 1e-12) + 0.9·ms1
 * ```
 */
export function newMeanSquared(g: tf.Tensor, decay: tf.Tensor | number, ms: tf.Tensor): tf.Tensor {
  const d = tf.mul(decay, nonZeroIndicator(ms));
  return tf.add(tf.mul(tf.sub(1, d), tf.add(tf.square(g), 1e-12)), tf.mul(d, ms));
}

/**
 * §2.4: returns asinh(g / √(ms_new + 1e-16)) and ms_new from {@link newMeanSquared}.
 *
 * @example
 * ```ts
 * const { scaled, ms: msNew } = rmsScaling(g, 0.93, ms);
 * ```
 */
export function rmsScaling(
  g: tf.Tensor,
  decay: tf.Tensor | number,
  ms: tf.Tensor,
): { scaled: tf.Tensor; ms: tf.Tensor } {
  const msNew = newMeanSquared(g, decay, ms);
  return { scaled: asinhLog(tf.div(g, tf.sqrt(tf.add(msNew, 1e-16)))), ms: msNew };
}

/**
 * §2.5 `make_finite`: replaces non-finite elements by `repl`.
 *
 * @example
 * ```ts
 * makeFinite(tf.tensor1d([1, NaN, Infinity]), 0); // [1, 0, 0]
 * ```
 */
export function makeFinite(t: tf.Tensor, repl: number): tf.Tensor {
  return tf.where(tf.isFinite(t), t, tf.fill(t.shape, repl));
}

/**
 * Names of the feature rows in §4.6 order for a configuration (length F).
 *
 * @example
 * ```ts
 * featureNames(makeHrnnConfig({ numGradientScales: 2 }));
 * // ["scaled_grad_1", "scaled_grad_2", "grad_product_1_2", "log_ms_dev_1", "log_ms_dev_2", "relative_log_lr"]
 * ```
 */
export function featureNames(config: HrnnConfig): string[] {
  const k = config.numGradientScales;
  const names: string[] = [];
  for (let i = 1; i <= k; i++) names.push(`scaled_grad_${i}`);
  if (config.useGradProducts) { for (let i = 1; i < k; i++) names.push(`grad_product_${i}_${i + 1}`); }
  if (config.useLogMeansSquared) { for (let i = 1; i <= k; i++) names.push(`log_ms_dev_${i}`); }
  if (config.useRelativeLr) names.push("relative_log_lr");
  if (config.useExtremeIndicator) names.push("extreme_lr_indicator");
  if (config.useLrShortcut) names.push("lr_shortcut");
  return names;
}

/** Inputs of {@link coordinateFeatures} for one tensor (rows are [1, n]). */
export interface FeatureInputs {
  /** Flattened gradient, [1, n]. */
  grad: tf.Tensor2D;
  /** Old momentum accumulators a_1..a_K, each [1, n]. */
  accum: tf.Tensor2D[];
  /** Old mean squares ms_1..ms_K, each [1, n]. */
  ms: tf.Tensor2D[];
  /** Old momentum decay state (inp_decay), [1, n]. */
  inpDecay: tf.Tensor2D;
  /** Old RMS decay state (scl_decay), [1, n]. */
  sclDecay: tf.Tensor2D;
  /** Old log learning rate ℓ, [1, n]; needed when an LR feature is on. */
  logLr?: tf.Tensor2D;
  /** Reference mean μ_ℓ of the old ℓ (problem-wide or this tensor's), scalar; needed for the relative LR. */
  lrMean?: tf.Tensor;
}

/** Outputs of {@link coordinateFeatures}. */
export interface CoordinateFeatures {
  /** The feature matrix zᵀ, [F, n], rows in {@link featureNames} order. */
  features: tf.Tensor2D;
  /** The K scaled accumulators x_1..x_K, each [1, n] (the first K rows of `features`). */
  scaled: tf.Tensor2D[];
  /** New accumulators a'_1..a'_K, each [1, n]. */
  accum: tf.Tensor2D[];
  /** New mean squares ms'_1..ms'_K, each [1, n]. */
  ms: tf.Tensor2D[];
}

/** The learning-rate feature rows of §4.6 (relative LR, extreme indicator, LR shortcut) that `config` uses. */
function learningRateFeatures(
  logLr: tf.Tensor | undefined,
  lrMean: tf.Tensor | undefined,
  config: HrnnConfig,
): tf.Tensor[] {
  const rows: tf.Tensor[] = [];
  const needLr = config.useRelativeLr || config.useExtremeIndicator || config.useLrShortcut;
  if (needLr && !logLr) throw new Error("HRNN learning-rate features need the log learning-rate state.");
  if (config.useRelativeLr) {
    if (!lrMean) throw new Error("HRNN relative-LR feature needs the mean log learning rate.");
    rows.push(tf.sub(logLr!, lrMean));
  }
  if (config.useExtremeIndicator) {
    const l = logLr!;
    rows.push(tf.sub(tf.relu(l), tf.relu(tf.sub(Math.log(1e-6), l))));
  }
  if (config.useLrShortcut) rows.push(tf.sub(logLr!, Math.log(1e-3)));
  return rows;
}

/**
 * Steps 1–5 of §4.7 for one tensor: decays, momentum accumulators, mean squares of the ACCUMULATED gradients,
 * scaled inputs x_i = asinh(a'_i / √(ms'_i + 1e-16)) and the feature rows of §4.6.
 *
 * @example
 * ```ts
 * const out = coordinateFeatures({ grad, accum, ms, inpDecay, sclDecay, logLr, lrMean }, makeHrnnConfig());
 * out.features.shape; // [12, n]: the paper config has F = 12
 * ```
 */
export function coordinateFeatures(inp: FeatureInputs, config: HrnnConfig): CoordinateFeatures {
  const k = config.numGradientScales;
  if (inp.accum.length !== k || inp.ms.length !== k) {
    throw new Error(
      `HRNN state has ${inp.accum.length} accumulators / ${inp.ms.length} mean squares, expected ${k}.`,
    );
  }
  const g = inp.grad;
  // 1. Decays: d_{i+1} = √d_i; s_i = scl_decay (or repeated square roots).
  const inpDecays: tf.Tensor[] = [inp.inpDecay];
  const sclDecays: tf.Tensor[] = [inp.sclDecay];
  for (let i = 1; i < k; i++) {
    inpDecays.push(tf.sqrt(inpDecays[i - 1]));
    sclDecays.push(config.useMultipleScaleDecays ? tf.sqrt(sclDecays[i - 1]) : inp.sclDecay);
  }
  const accum: tf.Tensor2D[] = [];
  const ms: tf.Tensor2D[] = [];
  const scaled: tf.Tensor2D[] = [];
  const logMs: tf.Tensor[] = [];
  for (let i = 0; i < k; i++) {
    // 2. a'_i = (1 − d_i)·g + d_i·a_i (with K = 1 the accumulator is just g).
    const a = k === 1 ? g : tf.add(tf.mul(tf.sub(1, inpDecays[i]), g), tf.mul(inpDecays[i], inp.accum[i]));
    // 3.–4. Mean square of the accumulated gradient and the scaled input.
    const r = rmsScaling(a, sclDecays[i], inp.ms[i]);
    accum.push(a as tf.Tensor2D);
    ms.push(r.ms as tf.Tensor2D);
    scaled.push(r.scaled as tf.Tensor2D);
    if (config.useLogMeansSquared) logMs.push(tf.log(tf.add(r.ms, 1e-16)));
  }
  // 5. Feature rows in §4.6 order.
  const rows: tf.Tensor[] = [...scaled];
  if (config.useGradProducts) { for (let i = 0; i + 1 < k; i++) rows.push(tf.mul(scaled[i], scaled[i + 1])); }
  if (config.useLogMeansSquared) {
    const mean = k === 1 ? logMs[0] : tf.div(tf.addN(logMs), k);
    for (const l of logMs) rows.push(tf.sub(l, mean));
  }
  rows.push(...learningRateFeatures(inp.logLr, inp.lrMean, config));
  const features = (rows.length === 1 ? rows[0] : tf.concat(rows, 0)) as tf.Tensor2D;
  return { features, scaled, accum, ms };
}

/** Inputs of {@link blockFeatures}: a block of T tensors, N coordinates, K timescales stacked as rows. */
export interface BlockFeatureInputs {
  /** Flattened gradients of the block's tensors, concatenated, [1, N]. */
  grad: tf.Tensor2D;
  /** Old accumulators, row i = a_{i+1}, [K, N]. */
  accum: tf.Tensor2D;
  /** Old mean squares, row i = ms_{i+1}, [K, N]. */
  ms: tf.Tensor2D;
  /** Old momentum decay state, [1, N]. */
  inpDecay: tf.Tensor2D;
  /** Old RMS decay state, [1, N]. */
  sclDecay: tf.Tensor2D;
  /** Old log learning rate, [1, N]; needed when an LR feature is on. */
  logLr?: tf.Tensor2D;
  /** μ_ℓ broadcastable to [1, N] (a scalar or per-coordinate row); needed for the relative LR. */
  lrMean?: tf.Tensor;
}

/** Outputs of {@link blockFeatures} (all [·, N]). */
export interface BlockFeatures {
  /** The feature matrix zᵀ, [F, N], rows in {@link featureNames} order. */
  features: tf.Tensor2D;
  /** Scaled accumulators x_1..x_K as rows, [K, N]. */
  scaled: tf.Tensor2D;
  /** New accumulators, [K, N]. */
  accum: tf.Tensor2D;
  /** New mean squares, [K, N]. */
  ms: tf.Tensor2D;
}

/**
 * {@link coordinateFeatures} for a block of tensors with the K timescales stacked as rows, so that each step
 * is one op over [K, N] instead of K ops per tensor. The first-step rule (§2.3) stays per tensor and per
 * timescale through `seg`: d̃ = decay · [any element of that tensor's ms_i ≠ 0]. Same values as
 * {@link coordinateFeatures} on each tensor, up to float32 rounding.
 *
 * @example
 * ```ts
 * const seg = makeSegments(planBlocks([30, 10])[0]); // one block of two tensors, N = 40
 * const out = blockFeatures({ grad, accum, ms, inpDecay, sclDecay, logLr, lrMean }, seg, makeHrnnConfig());
 * out.features.shape; // [12, 40]
 * ```
 */
export function blockFeatures(inp: BlockFeatureInputs, seg: Segments, config: HrnnConfig): BlockFeatures {
  const k = config.numGradientScales;
  if (inp.accum.shape[0] !== k || inp.ms.shape[0] !== k) {
    throw new Error(
      `HRNN state has ${inp.accum.shape[0]} accumulators / ${inp.ms.shape[0]} mean squares, expected ${k}.`,
    );
  }
  const g = inp.grad;
  const stackRows = (first: tf.Tensor): tf.Tensor => {
    if (k === 1) return first;
    const rows = [first];
    for (let i = 1; i < k; i++) rows.push(tf.sqrt(rows[i - 1]));
    return tf.concat(rows, 0);
  };
  // 1. Decays: d_{i+1} = √d_i; s_i = scl_decay (or repeated square roots).
  const inpDecays = stackRows(inp.inpDecay);
  const sclDecays = config.useMultipleScaleDecays ? stackRows(inp.sclDecay) : inp.sclDecay;
  // 2. a'_i = (1 − d_i)·g + d_i·a_i (with K = 1 the accumulator is just g).
  const accum =
    (k === 1 ? g : tf.add(tf.mul(tf.sub(1, inpDecays), g), tf.mul(inpDecays, inp.accum))) as tf.Tensor2D;
  // 3. Mean squares with the per-tensor, per-timescale first-step indicator.
  const anyNonZero = seg.count === 1
    ? tf.sign(tf.max(tf.abs(inp.ms), 1, true))
    : seg.expand(tf.sign(seg.meanRows(tf.sign(tf.abs(inp.ms)) as tf.Tensor2D)) as tf.Tensor2D);
  const d = tf.mul(sclDecays, anyNonZero);
  const ms = tf.add(tf.mul(tf.sub(1, d), tf.add(tf.square(accum), 1e-12)), tf.mul(d, inp.ms)) as tf.Tensor2D;
  // 4. Scaled inputs.
  const scaled = asinhLog(tf.div(accum, tf.sqrt(tf.add(ms, 1e-16)))) as tf.Tensor2D;
  // 5. Feature rows in §4.6 order.
  const n = g.shape[1];
  const rows: tf.Tensor[] = [scaled];
  if (config.useGradProducts && k > 1) {
    rows.push(tf.mul(tf.slice(scaled, [0, 0], [k - 1, n]), tf.slice(scaled, [1, 0], [k - 1, n])));
  }
  if (config.useLogMeansSquared) {
    const logMs = tf.log(tf.add(ms, 1e-16));
    rows.push(k === 1 ? tf.sub(logMs, logMs) : tf.sub(logMs, tf.mean(logMs, 0, true)));
  }
  rows.push(...learningRateFeatures(inp.logLr, inp.lrMean, config));
  const features = (rows.length === 1 ? rows[0] : tf.concat(rows, 0)) as tf.Tensor2D;
  return { features, scaled, accum, ms };
}
