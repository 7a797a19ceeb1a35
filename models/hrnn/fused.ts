/**
 * The fused inference path of the HRNN update on the tfjs `wasm` backend: the per-coordinate work of one
 * tensor (features, parameter GRU, readouts, new state) runs as ONE WebAssembly SIMD pass
 * (`kernel/hrnn_coords.c`) that reads the state tensors and writes the new ones in place on the tfjs heap; the
 * tiny tensor-level and global RNNs run in plain TypeScript on the sums that pass returns. Same results as the
 * ops path of `hrnn.ts` to float32 rounding (tested), several times faster, but not differentiable: `makeHrnn`
 * uses it when no gradient is being recorded (`kernel: "auto"`); while one is, it uses the differentiable form
 * of the same pass, `fused_taped.ts` (which reuses this module's instance, exports and heap helpers).
 *
 * The kernel module imports the wasm backend's memory (`backend.wasm.asm.memory` of tfjs-backend-wasm 4.22),
 * so it works with pointers (`memoryOffset`) into that heap. It runs on a stack and argument block that this
 * module allocates once on the same heap with the backend's `malloc`.
 *
 * Argument block (int32 words; see hrnn_coords.c): 0 n, 1 K, 2 N0, 3 F, 4 flags, 5–14 data pointers (grad,
 * level-0 state, decays, log LR, and the outputs), 16… 4K pointers (accumulators and mean squares, in and out),
 * 80 a pointer to the sums block (doubles Σh' [N0], Σfeatures [F], Σd²), 96… the float block: scalars, the
 * first-step indicators nz[K] and the level-0 GRU and readout weights with the external bias folded in.
 *
 * Two engines run that pass: `"wasm"` (the kernel module above) and `"native"` (the same C compiled for x86-64
 * and loaded through Deno's FFI by `native.ts`, about four times as fast with AVX-512; it works on the same heap through the bytes
 * of `memory.buffer`, after checking that every tensor it touches lies inside that heap).
 *
 * Meta-parameters are read once (a snapshot) and read again only when one of the meta-parameter tensors changes
 * identity (e.g. `tf.Variable.assign`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { type HrnnConfig, inpDecayLearned, level1InputSize, numFeatures } from "./config.ts";
import type { MetaParams } from "./meta_params.ts";
import type { HrnnState, HrnnTensorState } from "./hrnn.ts";
import { decodeBase64 } from "./kernel/encoding.ts";
import { STACK_BYTES as KERNEL_STACK_BYTES, WASM_BASE64 } from "./kernel/hrnn_coords_wasm.ts";
import { type NativeKernel, nativeKernel } from "./native.ts";

/** Which compiled form of the fused pass runs it: the WebAssembly module or the native x86-64 library. */
export type FusedEngine = "wasm" | "native";

/** Largest level-0 size, feature count and number of timescales the kernel supports. */
export const FUSED_LIMITS = { maxN0: 64, maxF: 52, maxK: 16 } as const;

const KERNEL_NAME = "LoptHrnnCoords";
/** Stack for the kernel: its measured frames (build.ts) plus a margin, at least 64 KiB. */
const STACK_BYTES = Math.max(64 * 1024, Math.ceil((KERNEL_STACK_BYTES * 1.25 + 16 * 1024) / 16) * 16);
const A_FLOATS = 96;
const A_SUMS = 80;
const A_ACC = 16;

/** Why the fused kernel cannot run a configuration, or null when it can. */
export function fusedUnsupportedReason(config: HrnnConfig): string | null {
  const n0 = config.levelSizes[0];
  const f = numFeatures(config);
  const k = config.numGradientScales;
  if (config.useAttention) return "attention (useAttention) is only implemented on the ops path";
  if (n0 > FUSED_LIMITS.maxN0) return `level-0 size ${n0} > ${FUSED_LIMITS.maxN0}`;
  if (f > FUSED_LIMITS.maxF) return `${f} features > ${FUSED_LIMITS.maxF}`;
  if (k > FUSED_LIMITS.maxK) return `${k} timescales > ${FUSED_LIMITS.maxK}`;
  return null;
}

/** The kernel module's exports (hrnn_coords.c). */
export interface KernelExports {
  hrnn_coords(args: number): void;
  hrnn_vjp(args: number, vargs: number): void;
  add_f32(ptr: number, n: number, s: number): void;
  sum_f32(ptr: number, n: number): number;
  any_nonzero(ptr: number, n: number): number;
  scale_f32(ptr: number, n: number, s: number): void;
  __stack_pointer: WebAssembly.Global;
}

