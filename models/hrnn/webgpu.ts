/**
 * The fused inference path of the HRNN update on the tfjs `webgpu` backend: the per-coordinate work of one
 * tensor runs as ONE WGSL compute shader (`webgpu_shader.ts`, the GPU counterpart of the WebAssembly / native
 * kernel of `fused.ts`), registered as the tfjs WebGPU kernel `LoptHrnnCoordsWebGPU`. Everything stays on
 * the GPU (no reads back): per tensor, one concat packs the per-coordinate rows, a few tiny ops build the
 * first-step indicators, μ_ℓ and the external bias, the shader writes every new state row and per-workgroup
 * partial sums into one packed output (tfjs WebGPU programs have one output and at most 7 inputs), slices
 * split it, and the tensor RNN, the RMS normalisation and the global RNN run as tfjs ops on the summed rows,
 * as on the ops path. Differentiable: the kernel's registered gradient runs the VJP shader (`webgpu_vjp.ts`),
 * so `makeHrnn` uses it on the webgpu backend whether or not a gradient is being recorded.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type HrnnConfig, inpDecayLearned, numFeatures } from "./config.ts";
import type { MetaParams } from "./meta_params.ts";
import type { HrnnState, HrnnTensorState, HrnnUpdateFn } from "./state.ts";
import { biasGruCell, levelGruWeights } from "./gru.ts";
import { registerKernelOnce } from "./engine.ts";
import { passKernel } from "./webgpu_program.ts";
import { registerWebGpuGradient } from "./webgpu_vjp.ts";
import { FUSED_LIMITS, kernelFlags, requireFusedSupport } from "./fused_abi.ts";
import { rowCounts, type ShaderConfig, sumsWidth, weightLayout, WORKGROUP } from "./webgpu_shader.ts";

/**
 * Name of the registered tfjs WebGPU kernel.
 *
 * @example
 * ```ts
 * const registered = tf.getKernel(WEBGPU_KERNEL_NAME, "webgpu") !== undefined;
 * ```
 */
export const WEBGPU_KERNEL_NAME = "LoptHrnnCoordsWebGPU";

/**
 * The WGSL pass's limits: the same as the wasm kernel's (`FUSED_LIMITS`).
 *
 * @example
 * ```ts
 * const fits = (n0: number) => n0 <= WEBGPU_LIMITS.maxN0;
 * ```
 */
export const WEBGPU_LIMITS = FUSED_LIMITS;

/**
 * Whether the WGSL pass can run now: the active backend is webgpu (recording a gradient or not).
 *
 * @example
 * ```ts
 * if (webgpuFusedAvailable()) console.log("HRNN updates run as one WGSL pass per tensor");
 * ```
 */
export function webgpuFusedAvailable(): boolean {
  return tf.getBackend() === "webgpu";
}

/**
 * The WebGPU fused update of one HRNN optimizer.
 *
 * @example
 * ```ts
 * const upd: WebGpuUpdater = makeWebGpuUpdater(meta, config);
 * ```
 */
export interface WebGpuUpdater {
  /** One update, same inputs and outputs as the ops path. Call only when {@link webgpuFusedAvailable}. */
  update: HrnnUpdateFn;
}

/**
 * The meta-parameter block W (see `weightLayout`): one concat of the meta-parameters, built in each
 * update's tidy (no tensor outlives an update, and a replaced meta-parameter is picked up at once).
 */
function weightBlock(mp: MetaParams, config: HrnnConfig, total: number): tf.Tensor1D {
  const n0 = config.levelSizes[0];
  const k = config.numGradientScales;
  const dos = config.dynamicOutputScale;
  const flat = (name: string) => mp[name].reshape([-1]);
  const zeros = (len: number) => tf.zeros([len]);
  const scalar = (name: string, use: boolean) => (use ? flat(name) : zeros(1));
  const w = tf.concat([
    tf.tensor1d([config.maxLogLr]),
    scalar("step_offset", dos),
    dos ? tf.sigmoid(flat("lr_momentum_logit")) : zeros(1),
    scalar("readout/scl_decay_b", config.learnableDecay),
    scalar("readout/inp_decay_b", inpDecayLearned(config)),
    scalar("readout/lr_b", dos),
    flat("gru0/gates_w"),
    flat("gru0/gates_b"),
    flat("gru0/cand_w"),
    flat("gru0/cand_b"),
    flat("readout/update_w"),
    config.learnableDecay ? flat("readout/scl_decay_w") : zeros(n0),
    inpDecayLearned(config) ? flat("readout/inp_decay_w") : zeros(n0),
    dos ? flat("readout/lr_w") : zeros(n0),
    config.useGradientShortcut ? flat("shortcut/update") : zeros(k),
  ]) as tf.Tensor1D;
  if (w.size !== total) {
    throw new Error(
      `HRNN WebGPU kernel: meta-parameter block of ${w.size} floats, expected ${total}`,
    );
  }
  return w;
}

/**
 * Builds the WebGPU fused updater for meta-parameters and a config it supports (the same as the wasm
 * kernel's: check `fusedUnsupportedReason` first).
 *
 * @example
 * ```ts
 * const upd = makeWebGpuUpdater(meta, config);
 * const { updates, state: next } = upd.update(grads, state, params);
 * ```
 */
