/**
 * The fused inference path of the HRNN update on the tfjs `wasm` backend: the per-coordinate work of one
 * tensor (features, parameter GRU, readouts, new state) runs as ONE WebAssembly SIMD pass
 * (`kernel/hrnn_coords.c`, argument block in `fused_abi.ts`) that reads the state tensors and writes the new
 * ones in place on the tfjs heap (`fused_instance.ts`); the tiny tensor-level and global RNNs run in plain
 * TypeScript (`plain_gru.ts`) on the sums that pass returns. Same results as the ops path of `update.ts` to
 * float32 rounding (tested), several times faster, but not differentiable: `makeHrnn` uses it when no gradient
 * is being recorded (`kernel: "auto"`); while one is, it uses the differentiable form of the same pass,
 * `fused_taped.ts`.
 *
 * Two engines run that pass: `"wasm"` (the kernel module) and `"native"` (the same C compiled for x86-64 and
 * loaded through Deno's FFI by `native.ts`, about four times as fast with AVX-512; it works on the same heap
 * through the bytes of `memory.buffer`, after checking that every tensor it touches lies inside that heap).
 *
 * Meta-parameters are read once (a snapshot) and read again only when one of the meta-parameter tensors changes
 * identity (e.g. `tf.Variable.assign`).
 *
 * @example
 * ```ts
 * import { makeFusedUpdater } from "./fused.ts";
 * const { update } = makeFusedUpdater(meta, config); // wasm backend, no gradient recorded
 * const { updates, state: next } = update(grads, state, params);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type HrnnConfig, inpDecayLearned, level1InputSize, numFeatures } from "./config.ts";
import type { MetaParams } from "./meta_params.ts";
import type { HrnnState, HrnnTensorState, HrnnUpdateFn } from "./state.ts";
import { registerKernelOnce } from "./engine.ts";
import { ARG_BLOCK, type FusedEngine, kernelFlags, requireFusedSupport } from "./fused_abi.ts";
import { checkInHeap, type Instance, instanceFor, offsetOf } from "./fused_instance.ts";
import { affine, gruStepJs, type JsAffine, type JsGru, sigmoid } from "./plain_gru.ts";
import { type NativeKernel, nativeKernel } from "./native.ts";

const KERNEL_NAME = "LoptHrnnCoords";
const { floats: A_FLOATS, sums: A_SUMS, acc: A_ACC } = ARG_BLOCK;

/** Per-call request handed to the registered kernel through a module variable (tfjs attrs are plain data). */
let pending:
  | { inst: Instance; n: number; k: number; n0: number; dos: boolean; native: NativeKernel | null }
  | null = null;

/** The registered kernel: allocates the outputs, fills in their pointers and runs the pass of `pending`. */
const coordsKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const req = pending;
  if (!req) throw new Error(`${KERNEL_NAME} is internal to models/hrnn/fused.ts`);
  const b = backend as Instance["backend"];
  const { n, k, n0, dos } = req;
  // Outputs first (allocation may grow the heap), pointers afterwards.
  const outH = b.makeOutput([n, n0], "float32");
  const row = () => b.makeOutput([1, n], "float32");
  const outScl = row(), outInp = row(), outLr = dos ? row() : null, outStep = row();
  const outAcc = Array.from({ length: k }, row);
  const outMs = Array.from({ length: k }, row);
  const ints = new Int32Array(req.inst.memory.buffer, req.inst.scratch, A_FLOATS);
  const ptr = (t: tf.TensorInfo | undefined | null) => (t ? offsetOf(b, t) : 0);
  ints[0] = n;
  ints[5] = ptr(inputs.grad);
  ints[6] = ptr(inputs.parameter);
  ints[7] = ptr(inputs.inpDecay);
  ints[8] = ptr(inputs.sclDecay);
  ints[9] = ptr(inputs.logLr);
  ints[10] = ptr(outH);
  ints[11] = ptr(outScl);
  ints[12] = ptr(outInp);
  ints[13] = ptr(outLr);
  ints[14] = ptr(outStep);
  for (let i = 0; i < k; i++) {
    ints[A_ACC + i] = ptr(inputs[`accum${i}`]);
    ints[A_ACC + k + i] = ptr(inputs[`ms${i}`]);
    ints[A_ACC + 2 * k + i] = ptr(outAcc[i]);
    ints[A_ACC + 3 * k + i] = ptr(outMs[i]);
  }
  if (req.native) {
    const heap = new Uint8Array(req.inst.memory.buffer);
    const ins = [inputs.grad, inputs.inpDecay, inputs.sclDecay, ...(dos ? [inputs.logLr] : [])];
    for (let i = 0; i < k; i++) ins.push(inputs[`accum${i}`], inputs[`ms${i}`]);
    for (const t of [...ins, outScl, outInp, outStep, ...(outLr ? [outLr] : []), ...outAcc, ...outMs]) {
      checkInHeap(b, t, n, heap.length);
    }
    checkInHeap(b, inputs.parameter, n * n0, heap.length);
    checkInHeap(b, outH, n * n0, heap.length);
    req.native.run(heap, req.inst.scratch);
  } else {
    req.inst.exports.__stack_pointer.value = req.inst.scratch;
    req.inst.exports.hrnn_coords(req.inst.scratch);
  }
  const outs = [outH, outScl, outInp, outStep, ...outAcc, ...outMs];
  if (outLr) outs.push(outLr);
  return outs;
};