/** The kernel instantiated on one wasm backend's memory, with its scratch block. */
export interface Instance {
  backend: BackendWasm;
  exports: KernelExports;
  memory: WebAssembly.Memory;
  /** Start of the scratch block (argument block + sums); the kernel's stack grows down from here. */
  scratch: number;
  scratchBytes: number;
}

let compiled: WebAssembly.Module | null = null;
const instances = new WeakMap<object, Instance>();

interface EmscriptenModule {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

/** The Emscripten module of a wasm backend (its `_malloc` / `_free` allocate on the tfjs heap). */
export function wasmModule(backend: BackendWasm): EmscriptenModule {
  return (backend as unknown as { wasm: EmscriptenModule }).wasm;
}

/**
 * The kernel instantiated on a wasm backend's memory (once per backend), with its stack and scratch block
 * allocated on that heap. Throws when it cannot be (see {@link fusedLoadError}).
 */
export function instanceFor(backend: tf.KernelBackend): Instance {
  const cached = instances.get(backend);
  if (cached) return cached;
  const wasm = wasmModule(backend as unknown as BackendWasm);
  const memory = wasm.asm?.memory ?? wasm.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new Error(
      "HRNN fused kernel: cannot find the tfjs wasm backend's memory (tfjs-backend-wasm changed?). " +
        'Use makeHrnn(..., { kernel: "ops" }).',
    );
  }
  if (typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer) {
    throw new Error(
      "HRNN fused kernel: the tfjs wasm backend uses shared (multi-threaded) memory, which the kernel module " +
        'does not import; the update runs as tfjs ops (kernel "auto") instead.',
    );
  }
  compiled ??= new WebAssembly.Module(decodeBase64(WASM_BASE64) as Uint8Array<ArrayBuffer>);
  const inst = new WebAssembly.Instance(compiled, { env: { memory } });
  const exports = inst.exports as unknown as KernelExports;
  const scratchBytes = 128 * 1024;
  const base = wasm._malloc(STACK_BYTES + scratchBytes + 16);
  const aligned = (base + 15) & ~15;
  const instance: Instance = {
    backend: backend as unknown as BackendWasm,
    exports,
    memory,
    scratch: aligned + STACK_BYTES,
    scratchBytes,
  };
  instances.set(backend, instance);
  registerKernelOnce();
  return instance;
}

/** Whether the fused kernel can run now: the active backend is wasm and no gradient is being recorded. */
export function fusedAvailable(): boolean {
  if (tf.getBackend() !== "wasm") return false;
  const state = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  return !(state.gradientDepth > 0) && fusedLoadError() === null;
}

const loadErrors = new WeakMap<object, Error>();

/**
 * Why the kernel cannot be instantiated on the active wasm backend (e.g. a multi-threaded tfjs build whose
 * memory is shared, or a tfjs version whose internals moved), or null when it can. Tried once per backend.
 */
export function fusedLoadError(): Error | null {
  const backend = tf.backend();
  if (instances.has(backend)) return null;
  const known = loadErrors.get(backend);
  if (known) return known;
  try {
    instanceFor(backend);
    return null;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    loadErrors.set(backend, err);
    return err;
  }
}

/** Byte offset of a tensor's data on the wasm heap (tfjs-backend-wasm's `dataIdMap`). */
export function offsetOf(backend: BackendWasm, t: tf.TensorInfo): number {
  const info = (backend as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } }).dataIdMap
    .get(t.dataId);
  return info.memoryOffset;
}

/** Per-call request handed to the registered kernel through a module variable (tfjs attrs are plain data). */
let pending:
  | { inst: Instance; n: number; k: number; n0: number; dos: boolean; native: NativeKernel | null }
  | null = null;

/**
 * Checks that tensor `t` holds `elements` floats and lies inside the heap (`heapBytes`): native code has no
 * bounds checks of its own, so a wrong pointer must stop here rather than write outside the heap.
 */
export function checkInHeap(
  b: BackendWasm,
  t: tf.TensorInfo | undefined,
  elements: number,
  heapBytes: number,
): void {
  if (!t) throw new Error("HRNN native kernel: an input tensor is missing — refusing to run.");
  const size = t.shape.reduce((a, d) => a * d, 1);
  const off = offsetOf(b, t);
  if (size !== elements || !(off > 0) || off + 4 * size > heapBytes) {
    throw new Error(
      `HRNN native kernel: tensor [${t.shape}] at heap offset ${off} (expected ${elements} floats inside ` +
        `${heapBytes} bytes) — refusing to run; use kernel "fused" or "ops" and report this.`,
    );
  }
}

