/**
 * The differentiable fused HRNN update, for meta-training on the tfjs `wasm` backend: the per-coordinate work
 * of ALL parameter tensors of one update (§4.7 steps 1–6 and 8–10, the pass of `kernel/hrnn_coords.c`) is ONE
 * tfjs kernel with a registered gradient (`taped_kernel.ts`), whose backward is the hand-written
 * vector-Jacobian product of the pass (`kernel/hrnn_vjp_body.h`), so the gradient tape records one node for it
 * instead of ~150 per block of tensors. The few per-tensor and global parts stay outside it on [T, …] rows, so
 * gradients flow through them: the external level-0 bias (tensor- and global-state affines, tfjs ops), the
 * tensor RNN on the per-tensor means and the global RNN (one `small_gru.ts` kernel each), and the RMS
 * normalisation of the step (update = −step / √(Σd²/n + 1e-16), tfjs ops).
 *
 * Engines: `"wasm"` (the kernel module of `fused_instance.ts`) or `"native"` (the x86-64 libraries of
 * `native.ts`; every tensor they touch is bounds-checked against the heap first).
 *
 * @example
 * ```ts
 * import { makeTapedFusedUpdater } from "./fused_taped.ts";
 * const upd = makeTapedFusedUpdater(meta, config);
 * const { value, grads } = tf.variableGrads(() => lossAfter(upd.update(grads, state, params)));
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { UpdateResult } from "../../lib/optimizer.ts";
import { type HrnnConfig, level1InputSize } from "./config.ts";
import { type FusedEngine, requireFusedSupport } from "./fused_abi.ts";
import { levelGruWeights } from "./gru.ts";
import { smallGruCell } from "./small_gru.ts";
import type { MetaParams } from "./meta_params.ts";
import type { HrnnState, HrnnTensorState, HrnnUpdateFn } from "./state.ts";
import { nativeKernel } from "./native.ts";
import { type TapedAttrs, tapedKernelName, tapedRegistration } from "./taped_kernel.ts";
import { layoutOf } from "./taped_layout.ts";

/**
 * The differentiable fused update of one HRNN optimizer.
 *
 * @example
 * ```ts
 * const [a, b] = makeTapedFusedUpdater(meta, config).updateInstances([ga, gb], [sa, sb], [pa, pb]);
 * ```
 */
export interface TapedFusedUpdater {
  /** One update, same inputs, outputs and gradients as the ops path (wasm backend). */
  update: HrnnUpdateFn;
  /**
   * Updates B independent problem instances in one kernel call (all their tensors) and one set of small ops
   * (tensor and global RNNs over every instance's rows), with the same results as `update` on each.
   */
  updateInstances(
    grads: tf.Tensor[][],
    states: HrnnState[],
    params: tf.Tensor[][],
  ): UpdateResult<HrnnState>[];
}

/** Rows [1, d] → [R, d] (one op for more than one row). */
const rows = (xs: tf.Tensor2D[]) => (xs.length === 1 ? xs[0] : tf.concat(xs, 0) as tf.Tensor2D);
/** Splits [R, d] into R rows (no op for one row). */
const split = (x: tf.Tensor2D, r: number) => (r === 1 ? [x] : tf.split(x, r, 0) as tf.Tensor2D[]);

/** The kernel's per-tensor and weight inputs (see `taped_kernel.ts`). */
function kernelInputs(
  mp: MetaParams,
  config: HrnnConfig,
  tensors: HrnnTensorState[],
  grads: tf.Tensor[],
): tf.NamedTensorMap {
  const { k, dos, weights } = layoutOf(config);
  const inputs: tf.NamedTensorMap = {};
  tensors.forEach((s, j) => {
    inputs[`g${j}`] = grads[j];
    inputs[`h${j}`] = s.parameter;
    inputs[`inp${j}`] = s.inp_decay;
    inputs[`scl${j}`] = s.scl_decay;
    if (dos) inputs[`lr${j}`] = s.log_learning_rate!;
    for (let i = 0; i < k; i++) {
      inputs[`a${j}_${i}`] = s.grad_accum[i];
      inputs[`m${j}_${i}`] = s.ms[i];
    }
  });
  weights.forEach((w, q) => (inputs[`w${q}`] = mp[w.name]));
  return inputs;
}