/** Meta-parameters as plain arrays, plus the level-0 float block layout. */
interface Snapshot {
  ids: object[];
  gru0: JsGru;
  gru1: JsGru | null;
  gru2: JsGru | null;
  bias0L1: JsAffine | null;
  bias0L2: JsAffine | null;
  bias1L2: JsAffine | null;
  /** wU, wS, wI, wL, wGs, concatenated as the kernel reads them. */
  readouts: Float32Array;
  bScl: number;
  bInp: number;
  bLr: number;
  lrMomentum: number;
  stepOffset: number;
}

/** A reader of the meta-parameters as a {@link Snapshot}, read again only when a tensor changes identity. */
function snapshotReader(mp: MetaParams, config: HrnnConfig): () => Snapshot {
  const sizes = config.levelSizes;
  const levels = sizes.length;
  const n0 = sizes[0];
  const k = config.numGradientScales;
  const dos = config.dynamicOutputScale;
  const names = Object.keys(mp).sort();
  let snap: Snapshot | null = null;
  const arr = (name: string) => mp[name].dataSync() as Float32Array;
  const gru = (l: number): JsGru => ({
    gatesW: arr(`gru${l}/gates_w`),
    gatesB: arr(`gru${l}/gates_b`),
    candW: arr(`gru${l}/cand_w`),
    candB: arr(`gru${l}/cand_b`),
    units: sizes[l],
  });
  const aff = (name: string): JsAffine => ({ w: arr(`${name}_w`), b: arr(`${name}_b`) });
  return () => {
    const ids = names.map((nm) => mp[nm].dataId);
    if (snap && snap.ids.every((id, i) => id === ids[i])) return snap;
    const readouts = new Float32Array(4 * n0 + k);
    readouts.set(arr("readout/update_w"), 0);
    if (config.learnableDecay) readouts.set(arr("readout/scl_decay_w"), n0);
    if (inpDecayLearned(config)) readouts.set(arr("readout/inp_decay_w"), 2 * n0);
    if (dos) readouts.set(arr("readout/lr_w"), 3 * n0);
    if (config.useGradientShortcut) readouts.set(arr("shortcut/update"), 4 * n0);
    const scalar = (name: string, use: boolean) => (use ? arr(name)[0] : 0);
    snap = {
      ids,
      gru0: gru(0),
      gru1: levels >= 2 ? gru(1) : null,
      gru2: levels >= 3 ? gru(2) : null,
      bias0L1: levels >= 2 ? aff("bias0/from_level1") : null,
      bias0L2: levels >= 3 ? aff("bias0/from_level2") : null,
      bias1L2: levels >= 3 ? aff("bias1/from_level2") : null,
      readouts,
      bScl: scalar("readout/scl_decay_b", config.learnableDecay),
      bInp: scalar("readout/inp_decay_b", inpDecayLearned(config)),
      bLr: scalar("readout/lr_b", dos),
      lrMomentum: dos ? sigmoid(arr("lr_momentum_logit")[0]) : 0,
      stepOffset: scalar("step_offset", dos),
    };
    return snap;
  };
}

