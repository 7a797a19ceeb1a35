/**
 * The hierarchical RNN learned optimizer (Wichrowska et al. 2017), `hrnn-reference.md` §4 and §5, as an
 * {@link Optimizer}.
 *
 * One `update` runs §4.7 for every parameter tensor in order (steps 0–12), then the global RNN (step 13):
 * features from multi-timescale momentum and RMS scaling → per-coordinate GRU (level 0, biased by the old
 * tensor and global states) → per-tensor GRU on the tensor-means (level 1) → readouts: RMS-normalised direction
 * plus gradient shortcut, learned RMS/momentum decays for the next step, momentum-smoothed log learning rate
 * with a straight-through clip, step exp(ℓ̃ + c_off)·δ → global GRU on the last tensor's new level-1 state
 * (or the mean over tensors, `globalInput: "mean"`). For speed, consecutive small tensors are processed as one
 * block (`segments.ts`): their rows are concatenated and every per-coordinate op runs once per block, with
 * per-tensor statistics kept exact by segment matrices; the results equal the tensor-by-tensor update up to
 * float32 rounding.
 *
 * On the wasm backend `update` instead runs the fused kernel (same results to float32 rounding, several times
 * faster; option `kernel`), its native x86-64 build where that loads (`native.ts`), else its WebAssembly build:
 * when no gradient is being recorded the inference pass of `fused.ts`, while one is its differentiable form
 * `fused_taped.ts` (one tfjs kernel per update with a hand-written backward; every config but attention).
 * Otherwise (the ops path):
 *
 * Everything is tfjs ops on the given meta-parameter tensors: `update` is differentiable w.r.t. the
 * meta-parameters and w.r.t. the gradients, parameters and state (meta-training backprops through unrolls of
 * it, also through the problem gradient). It runs inside `tf.tidy` (which keeps what the gradient tape needs)
 * and never reads tensor data back.
 *
 * State layout (see README.md): `parameter` is [n, N0] as in the reference; every per-coordinate scalar is
 * a row [1, n] (the reference's [n, 1] column, same memory) and the K accumulators and mean squares are lists
 * of K rows, so stacking features is an axis-0 concat (cheap on wasm, where axis-1 concat over n rows is a
 * per-row JavaScript loop). `true_param` is only kept with attention (without it, it always equals the
 * parameters).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import type { Optimizer } from "../../lib/optimizer.ts";
import { type HrnnConfig, inpDecayLearned, MIN_LOG_LR, numFeatures, validateConfig } from "./config.ts";
import { blockFeatures, coordinateFeatures } from "./features.ts";
import {
  type BatchedGru,
  biasGruCell,
  biasGruCellBatched,
  biasGruCellGroups,
  levelGruWeights,
  prepareBatchedGru,
} from "./gru.ts";
import { type Block, makeSegments, MAX_BLOCK_COORDS, planBlocks } from "./segments.ts";
import { type MetaParams, validateMetaParams } from "./meta_params.ts";
import { matMul, straightThroughClip } from "./ops.ts";
import {
  fusedAvailable,
  fusedLoadError,
  fusedUnsupportedReason,
  type FusedUpdater,
  makeFusedUpdater,
} from "./fused.ts";
import { nativeKernelError } from "./native.ts";
import { makeTapedFusedUpdater, type TapedFusedUpdater } from "./fused_taped.ts";
import { makeWebGpuUpdater, webgpuFusedAvailable, type WebGpuUpdater } from "./webgpu.ts";

/** Whether a gradient tape is recording (tfjs engine state). */
function recording(): boolean {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  return state.gradientDepth > 0;
}

/** RMS decay used when `learnableDecay` is off (§4.3 fallback: σ(logit(0.93))). */
export const FIXED_SCL_DECAY = 0.93;
/** Momentum decay used when the input decay is not learned (§4.3 fallback: σ(logit(0.89))). */
export const FIXED_INP_DECAY = 0.89;

/**
 * Per-tensor optimizer state (§4.4); n = number of coordinates of the tensor. Per-coordinate scalars are rows
 * [1, n] (same memory as the reference's [n, 1] columns; a reshape converts them for free).
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

/** Whole optimizer state: one entry per parameter tensor, plus the global RNN state with 3 levels. */
export type HrnnState = {
  /** Per-tensor states, in parameter order. */
  tensors: HrnnTensorState[];
  /** Level-2 (global RNN) hidden state, [1, N2]; present with 3 levels. */
  global?: tf.Tensor2D;
};

