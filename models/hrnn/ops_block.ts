/**
 * The ops path of the HRNN update for one block of consecutive tensors (§4.7 steps 1–12, §5 with attention):
 * the block's rows, its features, the level-0 GRU, the tensor RNN, the readouts and the new per-tensor states.
 * `ops_update.ts` runs it for every block, between steps 0 and 13.
 *
 * @example
 * ```ts
 * import { updateBlock } from "./ops_block.ts";
 * blocks.forEach((blk, b) => updateBlock(step, blk, logLrRows[b], out));
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type HrnnConfig, MIN_LOG_LR, numFeatures } from "./config.ts";
import { blockFeatures, coordinateFeatures } from "./features.ts";
import {
  type BatchedGru,
  biasGruCell,
  biasGruCellBatched,
  biasGruCellGroups,
  levelGruWeights,
} from "./gru.ts";
import { type Block, makeSegments, MAX_BLOCK_COORDS, type Segments } from "./segments.ts";
import type { MetaParams } from "./meta_params.ts";
import { matMul, straightThroughClip } from "./ops.ts";
import type { HrnnState, HrnnTensorState } from "./state.ts";

/**
 * RMS decay used when `learnableDecay` is off (§4.3 fallback: σ(logit(0.93))).
 *
 * @example
 * ```ts
 * const decay = config.learnableDecay ? learned : FIXED_SCL_DECAY;
 * ```
 */
export const FIXED_SCL_DECAY = 0.93;
/**
 * Momentum decay used when the input decay is not learned (§4.3 fallback: σ(logit(0.89))).
 *
 * @example
 * ```ts
 * const decay = inpDecayLearned(config) ? learned : FIXED_INP_DECAY;
 * ```
 */
export const FIXED_INP_DECAY = 0.89;

/**
 * x·W + b for a [1, d] row.
 *
 * @example
 * ```ts
 * const bias1 = affineRow(globalOld, mp["bias1/from_level2_w"], mp["bias1/from_level2_b"]);
 * ```
 */
export function affineRow(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return tf.add(tf.matMul(x, w as tf.Tensor2D), b) as tf.Tensor2D;
}

/**
 * Weights derived once per step (tiny, differentiable), and the biases from the old global state.
 *
 * @example
 * ```ts
 * const sw: StepWeights = stepWeights(mp, config, state.global ?? null);
 * ```
 */
export interface StepWeights {
  gru0: () => BatchedGru;
  wU: tf.Tensor2D;
  wA: tf.Tensor2D | null;
  wGs: tf.Tensor | null;
  wGsA: tf.Tensor | null;
  wS: tf.Tensor2D | null;
  wI: tf.Tensor2D | null;
  wL: tf.Tensor2D | null;
  lrMomentum: tf.Tensor | null;
  bias0Global: tf.Tensor2D | null;
  bias1: tf.Tensor2D | null;
}

/**
 * Row views of a block's tensors: one [1, n_j] row each, concatenated to [1, N].
 *
 * @example
 * ```ts
 * const logLr = blockRows(state, blk, k).row((s) => s.log_learning_rate!);
 * ```
 */
export interface BlockRows {
  /** One row per tensor → [1, N]. */
  row(get: (s: HrnnTensorState, j: number) => tf.Tensor2D): tf.Tensor2D;
  /** K rows per tensor → [K, N]. */
  stacked(get: (s: HrnnTensorState) => tf.Tensor2D[]): tf.Tensor2D;
}

/**
 * The row views of block `blk` of `state` (K timescales).
 *
 * @example
 * ```ts
 * const g = blockRows(state, blk, k).row((_s, j) => grads[j].reshape([1, sizes[j]]) as tf.Tensor2D);
 * ```
 */