/**
 * The external biases from the old states: level 0's [T, 3N0] (from the tensor and global states) and level
 * 1's [T, 3N1] (from the global state, with 3 levels). `perTensor` maps per-instance rows to per-tensor rows.
 */
function externalBiases(
  mp: MetaParams,
  layersOld: tf.Tensor2D,
  globalOld: tf.Tensor2D | null,
  perTensor: (x: tf.Tensor2D) => tf.Tensor2D,
): { bias0: tf.Tensor; bias1: tf.Tensor2D | null } {
  let bias0 = tf.add(
    tf.matMul(layersOld, mp["bias0/from_level1_w"] as tf.Tensor2D),
    mp["bias0/from_level1_b"],
  );
  let bias1: tf.Tensor2D | null = null;
  if (globalOld) {
    bias0 = tf.add(
      bias0,
      perTensor(
        tf.add(
          tf.matMul(globalOld, mp["bias0/from_level2_w"] as tf.Tensor2D),
          mp["bias0/from_level2_b"],
        ) as tf.Tensor2D,
      ),
    );
    bias1 = perTensor(
      tf.add(
        tf.matMul(globalOld, mp["bias1/from_level2_w"] as tf.Tensor2D),
        mp["bias1/from_level2_b"],
      ) as tf.Tensor2D,
    );
  }
  return { bias0, bias1 };
}

/** [B, T] matrix whose row b averages instance b's `counts[b]` consecutive tensors. */
function instanceMeans(counts: number[]): tf.Tensor2D {
  const t = counts.reduce((a, c) => a + c, 0);
  const m = new Float32Array(counts.length * t);
  let at = 0;
  counts.forEach((c, b) => {
    for (let j = 0; j < c; j++) m[b * t + at + j] = 1 / c;
    at += c;
  });
  return tf.tensor2d(m, [counts.length, t]);
}

/**
 * Step 13's input of every instance: its last tensor's new level-1 state, or with `globalInput: "mean"` the
 * mean over its tensors.
 */
function globalInputs(
  config: HrnnConfig,
  states: HrnnState[],
  h1: tf.Tensor2D,
  layerRows: tf.Tensor2D[],
): tf.Tensor2D {
  const inst = states.length;
  const t = layerRows.length;
  const first: number[] = [];
  states.forEach((_, b) => first.push(b === 0 ? 0 : first[b - 1] + states[b - 1].tensors.length));
  if (config.globalInput === "mean") {
    return inst === 1
      ? (t === 1 ? layerRows[0] : tf.div(tf.addN(layerRows), t)) as tf.Tensor2D
      : tf.matMul(instanceMeans(states.map((s) => s.tensors.length)), h1);
  }
  return inst === 1
    ? layerRows[t - 1]
    : tf.gather(h1, states.map((s, b) => first[b] + s.tensors.length - 1)) as tf.Tensor2D;
}

/** The new per-tensor state from tensor j's kernel outputs `o` (h', scl', inp', ℓ', step, a'…, ms'…). */
function tensorState(o: tf.Tensor[], k: number, dos: boolean, layer: tf.Tensor2D | null): HrnnTensorState {
  const perTensor = o.length;
  const ns: HrnnTensorState = {
    parameter: o[0] as tf.Tensor2D,
    scl_decay: o[1] as tf.Tensor2D,
    inp_decay: o[2] as tf.Tensor2D,
    grad_accum: o.slice(perTensor - 2 * k, perTensor - k) as tf.Tensor2D[],
    ms: o.slice(perTensor - k) as tf.Tensor2D[],
  };
  if (dos) ns.log_learning_rate = o[3] as tf.Tensor2D;
  if (layer) ns.layer = layer;
  return ns;
}

/**
 * Builds the differentiable fused updater for meta-parameters and a config the kernel supports (check
 * `fusedUnsupportedReason` first), running the pass and its VJP on `engine` ("native": throws when the native
 * library cannot load).
 *
 * @example
 * ```ts
 * const upd = makeTapedFusedUpdater(meta, config, "wasm");
 * const { updates, state: next } = upd.update(grads, state, params);
 * ```
 */