export function makeWebGpuUpdater(mp: MetaParams, config: HrnnConfig): WebGpuUpdater {
  requireFusedSupport(config, "WebGPU");
  registerKernelOnce({
    kernelName: WEBGPU_KERNEL_NAME,
    backendName: "webgpu",
    kernelFunc: passKernel(false),
  });
  registerWebGpuGradient(WEBGPU_KERNEL_NAME);
  const sizes = config.levelSizes;
  const levels = sizes.length;
  const n0 = sizes[0];
  const k = config.numGradientScales;
  const f = numFeatures(config);
  const dos = config.dynamicOutputScale;
  const shader: ShaderConfig = { k, n0, f, flags: kernelFlags(config) };
  const layout = weightLayout(shader);
  const { outRows } = rowCounts(shader);
  const S = sumsWidth(shader);
  const affineRow = (x: tf.Tensor, name: string) =>
    tf.add(tf.matMul(x as tf.Tensor2D, mp[`${name}_w`] as tf.Tensor2D), mp[`${name}_b`]) as tf.Tensor2D;

  /**
   * Runs the shader on one tensor: packs its rows (X), the first-step indicators, μ_ℓ and the external
   * level-0 bias (V), and returns the packed output.
   */
  function runPass(
    ts: HrnnTensorState,
    grad: tf.Tensor,
    n: number,
    w: tf.Tensor1D,
    problemLrMean: tf.Tensor | null,
    bias0Global: tf.Tensor2D | null,
  ): tf.Tensor1D {
    const rows: tf.Tensor[] = [grad.reshape([1, n]), ts.inp_decay, ts.scl_decay];
    if (dos) rows.push(ts.log_learning_rate!);
    rows.push(...ts.grad_accum, ...ts.ms);
    const x = tf.concat(rows, 0);
    // §2.3 first-step rule per timescale: sign(max |ms|) (0 while ms is all zero).
    const nz = tf.sign(tf.max(tf.abs(k === 1 ? ts.ms[0] : tf.concat(ts.ms, 0)), 1));
    const lrMean = dos && config.useRelativeLr
      ? (problemLrMean ?? tf.mean(ts.log_learning_rate!)).reshape([1])
      : tf.zeros([1]);
    let bias0: tf.Tensor = tf.zeros([1, 3 * n0]);
    if (ts.layer && levels >= 2) bias0 = affineRow(ts.layer, "bias0/from_level1");
    if (bias0Global) bias0 = tf.add(bias0, bias0Global);
    const v = tf.concat([lrMean, nz, bias0.reshape([3 * n0])]);
    return tf.engine().runKernel(
      WEBGPU_KERNEL_NAME,
      { X: x, H: ts.parameter, W: w, V: v },
      { ...shader, n },
    ) as tf.Tensor1D;
  }

  function update(grads: tf.Tensor[], state: HrnnState, params: tf.Tensor[]) {
    return tf.tidy(() => {
      const w = weightBlock(mp, config, layout.total);
      const counts = state.tensors.map((t) => t.scl_decay.shape[1]);
      const globalOld = state.global ?? null;
      const bias0Global = globalOld && levels >= 3 ? affineRow(globalOld, "bias0/from_level2") : null;
      const bias1 = globalOld && levels >= 3 ? affineRow(globalOld, "bias1/from_level2") : null;
      let problemLrMean: tf.Tensor | null = null;
      if (dos && config.useRelativeLr && config.useProblemLrMean) {
        const total = counts.reduce((a, c) => a + c, 0);
        problemLrMean = tf.div(tf.addN(state.tensors.map((t) => tf.sum(t.log_learning_rate!))), total);
      }
      const updates: tf.Tensor[] = [];
      const newTensors: HrnnTensorState[] = [];
      const newLayers: tf.Tensor2D[] = [];
      state.tensors.forEach((ts, j) => {
        const n = counts[j];
        const out = runPass(ts, grads[j], n, w, problemLrMean, bias0Global);
        const rowAt = (r: number) => tf.slice(out, [n * n0 + r * n], [n * 1]).reshape([1, n]) as tf.Tensor2D;
        const groups = Math.ceil(n / WORKGROUP);
        const sums = tf.sum(tf.slice(out, [n * n0 + outRows * n], [groups * S]).reshape([groups, S]), 0);
        const ns: HrnnTensorState = {
          parameter: tf.slice(out, [0], [n * n0]).reshape([n, n0]) as tf.Tensor2D,
          scl_decay: rowAt(0),
          inp_decay: rowAt(1),
          grad_accum: Array.from({ length: k }, (_, i) => rowAt(3 + i)),
          ms: Array.from({ length: k }, (_, i) => rowAt(3 + k + i)),
        };
        if (dos) ns.log_learning_rate = rowAt(3 + 2 * k);
        const means = tf.div(sums, n).reshape([1, S]);
        // Step 7: tensor RNN on the coordinate means of [h0', z] (of h0' alone when z is the K scaled grads).
        if (ts.layer && levels >= 2) {
          const u1 = tf.slice(means, [0, 0], [1, f > k ? n0 + f : n0]) as tf.Tensor2D;
          const h1 = biasGruCell(levelGruWeights(mp, 1), u1, ts.layer, bias1);
          ns.layer = h1;
          newLayers.push(h1);
        }
        // Step 8: RMS normalisation of the direction; the shader wrote η·d, the update is −η·d / rms(d).
        const step = rowAt(2);
        const scale = dos
          ? tf.neg(tf.rsqrt(tf.add(tf.slice(means, [0, S - 1], [1, 1]), 1e-16)))
          : tf.scalar(-1);
        updates.push(tf.mul(step, scale).reshape(params[j].shape));
        newTensors.push(ns);
      });
      // Step 13: global RNN.
      const newState: HrnnState = { tensors: newTensors };
      if (globalOld && levels >= 3) {
        const input = config.globalInput === "mean"
          ? tf.div(tf.addN(newLayers), newLayers.length) as tf.Tensor2D
          : newLayers[newLayers.length - 1];
        newState.global = biasGruCell(levelGruWeights(mp, 2), input, globalOld, null);
      }
      return { updates, state: newState };
    });
  }

  return { update };
}