export function blockRows(state: HrnnState, blk: Block, k: number): BlockRows {
  const row = (get: (s: HrnnTensorState, j: number) => tf.Tensor2D): tf.Tensor2D => {
    const rows = blk.index.map((j) => get(state.tensors[j], j));
    return rows.length === 1 ? rows[0] : tf.concat(rows, 1);
  };
  const stacked = (get: (s: HrnnTensorState) => tf.Tensor2D[]): tf.Tensor2D => {
    if (k === 1) return row((s) => get(s)[0]);
    if (blk.index.length === 1) return tf.concat(get(state.tensors[blk.index[0]]), 0);
    // Fewer ops: T concats of K rows then one along axis 1, or K concats of T rows then one along axis 0.
    if (blk.index.length < k) {
      return tf.concat(blk.index.map((j) => tf.concat(get(state.tensors[j]), 0)), 1);
    }
    return tf.concat(Array.from({ length: k }, (_, i) => row((s) => get(s)[i])), 0);
  };
  return { row, stacked };
}

/** Steps 1–5 of one block: the features, the new accumulators and mean squares per tensor, the shortcut. */
interface BlockFeatureSet {
  features: tf.Tensor2D;
  accum: tf.Tensor2D[][];
  ms: tf.Tensor2D[][];
  /** The gradient shortcut Σ_i w_i · (scaled gradient)_i as a row [1, N]. */
  shortcut: (w: tf.Tensor) => tf.Tensor;
}

function blockFeatureSet(
  config: HrnnConfig,
  state: HrnnState,
  blk: Block,
  seg: Segments,
  rows: BlockRows,
  g: tf.Tensor2D,
  logLr: tf.Tensor2D | undefined,
  lrMean: tf.Tensor | undefined,
): BlockFeatureSet {
  const k = config.numGradientScales;
  // A large single tensor keeps its K timescales as separate rows (stacking them into a [K, n] matrix would
  // cost copies: a wasm slice reads back its whole input); a block of small tensors stacks them so that each
  // step is one op per block.
  if (blk.index.length === 1 && blk.total > MAX_BLOCK_COORDS) {
    const s = state.tensors[blk.index[0]];
    const fr = coordinateFeatures({
      grad: g,
      accum: s.grad_accum,
      ms: s.ms,
      inpDecay: s.inp_decay,
      sclDecay: s.scl_decay,
      logLr,
      lrMean,
    }, config);
    return {
      features: fr.features,
      accum: [fr.accum],
      ms: [fr.ms],
      shortcut: (w) => tf.addN(fr.scaled.map((x, i) => tf.mul(x, tf.slice(w, [i, 0], [1, 1])))),
    };
  }
  const fb = blockFeatures(
    {
      grad: g,
      accum: rows.stacked((s) => s.grad_accum),
      ms: rows.stacked((s) => s.ms),
      inpDecay: rows.row((s) => s.inp_decay),
      sclDecay: rows.row((s) => s.scl_decay),
      logLr,
      lrMean,
    },
    seg,
    config,
  );
  const toRows = (m: tf.Tensor2D): tf.Tensor2D[][] =>
    seg.split(m, 1).map((p) => (k === 1 ? [p] : tf.split(p, k, 0)) as tf.Tensor2D[]);
  return {
    features: fb.features,
    accum: toRows(fb.accum),
    ms: toRows(fb.ms),
    shortcut: (w) => tf.sum(tf.mul(fb.scaled, w), 0, true),
  };
}

/** Step 6: level 0 of one block, biased by the OLD tensor and global states. */
function level0(
  mp: MetaParams,
  sw: StepWeights,
  state: HrnnState,
  blk: Block,
  seg: Segments,
  features: tf.Tensor2D,
  layersOld: tf.Tensor2D | null,
): tf.Tensor2D {
  const t = blk.index.length;
  const nTot = blk.total;
  let bias0: tf.Tensor2D | null = null;
  if (layersOld) {
    bias0 = affineRow(layersOld, mp["bias0/from_level1_w"], mp["bias0/from_level1_b"]);
    if (sw.bias0Global) bias0 = tf.add(bias0, sw.bias0Global);
  }
  const hOld = t === 1
    ? state.tensors[blk.index[0]].parameter
    : tf.concat(blk.index.map((j) => state.tensors[j].parameter), 0);
  // Small blocks: the reference row form (fewest ops); a large tensor: the per-gate form (fast on wasm).
  const xT = tf.transpose(features) as tf.Tensor2D;
  // (The batched form takes one bias row: a large block of several tensors, possible only with a
  // maxBlockCoords above the default, uses the grouped form.)
  return nTot > MAX_BLOCK_COORDS && (t === 1 || !bias0)
    ? biasGruCellBatched(sw.gru0(), xT, hOld, bias0)
    : t === 1 || !bias0
    ? biasGruCell(levelGruWeights(mp, 0), xT, hOld, bias0)
    : biasGruCellGroups(levelGruWeights(mp, 0), xT, hOld, seg.oneHot(), bias0);
}