/** Writes the float block of one tensor's pass: scalars, first-step indicators, biased GRU weights, readouts. */
function fillFloatBlock(
  fl: Float32Array,
  s: Snapshot,
  config: HrnnConfig,
  lrMean: number,
  nz: (i: number) => number,
  bias0: Float64Array,
): void {
  const k = config.numGradientScales;
  const n0 = config.levelSizes[0];
  const d0 = numFeatures(config) + n0;
  fl[0] = lrMean;
  fl[1] = config.maxLogLr;
  fl[2] = s.stepOffset;
  fl[3] = s.lrMomentum;
  fl[4] = s.bScl;
  fl[5] = s.bInp;
  fl[6] = s.bLr;
  for (let i = 0; i < k; i++) fl[7 + i] = nz(i);
  let o = 7 + k;
  fl.set(s.gru0.gatesW, o);
  o += d0 * 2 * n0;
  for (let i = 0; i < 2 * n0; i++) fl[o + i] = s.gru0.gatesB[i] + bias0[i];
  o += 2 * n0;
  fl.set(s.gru0.candW, o);
  o += d0 * n0;
  for (let i = 0; i < n0; i++) fl[o + i] = s.gru0.candB[i] + bias0[2 * n0 + i];
  o += n0;
  fl.set(s.readouts, o);
}

/** The kernel's named inputs for one tensor's state and gradient. */
function coordsInputs(grad: tf.Tensor, ts: HrnnTensorState, k: number, dos: boolean): tf.NamedTensorMap {
  const inputs: tf.NamedTensorMap = {
    grad,
    parameter: ts.parameter,
    inpDecay: ts.inp_decay,
    sclDecay: ts.scl_decay,
  };
  if (dos) inputs.logLr = ts.log_learning_rate!;
  for (let i = 0; i < k; i++) {
    inputs[`accum${i}`] = ts.grad_accum[i];
    inputs[`ms${i}`] = ts.ms[i];
  }
  return inputs;
}

/** The new per-tensor state from the kernel's outputs (h', scl', inp', step, a'…, ms'…, ℓ'). */
function stateFromOutputs(outs: tf.Tensor[], k: number, dos: boolean): HrnnTensorState {
  const [hNew, sclNew, inpNew] = outs;
  const ns: HrnnTensorState = {
    parameter: hNew as tf.Tensor2D,
    scl_decay: sclNew as tf.Tensor2D,
    inp_decay: inpNew as tf.Tensor2D,
    grad_accum: outs.slice(4, 4 + k) as tf.Tensor2D[],
    ms: outs.slice(4 + k, 4 + 2 * k) as tf.Tensor2D[],
  };
  if (dos) ns.log_learning_rate = outs[4 + 2 * k] as tf.Tensor2D;
  return ns;
}

/** Step 13 on plain arrays: the global RNN on the last (or mean) new level-1 state. */
function globalStep(config: HrnnConfig, gru2: JsGru, newLayers: Float32Array[], global: ArrayLike<number>) {
  let input: ArrayLike<number> = newLayers[newLayers.length - 1];
  if (config.globalInput === "mean") {
    const m = new Float64Array(config.levelSizes[1]);
    for (const l of newLayers) for (let i = 0; i < m.length; i++) m[i] += l[i] / newLayers.length;
    input = m;
  }
  return gruStepJs(gru2, input, global, null);
}

/**
 * The fused update of one HRNN optimizer (see the module doc).
 *
 * @example
 * ```ts
 * const upd: FusedUpdater = makeFusedUpdater(meta, config);
 * ```
 */
export interface FusedUpdater {
  /** One update, same inputs and outputs as the ops path. Call only when `fusedAvailable()` is true. */
  update: HrnnUpdateFn;
}

/**
 * Builds the fused updater for meta-parameters and a config the kernel supports (check
 * {@link fusedUnsupportedReason} first), running the pass on `engine` ("native": throws when the native
 * library cannot load, see `native.ts`).
 *
 * @example
 * ```ts
 * const upd = makeFusedUpdater(meta, config, nativeKernelError() === null ? "native" : "wasm");
 * const { updates, state: next } = upd.update(grads, state, params);
 * ```
 */