let registered = false;
function registerKernelOnce(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: KERNEL_NAME,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const req = pending;
      if (!req) throw new Error(`${KERNEL_NAME} is internal to models/hrnn/fused.ts`);
      const b = backend as unknown as BackendWasm;
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
    },
  });
}

/** The argument block's flag word (hrnn_coords.c `F_*`) for a configuration. */
export function kernelFlags(config: HrnnConfig): number {
  const k = config.numGradientScales;
  return (config.useGradProducts && k > 1 ? 1 : 0) | (config.useLogMeansSquared ? 2 : 0) |
    (config.useRelativeLr ? 4 : 0) | (config.useExtremeIndicator ? 8 : 0) | (config.useLrShortcut ? 16 : 0) |
    (config.useMultipleScaleDecays ? 32 : 0) | (config.learnableDecay ? 64 : 0) |
    (inpDecayLearned(config) ? 128 : 0) | (config.useGradientShortcut ? 256 : 0) |
    (config.dynamicOutputScale ? 512 : 0);
}

/** Plain-array weights of one BiasGRUCell. */
interface JsGru {
  gatesW: Float32Array;
  gatesB: Float32Array;
  candW: Float32Array;
  candB: Float32Array;
  units: number;
}

/** A small affine x·W + b on plain arrays. */
interface JsAffine {
  w: Float32Array;
  b: Float32Array;
}