/** Steps 8–10 of one block: the step direction(s), the decays and log learning rate for the next step. */
interface BlockReadouts {
  /** The parameter step η·δ, [1, N]. */
  stepRow: tf.Tensor;
  /** With attention: the attended step, [1, N]. */
  attendedRow: tf.Tensor | null;
  sclNew: tf.Tensor;
  inpNew: tf.Tensor;
  logLrNew: tf.Tensor | null;
}

function blockReadouts(
  mp: MetaParams,
  config: HrnnConfig,
  sw: StepWeights,
  seg: Segments,
  h0: tf.Tensor2D,
  nTot: number,
  shortcut: (w: tf.Tensor) => tf.Tensor,
  logLr: tf.Tensor2D | undefined,
): BlockReadouts {
  const dos = config.dynamicOutputScale;
  const attention = config.useAttention;
  // Readout h0'·w of a [N0, 1] weight as a row [1, N].
  const readout = (w: tf.Tensor2D) => matMul(h0, w).reshape([1, nTot]);
  // Step 8: direction (+ gradient shortcut), RMS-normalised per tensor.
  const direction = (w: tf.Tensor2D, wShort: tf.Tensor | null) => {
    let d: tf.Tensor = readout(w);
    if (wShort) d = tf.add(d, shortcut(wShort));
    if (dos) {
      d = tf.div(
        d,
        seg.expand(tf.sqrt(tf.add(seg.meanRows(tf.square(d) as tf.Tensor2D), 1e-16)) as tf.Tensor2D),
      );
    }
    return d;
  };
  const delta = direction(sw.wU, sw.wGs);
  // Step 9: decay readouts (used next step).
  const sclNew = sw.wS
    ? tf.sigmoid(tf.add(readout(sw.wS), mp["readout/scl_decay_b"]))
    : tf.fill([1, nTot], FIXED_SCL_DECAY);
  const inpNew = sw.wI
    ? tf.sigmoid(tf.add(readout(sw.wI), mp["readout/inp_decay_b"]))
    : tf.fill([1, nTot], FIXED_INP_DECAY);
  // Step 10: log learning rate.
  let eta: tf.Tensor | number = 1;
  let etaAttn: tf.Tensor | number = 1;
  let logLrNew: tf.Tensor | null = null;
  if (dos) {
    const proposed = tf.add(logLr!, tf.add(readout(sw.wL!), mp["readout/lr_b"]));
    const clipped = straightThroughClip(proposed, MIN_LOG_LR, config.maxLogLr);
    logLrNew = tf.add(tf.mul(sw.lrMomentum!, logLr!), tf.mul(tf.sub(1, sw.lrMomentum!), clipped));
    eta = tf.exp(tf.add(clipped, mp["step_offset"]));
    if (attention) etaAttn = tf.exp(clipped);
  }
  // Step 11: parameter update (§5 with attention).
  const stepRow = tf.mul(eta, delta);
  const attendedRow = attention ? tf.mul(etaAttn, direction(sw.wA!, sw.wGsA)) : null;
  return { stepRow, attendedRow, sclNew, inpNew, logLrNew };
}

/**
 * What every block of one update reads.
 *
 * @example
 * ```ts
 * const step: StepContext = { mp, config, sw, state, grads, params, sizes, problemLrMean: null };
 * ```
 */
export interface StepContext {
  mp: MetaParams;
  config: HrnnConfig;
  sw: StepWeights;
  state: HrnnState;
  grads: tf.Tensor[];
  params: tf.Tensor[];
  /** Coordinates per tensor. */
  sizes: number[];
  /** Step 0's μ_ℓ over the whole problem, when the config uses it. */
  problemLrMean: tf.Tensor | null;
}