export function makeFusedUpdater(
  mp: MetaParams,
  config: HrnnConfig,
  engine: FusedEngine = "wasm",
): FusedUpdater {
  requireFusedSupport(config, "fused");
  const native = engine === "native" ? nativeKernel() : null;
  registerKernelOnce({ kernelName: KERNEL_NAME, backendName: "wasm", kernelFunc: coordsKernel });
  const sizes = config.levelSizes;
  const n0 = sizes[0];
  const k = config.numGradientScales;
  const f = numFeatures(config);
  const dos = config.dynamicOutputScale;
  const snapshot = snapshotReader(mp, config);
  const flags = kernelFlags(config);
  const d0 = f + n0;
  const weightFloats = d0 * 2 * n0 + 2 * n0 + d0 * n0 + n0;
  const floatCount = 7 + k + weightFloats + 4 * n0 + k;
  const sumsOffsetBytes = ((A_FLOATS + floatCount) * 4 + 7) & ~7;

  function update(grads: tf.Tensor[], state: HrnnState, params: tf.Tensor[]) {
    const backend = tf.backend();
    const inst = instanceFor(backend);
    const needBytes = sumsOffsetBytes + (n0 + f + 1) * 8;
    if (needBytes > inst.scratchBytes) {
      throw new Error(`HRNN fused kernel: argument block of ${needBytes} bytes exceeds the scratch block.`);
    }
    const s = snapshot();
    const ex = inst.exports;
    const b = inst.backend;
    ex.__stack_pointer.value = inst.scratch;
    const ptr = (t: tf.Tensor) => offsetOf(b, t);
    const global = state.global ? state.global.dataSync() : null;
    const bias0Global = global && s.bias0L2 ? affine(s.bias0L2, global) : null;
    const bias1 = global && s.bias1L2 ? affine(s.bias1L2, global) : null;
    const counts = state.tensors.map((t) => t.scl_decay.shape[1]);
    let problemLrMean: number | null = null;
    if (dos && config.useRelativeLr && config.useProblemLrMean) {
      let sum = 0;
      state.tensors.forEach((t, j) => (sum += ex.sum_f32(ptr(t.log_learning_rate!), counts[j])));
      problemLrMean = sum / counts.reduce((a, c) => a + c, 0);
    }

    /** Runs the pass on tensor j; returns the kernel's outputs and the sums it wrote. */
    function runPass(j: number, ts: HrnnTensorState, layer: Float32Array | null) {
      const n = counts[j];
      const bias0 = new Float64Array(3 * n0);
      if (layer && s.bias0L1) affine(s.bias0L1, layer, bias0);
      if (bias0Global) { for (let i = 0; i < 3 * n0; i++) bias0[i] += bias0Global[i]; }
      let lrMean = 0;
      if (dos && config.useRelativeLr) {
        lrMean = problemLrMean ?? ex.sum_f32(ptr(ts.log_learning_rate!), n) / n;
      }
      const fl = new Float32Array(inst.memory.buffer, inst.scratch + A_FLOATS * 4, floatCount);
      fillFloatBlock(fl, s, config, lrMean, (i) => ex.any_nonzero(ptr(ts.ms[i]), n), bias0);
      const ints = new Int32Array(inst.memory.buffer, inst.scratch, A_FLOATS);
      ints[1] = k;
      ints[2] = n0;
      ints[3] = f;
      ints[4] = flags;
      ints[A_SUMS] = inst.scratch + sumsOffsetBytes;
      pending = { inst, n, k, n0, dos, native };
      let outs: tf.Tensor[];
      try {
        outs = tf.engine().runKernel(KERNEL_NAME, coordsInputs(grads[j], ts, k, dos)) as tf.Tensor[];
      } finally {
        pending = null;
      }
      const sums = new Float64Array(inst.memory.buffer, inst.scratch + sumsOffsetBytes, n0 + f + 1).slice();
      return { outs, sums };
    }

    return tf.tidy(() => {
      const updates: tf.Tensor[] = [];
      const newTensors: HrnnTensorState[] = [];
      const newLayers: Float32Array[] = [];
      state.tensors.forEach((ts, j) => {
        const n = counts[j];
        const layer = ts.layer ? ts.layer.dataSync() as Float32Array : null;
        const { outs, sums } = runPass(j, ts, layer);
        const ns = stateFromOutputs(outs, k, dos);
        // Step 7: tensor RNN on the coordinate means of [h0', z].
        if (layer && s.gru1) {
          const u1 = new Float64Array(level1InputSize(config));
          for (let i = 0; i < n0; i++) u1[i] = sums[i] / n;
          if (f > k) { for (let i = 0; i < f; i++) u1[n0 + i] = sums[n0 + i] / n; }
          const h1 = gruStepJs(s.gru1, u1, layer, bias1);
          ns.layer = tf.tensor2d(h1, [1, sizes[1]]);
          newLayers.push(h1);
        }
        // Step 8: RMS normalisation of the direction; the kernel wrote η·d, the update is −η·d / rms(d).
        const step = outs[3];
        const rms = dos ? Math.sqrt(sums[n0 + f] / n + 1e-16) : 1;
        ex.scale_f32(offsetOf(b, step), n, -1 / rms);
        updates.push(step.reshape(params[j].shape));
        newTensors.push(ns);
      });
      // Step 13: global RNN.
      const newState: HrnnState = { tensors: newTensors };
      if (global && s.gru2) {
        newState.global = tf.tensor2d(globalStep(config, s.gru2, newLayers, global), [1, sizes[2]]);
      }
      return { updates, state: newState };
    });
  }
  return { update };
}