/** Options of {@link makeHrnn}. */
export interface HrnnOptions {
  /** Stream for the random initial log learning rates; each `init` call continues it. */
  rng?: Rng;
  /** Seed for a fresh stream when `rng` is not given (default 0). */
  seed?: number;
  /** Optimizer name (default `hrnn`). */
  name?: string;
  /**
   * Small consecutive tensors are updated together in blocks of at most this many coordinates (default
   * {@link MAX_BLOCK_COORDS}); 0 updates every tensor on its own. Results agree to float32 rounding.
   */
  maxBlockCoords?: number;
  /**
   * How `update` computes: `"ops"` = differentiable tfjs ops; `"fused"` = the WebAssembly SIMD kernel of
   * `fused.ts` (wasm backend only; an error elsewhere), and while a gradient is being recorded its
   * differentiable form (`fused_taped.ts`: one tfjs kernel per update with a hand-written backward);
   * `"native"` = the same kernels compiled for x86-64, loaded through FFI (`native.ts`: Linux x86-64 and
   * `--allow-ffi`; an error elsewhere); `"auto"` (default) = native, else fused, when the backend is wasm and the
   * config is supported (every option but attention, which runs on the ops path), else ops — recording a
   * gradient or not. On the `webgpu` backend, `"auto"` and `"webgpu"` run the WGSL compute shader of
   * `webgpu.ts` when no gradient is being recorded (`"webgpu"` elsewhere is an error), else ops.
   */
  kernel?: "auto" | "ops" | "fused" | "native" | "webgpu";
}

/** The HRNN optimizer; also exposes the config it was built with. */
export interface HrnnOptimizer extends Optimizer<HrnnState> {
  /** The configuration it was built with. */
  readonly config: HrnnConfig;
}

/** x·W + b for a [1, d] row. */
function affineRow(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return tf.add(tf.matMul(x, w as tf.Tensor2D), b) as tf.Tensor2D;
}

/** Draws the initial log learning rates of one tensor (§4.4): U_coord + U_tensor, clipped. */
function initialLogLr(n: number, config: HrnnConfig, rng: Rng): Float32Array {
  const [minLr, maxLr] = config.initLrRange;
  const out = new Float32Array(n);
  if (minLr === maxLr) return out.fill(Math.min(Math.max(Math.log(minLr), MIN_LOG_LR), config.maxLogLr));
  const lo = Math.log(minLr) / 2, hi = Math.log(maxLr) / 2;
  const offset = rng.uniform(lo, hi);
  for (let i = 0; i < n; i++) {
    out[i] = Math.min(Math.max(rng.uniform(lo, hi) + offset, MIN_LOG_LR), config.maxLogLr);
  }
  return out;
}

/**
 * Builds the hierarchical RNN optimizer from meta-parameters (see `meta_params.ts`) and a config. The
 * meta-parameter tensors are used as given (not copied), so gradients w.r.t. them flow through `update`; the
 * caller keeps ownership. `init` draws the initial log learning rates from `opts.rng` (or a stream seeded by
 * `opts.seed`). `evalParams` exists only with attention and returns copies of the true parameters.
 */