/**
 * What the blocks of one update write: per tensor in parameter order, and the new level-1 states in order.
 *
 * @example
 * ```ts
 * const out: StepOutputs = { updates: new Array(t), newTensors: new Array(t), newLayers: [] };
 * ```
 */
export interface StepOutputs {
  updates: tf.Tensor[];
  newTensors: HrnnTensorState[];
  newLayers: tf.Tensor2D[];
}

/**
 * Steps 1–12 for one block of tensors, given its old log learning rates as a row [1, N].
 *
 * @example
 * ```ts
 * updateBlock(step, blk, dos ? logLrRows[b] : undefined, out);
 * ```
 */
export function updateBlock(
  step0: StepContext,
  blk: Block,
  logLr: tf.Tensor2D | undefined,
  out: StepOutputs,
): void {
  const { mp, config, sw, state, grads, params, sizes, problemLrMean } = step0;
  const { updates, newTensors, newLayers } = out;
  const levels = config.levelSizes.length;
  const k = config.numGradientScales;
  const f = numFeatures(config);
  const attention = config.useAttention;
  const seg = makeSegments(blk);
  const rows = blockRows(state, blk, k);
  const t = blk.index.length;
  const g = rows.row((_s, j) => grads[j].reshape([1, sizes[j]]) as tf.Tensor2D);
  // Steps 1–5.
  const lrMean = config.useRelativeLr ? (problemLrMean ?? seg.expand(seg.meanRows(logLr!))) : undefined;
  const feats = blockFeatureSet(config, state, blk, seg, rows, g, logLr, lrMean);
  // Step 6.
  const layersOld = levels >= 2
    ? (t === 1
      ? state.tensors[blk.index[0]].layer!
      : tf.concat(blk.index.map((j) => state.tensors[j].layer!), 0))
    : null;
  const h0 = level0(mp, sw, state, blk, seg, feats.features, layersOld);
  // Step 7: level 1 on the tensor-means of [h0', z] (or of h0' alone when z holds only the K scaled grads).
  let h1: tf.Tensor2D | null = null;
  if (layersOld) {
    const meanH = seg.meanCoords(h0);
    const u1 = f > k
      ? tf.concat([meanH, tf.transpose(seg.meanRows(feats.features)) as tf.Tensor2D], 1)
      : meanH;
    h1 = biasGruCell(levelGruWeights(mp, 1), u1, layersOld, sw.bias1);
  }
  // Steps 8–11.
  const r = blockReadouts(mp, config, sw, seg, h0, blk.total, feats.shortcut, logLr);
  const step = attention ? seg.split(r.stepRow, 1) : null;
  const attendedStep = r.attendedRow ? seg.split(r.attendedRow, 1) : null;
  const negStep = attention ? null : seg.split(tf.neg(r.stepRow), 1);
  // Step 12: new per-tensor states.
  const hNew = seg.split(h0, 0);
  const sclRows = seg.split(r.sclNew, 1);
  const inpRows = seg.split(r.inpNew, 1);
  const lrRows = r.logLrNew ? seg.split(r.logLrNew, 1) : null;
  const layerRows = h1 ? (t === 1 ? [h1] : tf.split(h1, t, 0) as tf.Tensor2D[]) : null;
  blk.index.forEach((j, q) => {
    const shape = params[j].shape;
    const ns = {} as HrnnTensorState;
    if (attention) {
      const trueOld = state.tensors[j].true_param!;
      ns.true_param = tf.sub(trueOld, step![q].reshape(shape));
      const attended = tf.sub(trueOld, attendedStep![q].reshape(shape));
      updates[j] = tf.sub(attended, params[j]);
    } else {
      updates[j] = negStep![q].reshape(shape);
    }
    ns.parameter = hNew[q] as tf.Tensor2D;
    ns.scl_decay = sclRows[q] as tf.Tensor2D;
    ns.inp_decay = inpRows[q] as tf.Tensor2D;
    ns.grad_accum = feats.accum[q];
    ns.ms = feats.ms[q];
    if (layerRows) ns.layer = layerRows[q];
    if (lrRows) ns.log_learning_rate = lrRows[q] as tf.Tensor2D;
    newTensors[j] = ns;
  });
  if (layerRows) newLayers.push(...layerRows);
}