function affine(a: JsAffine, x: ArrayLike<number>, out?: Float64Array): Float64Array {
  const m = a.b.length;
  const y = out ?? new Float64Array(m);
  for (let o = 0; o < m; o++) {
    let s = a.b[o];
    for (let i = 0; i < x.length; i++) s += x[i] * a.w[i * m + o];
    y[o] += s;
  }
  return y;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** One BiasGRUCell step on plain arrays (float64 arithmetic), bias [3N] or null. */
export function gruStepJs(
  w: JsGru,
  x: ArrayLike<number>,
  h: ArrayLike<number>,
  bias: ArrayLike<number> | null,
) {
  const n = w.units;
  const d = x.length;
  const xh = new Float64Array(d + n);
  for (let i = 0; i < d; i++) xh[i] = x[i];
  for (let i = 0; i < n; i++) xh[d + i] = h[i];
  const r = new Float64Array(n), u = new Float64Array(n);
  for (let o = 0; o < 2 * n; o++) {
    let s = w.gatesB[o] + (bias ? bias[o] : 0);
    for (let i = 0; i < d + n; i++) s += xh[i] * w.gatesW[i * 2 * n + o];
    if (o < n) r[o] = sigmoid(s);
    else u[o - n] = sigmoid(s);
  }
  for (let i = 0; i < n; i++) xh[d + i] = r[i] * h[i];
  const out = new Float32Array(n);
  for (let o = 0; o < n; o++) {
    let s = w.candB[o] + (bias ? bias[2 * n + o] : 0);
    for (let i = 0; i < d + n; i++) s += xh[i] * w.candW[i * n + o];
    const c = Math.tanh(s);
    out[o] = u[o] * h[o] + (1 - u[o]) * c;
  }
  return out;
}

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

/** The fused update of one HRNN optimizer (see the module doc); `update` has the signature of `makeHrnn`'s. */
export interface FusedUpdater {
  /** One update, same inputs and outputs as the ops path. Call only when {@link fusedAvailable} is true. */
  update(
    grads: tf.Tensor[],
    state: HrnnState,
    params: tf.Tensor[],
  ): { updates: tf.Tensor[]; state: HrnnState };
}

/**
 * Builds the fused updater for meta-parameters and a config the kernel supports (check
 * {@link fusedUnsupportedReason} first), running the pass on `engine` ("native": throws when the native
 * library cannot load, see `native.ts`).
 */
export function makeFusedUpdater(
  mp: MetaParams,
  config: HrnnConfig,
  engine: FusedEngine = "wasm",
): FusedUpdater {
  const reason = fusedUnsupportedReason(config);
  if (reason) throw new Error(`HRNN fused kernel cannot run this config: ${reason}. Use kernel "ops".`);
  const native = engine === "native" ? nativeKernel() : null;
  const sizes = config.levelSizes;
  const levels = sizes.length;
  const n0 = sizes[0];
  const k = config.numGradientScales;
  const f = numFeatures(config);
  const dos = config.dynamicOutputScale;
  const names = Object.keys(mp).sort();
  let snap: Snapshot | null = null;

  const flags = kernelFlags(config);
  const d0 = f + n0;
  const weightFloats = d0 * 2 * n0 + 2 * n0 + d0 * n0 + n0;
  const floatCount = 7 + k + weightFloats + 4 * n0 + k;
  const sumsOffsetBytes = ((A_FLOATS + floatCount) * 4 + 7) & ~7;

  const arr = (name: string) => mp[name].dataSync() as Float32Array;
  const gru = (l: number): JsGru => ({
    gatesW: arr(`gru${l}/gates_w`),
    gatesB: arr(`gru${l}/gates_b`),
    candW: arr(`gru${l}/cand_w`),
    candB: arr(`gru${l}/cand_b`),
    units: sizes[l],
  });
  const aff = (name: string): JsAffine => ({ w: arr(`${name}_w`), b: arr(`${name}_b`) });

  function snapshot(): Snapshot {
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
  }

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
    return tf.tidy(() => {
      const updates: tf.Tensor[] = [];
      const newTensors: HrnnTensorState[] = [];
      const newLayers: Float32Array[] = [];
      state.tensors.forEach((ts, j) => {
        const n = counts[j];
        const layer = ts.layer ? ts.layer.dataSync() as Float32Array : null;
        const bias0 = new Float64Array(3 * n0);
        if (layer && s.bias0L1) affine(s.bias0L1, layer, bias0);
        if (bias0Global) { for (let i = 0; i < 3 * n0; i++) bias0[i] += bias0Global[i]; }
        let lrMean = 0;
        if (dos && config.useRelativeLr) {
          lrMean = problemLrMean ?? ex.sum_f32(ptr(ts.log_learning_rate!), n) / n;
        }
        // Float block.
        const fl = new Float32Array(inst.memory.buffer, inst.scratch + A_FLOATS * 4, floatCount);
        fl[0] = lrMean;
        fl[1] = config.maxLogLr;
        fl[2] = s.stepOffset;
        fl[3] = s.lrMomentum;
        fl[4] = s.bScl;
        fl[5] = s.bInp;
        fl[6] = s.bLr;
        for (let i = 0; i < k; i++) fl[7 + i] = ex.any_nonzero(ptr(ts.ms[i]), n);
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
        const ints = new Int32Array(inst.memory.buffer, inst.scratch, A_FLOATS);
        ints[1] = k;
        ints[2] = n0;
        ints[3] = f;
        ints[4] = flags;
        ints[A_SUMS] = inst.scratch + sumsOffsetBytes;
        const inputs: tf.NamedTensorMap = {
          grad: grads[j],
          parameter: ts.parameter,
          inpDecay: ts.inp_decay,
          sclDecay: ts.scl_decay,
        };
        if (dos) inputs.logLr = ts.log_learning_rate!;
        for (let i = 0; i < k; i++) {
          inputs[`accum${i}`] = ts.grad_accum[i];
          inputs[`ms${i}`] = ts.ms[i];
        }
        pending = { inst, n, k, n0, dos, native };
        let outs: tf.Tensor[];
        try {
          outs = tf.engine().runKernel(KERNEL_NAME, inputs as unknown as tf.NamedTensorMap) as tf.Tensor[];
        } finally {
          pending = null;
        }
        const sums = new Float64Array(inst.memory.buffer, inst.scratch + sumsOffsetBytes, n0 + f + 1).slice();
        const [hNew, sclNew, inpNew, step] = outs;
        const ns: HrnnTensorState = {
          parameter: hNew as tf.Tensor2D,
          scl_decay: sclNew as tf.Tensor2D,
          inp_decay: inpNew as tf.Tensor2D,
          grad_accum: outs.slice(4, 4 + k) as tf.Tensor2D[],
          ms: outs.slice(4 + k, 4 + 2 * k) as tf.Tensor2D[],
        };
        if (dos) ns.log_learning_rate = outs[4 + 2 * k] as tf.Tensor2D;
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
        const rms = dos ? Math.sqrt(sums[n0 + f] / n + 1e-16) : 1;
        ex.scale_f32(offsetOf(b, step), n, -1 / rms);
        updates.push(step.reshape(params[j].shape));
        newTensors.push(ns);
      });
      // Step 13: global RNN.
      const newState: HrnnState = { tensors: newTensors };
      if (global && s.gru2) {
        let input: ArrayLike<number> = newLayers[newLayers.length - 1];
        if (config.globalInput === "mean") {
          const m = new Float64Array(sizes[1]);
          for (const l of newLayers) for (let i = 0; i < m.length; i++) m[i] += l[i] / newLayers.length;
          input = m;
        }
        newState.global = tf.tensor2d(gruStepJs(s.gru2, input, global, null), [1, sizes[2]]);
      }
      return { updates, state: newState };
    });
  }
  return { update };
}