export function makeHrnn(metaParams: MetaParams, config: HrnnConfig, opts: HrnnOptions = {}): HrnnOptimizer {
  validateConfig(config);
  validateMetaParams(metaParams, config);
  const mp = metaParams;
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const sizes = config.levelSizes;
  const levels = sizes.length;
  const [n0] = sizes;
  const k = config.numGradientScales;
  const f = numFeatures(config);
  const dos = config.dynamicOutputScale;
  const attention = config.useAttention;
  const kernel = opts.kernel ?? "auto";
  if (!["auto", "ops", "fused", "native", "webgpu"].includes(kernel)) {
    throw new Error(
      `HRNN kernel must be "auto", "ops", "fused", "native" or "webgpu", got ${JSON.stringify(kernel)}.`,
    );
  }
  const unsupported = fusedUnsupportedReason(config);
  if ((kernel === "fused" || kernel === "native" || kernel === "webgpu") && unsupported) {
    throw new Error(
      `HRNN kernel "${kernel}" cannot run this config: ${unsupported}. Use kernel "ops" or "auto".`,
    );
  }
  let fused: FusedUpdater | null = null;
  let gpu: WebGpuUpdater | null = null;
  /** The WGSL updater when this update should use it: webgpu backend, no gradient recorded. */
  function webgpuFor(sizes: number[]): WebGpuUpdater | null {
    if (kernel === "webgpu" && !webgpuFusedAvailable() && !recording()) {
      throw new Error(`HRNN kernel "webgpu" needs the webgpu backend (active: ${tf.getBackend()}).`);
    }
    if ((kernel !== "auto" && kernel !== "webgpu") || unsupported || sizes.some((n) => n === 0)) return null;
    if (!webgpuFusedAvailable()) return null;
    gpu ??= makeWebGpuUpdater(mp, config);
    return gpu;
  }
  let taped: TapedFusedUpdater | null = null;
  /** The engine an explicit or automatic fused choice runs on ("native" throws when it cannot load). */
  const engineChoice = () =>
    kernel === "native" || (kernel === "auto" && nativeKernelError() === null) ? "native" : "wasm";
  /** The differentiable fused updater when this update is recorded and should use it. */
  function tapedFor(sizes: number[]): TapedFusedUpdater | null {
    if (
      kernel === "ops" || kernel === "webgpu" || unsupported || sizes.some((n) => n === 0) || !recording()
    ) {
      return null;
    }
    const loadError = tf.getBackend() === "wasm" ? fusedLoadError() : null;
    if (tf.getBackend() !== "wasm" || loadError) {
      if (kernel === "fused" || kernel === "native") {
        throw new Error(
          loadError
            ? `HRNN kernel "${kernel}" cannot load: ${loadError.message}`
            : `HRNN kernel "${kernel}" needs the wasm backend (active: ${tf.getBackend()}); use kernel "auto" ` +
              "to fall back to tfjs ops.",
        );
      }
      return null;
    }
    taped ??= makeTapedFusedUpdater(mp, config, engineChoice());
    return taped;
  }
  /** The fused updater when this update should use it (see {@link HrnnOptions.kernel}). */
  function fusedFor(sizes: number[]): FusedUpdater | null {
    if (kernel === "ops" || kernel === "webgpu" || unsupported || sizes.some((n) => n === 0) || recording()) {
      return null;
    }
    if (!fusedAvailable()) {
      if (kernel === "fused" || kernel === "native") {
        const loadError = tf.getBackend() === "wasm" ? fusedLoadError() : null;
        throw new Error(
          loadError
            ? `HRNN kernel "${kernel}" cannot load: ${loadError.message}`
            : `HRNN kernel "${kernel}" needs the wasm backend (active: ${tf.getBackend()}); use kernel "auto" ` +
              "to fall back to tfjs ops.",
        );
      }
      return null;
    }
    if (!fused) {
      // "native" throws here with the reason when the library cannot load; "auto" falls back to wasm.
      fused = makeFusedUpdater(mp, config, engineChoice());
    }
    return fused;
  }

  function init(params: tf.Tensor[]): HrnnState {
    const logLrs = dos ? params.map((p) => initialLogLr(p.size, config, rng)) : [];
    return tf.tidy(() => {
      const zerosRows = (n: number) => Array.from({ length: k }, () => tf.zeros([1, n]) as tf.Tensor2D);
      const tensors = params.map((p, j) => {
        const n = p.size;
        // Broadcast add, not tf.tile: tfjs' Tile gradient runs one slice per repetition (1e5 slices at n = 1e5).
        const s: HrnnTensorState = {
          parameter: (config.learnableRnnInit
            ? tf.add(tf.zeros([n, n0]), mp["init/level0"])
            : tf.zeros([n, n0])) as tf.Tensor2D,
          scl_decay: tf.zeros([1, n]),
          inp_decay: tf.zeros([1, n]),
          grad_accum: zerosRows(n),
          ms: zerosRows(n),
        };
        if (levels >= 2) {
          s.layer =
            (config.learnableRnnInit ? tf.clone(mp["init/level1"]) : tf.zeros([1, sizes[1]])) as tf.Tensor2D;
        }
        if (dos) {
          s.log_learning_rate = tf.tensor2d(logLrs[j], [1, n]);
        }
        if (attention) {
          s.true_param = tf.clone(p);
        }
        return s;
      });
      const state: HrnnState = { tensors };
      if (levels >= 3) {
        state.global =
          (config.learnableRnnInit ? tf.clone(mp["init/level2"]) : tf.zeros([1, sizes[2]])) as tf.Tensor2D;
      }
      return state;
    });
  }

  /** Throws unless the gradients and parameters match the state's tensors. */
  function checkShapes(grads: tf.Tensor[], state: HrnnState, params: tf.Tensor[]): void {
    if (grads.length !== state.tensors.length || params.length !== state.tensors.length) {
      throw new Error(
        `HRNN update got ${grads.length} gradients and ${params.length} parameters for a state of ` +
          `${state.tensors.length} tensors; call init() with the same parameter list.`,
      );
    }
    grads.forEach((g, j) => {
      const n = state.tensors[j].scl_decay.shape[1];
      if (g.size !== n || params[j].size !== n) {
        throw new Error(
          `HRNN update: tensor ${j} has ${g.size} gradient / ${
            params[j].size
          } parameter entries, state has ${n}.`,
        );
      }
    });
  }

  /**
   * Several independent instances at once: while a gradient is recorded on the fused kernel, one kernel call
   * for every instance's tensors; otherwise one update per instance.
   */
  function updateInstances(grads: tf.Tensor[][], states: HrnnState[], params: tf.Tensor[][]) {
    states.forEach((s, b) => checkShapes(grads[b], s, params[b]));
    const counts = states.flatMap((s) => s.tensors.map((t) => t.scl_decay.shape[1]));
    const fastTaped = fusedFor(counts) ? null : tapedFor(counts);
    if (fastTaped) return fastTaped.updateInstances(grads, states, params);
    return states.map((s, b) => update(grads[b], s, params[b]));
  }

  function update(grads: tf.Tensor[], state: HrnnState, params: tf.Tensor[]) {
    checkShapes(grads, state, params);
    const counts = state.tensors.map((s) => s.scl_decay.shape[1]);
    const onGpu = webgpuFor(counts);
    if (onGpu) return onGpu.update(grads, state, params);
    const fast = fusedFor(counts);
    if (fast) return fast.update(grads, state, params);
    const fastTaped = tapedFor(counts);
    if (fastTaped) return fastTaped.update(grads, state, params);
    return tf.tidy(() => {
      // Weights derived once per step (tiny, differentiable).
      let gru0Prepared: BatchedGru | null = null;
      const gru0 = () => (gru0Prepared ??= prepareBatchedGru(levelGruWeights(mp, 0)));
      const wU = mp["readout/update_w"] as tf.Tensor2D;
      const wA = attention ? mp["readout/attention_w"] as tf.Tensor2D : null;
      const wGs = config.useGradientShortcut ? mp["shortcut/update"].reshape([k, 1]) : null;
      const wGsA = attention && config.useGradientShortcut ? mp["shortcut/attention"].reshape([k, 1]) : null;
      const wS = config.learnableDecay ? mp["readout/scl_decay_w"] as tf.Tensor2D : null;
      const wI = inpDecayLearned(config) ? mp["readout/inp_decay_w"] as tf.Tensor2D : null;
      const wL = dos ? mp["readout/lr_w"] as tf.Tensor2D : null;
      const lrMomentum = dos ? tf.sigmoid(mp["lr_momentum_logit"]) : null;
      const globalOld = state.global ?? null;
      const bias0Global = levels >= 3
        ? affineRow(globalOld!, mp["bias0/from_level2_w"], mp["bias0/from_level2_b"])
        : null;
      const bias1 = levels >= 3
        ? affineRow(globalOld!, mp["bias1/from_level2_w"], mp["bias1/from_level2_b"])
        : null;

      // Blocks of consecutive tensors processed together (see segments.ts); rows [1, n_j] concatenate to [1, N].
      const sizes = state.tensors.map((s) => s.scl_decay.shape[1]);
      const blocks = planBlocks(sizes, opts.maxBlockCoords ?? MAX_BLOCK_COORDS);
      const row = (blk: Block, get: (s: HrnnTensorState, j: number) => tf.Tensor2D): tf.Tensor2D => {
        const rows = blk.index.map((j) => get(state.tensors[j], j));
        return rows.length === 1 ? rows[0] : tf.concat(rows, 1);
      };
      /** K rows per tensor → [K, N]. */
      const stacked = (blk: Block, get: (s: HrnnTensorState) => tf.Tensor2D[]): tf.Tensor2D => {
        if (k === 1) return row(blk, (s) => get(s)[0]);
        if (blk.index.length === 1) return tf.concat(get(state.tensors[blk.index[0]]), 0);
        // Fewer ops: T concats of K rows then one along axis 1, or K concats of T rows then one along axis 0.
        if (blk.index.length < k) {
          return tf.concat(blk.index.map((j) => tf.concat(get(state.tensors[j]), 0)), 1);
        }
        return tf.concat(Array.from({ length: k }, (_, i) => row(blk, (s) => get(s)[i])), 0);
      };
      const logLrRows = dos ? blocks.map((b) => row(b, (s) => s.log_learning_rate!)) : [];

      // Step 0: μ_ℓ over all coordinates of all tensors (old ℓ).
      let problemLrMean: tf.Tensor | null = null;
      if (dos && config.useRelativeLr && config.useProblemLrMean) {
        const total = sizes.reduce((a, n) => a + n, 0);
        const sums = logLrRows.map((l) => tf.sum(l));
        problemLrMean = tf.div(sums.length === 1 ? sums[0] : tf.addN(sums), total);
      }

      const updates: tf.Tensor[] = new Array(sizes.length);
      const newTensors: HrnnTensorState[] = new Array(sizes.length);
      const newLayers: tf.Tensor2D[] = [];
      blocks.forEach((blk, b) => {
        const seg = makeSegments(blk);
        const t = blk.index.length;
        const nTot = blk.total;
        const g = row(blk, (_s, j) => grads[j].reshape([1, sizes[j]]) as tf.Tensor2D);
        const logLr = dos ? logLrRows[b] : undefined;
        // Steps 1–5. A large single tensor keeps its K timescales as separate rows (stacking them into a
        // [K, n] matrix would cost copies: a wasm slice reads back its whole input); a block of small tensors
        // stacks them so that each step is one op per block.
        const lrMean = config.useRelativeLr ? (problemLrMean ?? seg.expand(seg.meanRows(logLr!))) : undefined;
        let feats: { features: tf.Tensor2D; accum: tf.Tensor2D[][]; ms: tf.Tensor2D[][] };
        let shortcut: (w: tf.Tensor) => tf.Tensor;
        if (t === 1 && nTot > MAX_BLOCK_COORDS) {
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
          feats = { features: fr.features, accum: [fr.accum], ms: [fr.ms] };
          shortcut = (w) => tf.addN(fr.scaled.map((x, i) => tf.mul(x, tf.slice(w, [i, 0], [1, 1]))));
        } else {
          const fb = blockFeatures(
            {
              grad: g,
              accum: stacked(blk, (s) => s.grad_accum),
              ms: stacked(blk, (s) => s.ms),
              inpDecay: row(blk, (s) => s.inp_decay),
              sclDecay: row(blk, (s) => s.scl_decay),
              logLr,
              lrMean,
            },
            seg,
            config,
          );
          const toRows = (m: tf.Tensor2D): tf.Tensor2D[][] =>
            seg.split(m, 1).map((p) => (k === 1 ? [p] : tf.split(p, k, 0)) as tf.Tensor2D[]);
          feats = { features: fb.features, accum: toRows(fb.accum), ms: toRows(fb.ms) };
          shortcut = (w) => tf.sum(tf.mul(fb.scaled, w), 0, true);
        }
        // Step 6: level 0, biased by the OLD tensor and global states.
        const layersOld = levels >= 2
          ? (t === 1
            ? state.tensors[blk.index[0]].layer!
            : tf.concat(blk.index.map((j) => state.tensors[j].layer!), 0))
          : null;
        let bias0: tf.Tensor2D | null = null;
        if (layersOld) {
          bias0 = affineRow(layersOld, mp["bias0/from_level1_w"], mp["bias0/from_level1_b"]);
          if (bias0Global) bias0 = tf.add(bias0, bias0Global);
        }
        const hOld = t === 1
          ? state.tensors[blk.index[0]].parameter
          : tf.concat(blk.index.map((j) => state.tensors[j].parameter), 0);
        // Small blocks: the reference row form (fewest ops); a large tensor: the per-gate form (fast on wasm).
        const xT = tf.transpose(feats.features) as tf.Tensor2D;
        // (The batched form takes one bias row: a large block of several tensors, possible only with a
        // maxBlockCoords above the default, uses the grouped form.)
        const h0 = nTot > MAX_BLOCK_COORDS && (t === 1 || !bias0)
          ? biasGruCellBatched(gru0(), xT, hOld, bias0)
          : t === 1 || !bias0
          ? biasGruCell(levelGruWeights(mp, 0), xT, hOld, bias0)
          : biasGruCellGroups(levelGruWeights(mp, 0), xT, hOld, seg.oneHot(), bias0);
        // Readout h0'·w of a [N0, 1] weight as a row [1, N].
        const readout = (w: tf.Tensor2D) => matMul(h0, w).reshape([1, nTot]);
        // Step 7: level 1 on the tensor-means of [h0', z] (or of h0' alone when z holds only the K scaled grads).
        let h1: tf.Tensor2D | null = null;
        if (layersOld) {
          const meanH = seg.meanCoords(h0);
          const u1 = f > k
            ? tf.concat([meanH, tf.transpose(seg.meanRows(feats.features)) as tf.Tensor2D], 1)
            : meanH;
          h1 = biasGruCell(levelGruWeights(mp, 1), u1, layersOld, bias1);
        }
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
        const delta = direction(wU, wGs);
        // Step 9: decay readouts (used next step).
        const sclNew = wS
          ? tf.sigmoid(tf.add(readout(wS), mp["readout/scl_decay_b"]))
          : tf.fill([1, nTot], FIXED_SCL_DECAY);
        const inpNew = wI
          ? tf.sigmoid(tf.add(readout(wI), mp["readout/inp_decay_b"]))
          : tf.fill([1, nTot], FIXED_INP_DECAY);
        // Step 10: log learning rate.
        let eta: tf.Tensor | number = 1;
        let etaAttn: tf.Tensor | number = 1;
        let logLrNew: tf.Tensor | null = null;
        if (dos) {
          const proposed = tf.add(logLr!, tf.add(readout(wL!), mp["readout/lr_b"]));
          const clipped = straightThroughClip(proposed, MIN_LOG_LR, config.maxLogLr);
          logLrNew = tf.add(tf.mul(lrMomentum!, logLr!), tf.mul(tf.sub(1, lrMomentum!), clipped));
          eta = tf.exp(tf.add(clipped, mp["step_offset"]));
          if (attention) etaAttn = tf.exp(clipped);
        }
        // Step 11: parameter update (§5 with attention).
        const stepRow = tf.mul(eta, delta);
        const step = attention ? seg.split(stepRow, 1) : null;
        const attendedStep = attention ? seg.split(tf.mul(etaAttn, direction(wA!, wGsA)), 1) : null;
        const negStep = attention ? null : seg.split(tf.neg(stepRow), 1);
        // Step 12: new per-tensor states.
        const hNew = seg.split(h0, 0);
        const sclRows = seg.split(sclNew, 1);
        const inpRows = seg.split(inpNew, 1);
        const lrRows = logLrNew ? seg.split(logLrNew, 1) : null;
        const layerRows = h1 ? (t === 1 ? [h1] : tf.split(h1, t, 0) as tf.Tensor2D[]) : null;
        const accRows = feats.accum;
        const msRows = feats.ms;
        blk.index.forEach((j, q) => {
          const shape = params[j].shape;
          if (attention) {
            const trueOld = state.tensors[j].true_param!;
            const trueNew = tf.sub(trueOld, step![q].reshape(shape));
            const attended = tf.sub(trueOld, attendedStep![q].reshape(shape));
            updates[j] = tf.sub(attended, params[j]);
            newTensors[j] = { true_param: trueNew } as HrnnTensorState;
          } else {
            updates[j] = negStep![q].reshape(shape);
            newTensors[j] = {} as HrnnTensorState;
          }
          const ns = newTensors[j];
          ns.parameter = hNew[q] as tf.Tensor2D;
          ns.scl_decay = sclRows[q] as tf.Tensor2D;
          ns.inp_decay = inpRows[q] as tf.Tensor2D;
          ns.grad_accum = accRows[q];
          ns.ms = msRows[q];
          if (layerRows) ns.layer = layerRows[q];
          if (lrRows) ns.log_learning_rate = lrRows[q] as tf.Tensor2D;
        });
        if (layerRows) newLayers.push(...layerRows);
      });

      // Step 13: global RNN, no external bias.
      const newState: HrnnState = { tensors: newTensors };
      if (levels >= 3 && newLayers.length > 0) {
        const input = config.globalInput === "mean"
          ? (newLayers.length === 1
            ? newLayers[0]
            : tf.div(tf.addN(newLayers), newLayers.length)) as tf.Tensor2D
          : newLayers[newLayers.length - 1];
        newState.global = biasGruCell(levelGruWeights(mp, 2), input, globalOld!, null);
      } else if (globalOld) {
        newState.global = tf.clone(globalOld);
      }
      return { updates, state: newState };
    });
  }

  const opt: HrnnOptimizer = {
    name: opts.name ?? "hrnn",
    config,
    init,
    update,
    updateInstances,
  };
  if (attention) {
    opt.evalParams = (state: HrnnState) => state.tensors.map((s) => tf.clone(s.true_param!));
  }
  return opt;
}