export function makeTapedFusedUpdater(
  mp: MetaParams,
  config: HrnnConfig,
  engine: FusedEngine = "wasm",
): TapedFusedUpdater {
  requireFusedSupport(config, "fused");
  if (engine === "native") nativeKernel();
  const lay = layoutOf(config);
  const levels = config.levelSizes.length;
  const { n0, f, k, dos } = lay;

  function updateInstances(gradsOf: tf.Tensor[][], states: HrnnState[], paramsOf: tf.Tensor[][]) {
    return tf.tidy(() => {
      const inst = states.length;
      // The instances' tensors, in order, as one update of T tensors; `groups` says whose each one is.
      const tensors = states.flatMap((s) => s.tensors);
      const params = paramsOf.flat();
      const groups = states.flatMap((s, b) => s.tensors.map(() => b));
      const t = tensors.length;
      const ns = tensors.map((s) => s.scl_decay.shape[1]);
      const name = tapedKernelName(config, t);
      const reg = tapedRegistration(name);
      const attrs: TapedAttrs = { engine, maxLogLr: config.maxLogLr };
      if (inst > 1) attrs.groups = groups;
      const globalOld = levels >= 3 ? rows(states.map((s) => s.global!)) : null;
      const layersOld = levels >= 2 ? rows(tensors.map((s) => s.layer!)) : null;
      /** Per-instance rows [B, d] → per-tensor rows [T, d]. */
      const perTensor = (x: tf.Tensor2D) => (inst === 1 ? x : tf.gather(x, groups) as tf.Tensor2D);
      const inputs = kernelInputs(mp, config, tensors, gradsOf.flat());
      let bias1: tf.Tensor2D | null = null;
      if (layersOld) {
        const biases = externalBiases(mp, layersOld, globalOld, perTensor);
        inputs.bias = biases.bias0;
        bias1 = biases.bias1;
      }
      const outs = tf.engine().runKernel(name, inputs, attrs) as tf.Tensor[];
      const sums = outs[outs.length - 1] as tf.Tensor2D;
      const invN = tf.tensor2d(ns.map((n) => 1 / n), [t, 1]);
      // Step 7: level 1 on the tensor-means of [h0', z] (or of h0' alone when z holds only the K scaled grads).
      let h1: tf.Tensor2D | null = null;
      let layerRows: tf.Tensor2D[] | null = null;
      if (layersOld) {
        const u1 = tf.mul(tf.slice(sums, [0, 0], [t, level1InputSize(config)]), invN) as tf.Tensor2D;
        h1 = smallGruCell(levelGruWeights(mp, 1), u1, layersOld, bias1);
        layerRows = split(h1, t);
      }
      // Step 8: RMS normalisation of the direction (the kernel's step is η·d); update = −step / rms(d).
      let scales: tf.Tensor[] | null = null;
      if (dos) {
        const meanD2 = tf.mul(tf.slice(sums, [0, n0 + f], [t, 1]), invN);
        scales = split(tf.neg(tf.rsqrt(tf.add(meanD2, 1e-16))) as tf.Tensor2D, t);
      }
      const updates: tf.Tensor[] = [];
      const newTensors: HrnnTensorState[] = tensors.map((_, j) => {
        const o = outs.slice(j * reg.perTensor, (j + 1) * reg.perTensor);
        const step = o[dos ? 4 : 3];
        updates.push((scales ? tf.mul(step, scales[j]) : tf.neg(step)).reshape(params[j].shape));
        return tensorState(o, k, dos, layerRows ? layerRows[j] : null);
      });
      // Step 13: global RNN of every instance, no external bias.
      let globals: tf.Tensor2D[] | null = null;
      if (levels >= 3 && h1) {
        const input = globalInputs(config, states, h1, layerRows!);
        globals = split(smallGruCell(levelGruWeights(mp, 2), input, globalOld!, null), inst);
      }
      let at = 0;
      return states.map((s, b) => {
        const tb = s.tensors.length;
        const state: HrnnState = { tensors: newTensors.slice(at, at + tb) };
        if (globals) state.global = globals[b];
        const u = updates.slice(at, at + tb);
        at += tb;
        return { updates: u, state };
      });
    });
  }
  return {
    update: (grads, state, params) => updateInstances([grads], [state], [params])[0],
    updateInstances,
  };
}
