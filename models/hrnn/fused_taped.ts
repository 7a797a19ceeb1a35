/**
 * The differentiable fused HRNN update, for meta-training on the tfjs `wasm` backend: the per-coordinate work
 * of ALL parameter tensors of one update (§4.7 steps 1–6 and 8–10, the pass of `kernel/hrnn_coords.c`) is ONE
 * tfjs kernel with a registered gradient, whose backward is the hand-written vector-Jacobian product of the
 * pass (`kernel/hrnn_vjp_body.h`), so the gradient tape records one node for it instead of ~150 per block of
 * tensors. The few per-tensor and global parts stay outside it on [T, …] rows, so gradients flow through them:
 * the external level-0 bias (tensor- and global-state affines, tfjs ops), the tensor RNN on the per-tensor
 * means and the global RNN (one `small_gru.ts` kernel each), and the RMS normalisation of the step (update =
 * −step / √(Σd²/n + 1e-16), tfjs ops).
 *
 * The kernel `LoptHrnnTaped/<T>/<signature>` (registered on first use per number of tensors T and config
 * structure) takes, by name: per tensor j `g{j}` (the gradient, any shape), `h{j}` [n, N0], `inp{j}`, `scl{j}`,
 * `lr{j}` (with dynamicOutputScale), `a{j}_{i}`, `m{j}_{i}` (K accumulators and mean squares, [1, n]); the
 * level-0 meta-parameters `w{q}` (see {@link weightSpecs}); and `bias` [T, 3N0], the per-tensor external biases
 * (with 2–3 levels). Outputs: per tensor h' [n, N0], scl', inp', ℓ' (with dynamicOutputScale), the
 * un-normalised step η·d, a'_1..K, ms'_1..K (each [1, n]), then `sums` [T, N0 + F + 1] = Σh', Σfeatures, Σd²
 * per tensor (summed in double). The first-step indicators and the LR mean μ_ℓ (per tensor or over the whole
 * problem) are computed inside; μ_ℓ's gradient is handled inside the backward too.
 *
 * The gradient (`tf.registerGradient`) saves every input (with `unroll.ts`'s `withAliasedSaves` the saves are
 * aliases, not copies) and runs the VJP kernel `…/vjp` once per backward call: it recomputes the forward per
 * coordinate, returns the cotangent of every input (weight cotangents summed over coordinates in double) and
 * the per-input closures hand out those tensors. tfjs passes zeros for the cotangents of unused outputs.
 *
 * Engines: `"wasm"` (the kernel module of `fused.ts`) or `"native"` (the x86-64 libraries of `native.ts`; every
 * tensor they touch is bounds-checked against the heap first).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { type HrnnConfig, inpDecayLearned, level1InputSize, numFeatures } from "./config.ts";
import {
  checkInHeap,
  type FusedEngine,
  fusedUnsupportedReason,
  type Instance,
  instanceFor,
  kernelFlags,
  offsetOf,
  wasmModule,
} from "./fused.ts";
import { levelGruWeights } from "./gru.ts";
import { smallGruCell } from "./small_gru.ts";
import type { MetaParams } from "./meta_params.ts";
import type { HrnnState, HrnnTensorState } from "./hrnn.ts";
import { type NativeKernel, nativeKernel } from "./native.ts";

const A_FLOATS = 96;
const A_ACC = 16;
const A_SUMS = 80;
const V_COUNT = 0, V_DOH = 1, V_DOSCL = 2, V_DOINP = 3, V_DOLR = 4, V_DOSTEP = 5;
const V_DG = 6, V_DH = 7, V_DINP = 8, V_DSCL = 9, V_DLR = 10, V_COT = 11, V_PART = 12;
const V_PTRS = 16, V_FLOATS = 96;
/** Widest SIMD vector of any build (AVX-512): the VJP's partial-sum scratch is sized for it. */
const MAX_LANES = 16;

/** Where a level-0 meta-parameter goes in the kernel's float block. */
interface WeightSpec {
  /** Meta-parameter name. */
  name: string;
  /** First float-block index. */
  offset: number;
  /** Number of floats. */
  length: number;
  /** The float block holds σ(value) (the LR momentum); its cotangent is scaled by σ(1 − σ). */
  sigmoid?: boolean;
  /** The bias vectors of the GRU: the external bias row is added (gates: 2N0 floats, candidate: N0). */
  biasFrom?: number;
}

/** Float-block layout of one configuration (hrnn_coords.c). */
interface Layout {
  k: number;
  n0: number;
  f: number;
  dos: boolean;
  flags: number;
  problemMean: boolean;
  relativeLr: boolean;
  hasBias: boolean;
  floatCount: number;
  ocg: number;
  occ: number;
  weights: WeightSpec[];
}

/** The level-0 meta-parameters the kernel reads, in input order, with their float-block places. */
export function weightSpecs(config: HrnnConfig): WeightSpec[] {
  const k = config.numGradientScales, n0 = config.levelSizes[0], d0 = numFeatures(config) + n0;
  const oWg = 7 + k, ocg = oWg + d0 * 2 * n0, oWc = ocg + 2 * n0, occ = oWc + d0 * n0;
  const owU = occ + n0, owS = owU + n0, owI = owS + n0, owL = owI + n0, owGs = owL + n0;
  const specs: WeightSpec[] = [
    { name: "gru0/gates_w", offset: oWg, length: d0 * 2 * n0 },
    { name: "gru0/gates_b", offset: ocg, length: 2 * n0, biasFrom: 0 },
    { name: "gru0/cand_w", offset: oWc, length: d0 * n0 },
    { name: "gru0/cand_b", offset: occ, length: n0, biasFrom: 2 * n0 },
    { name: "readout/update_w", offset: owU, length: n0 },
  ];
  if (config.learnableDecay) {
    specs.push({ name: "readout/scl_decay_w", offset: owS, length: n0 });
    specs.push({ name: "readout/scl_decay_b", offset: 4, length: 1 });
  }
  if (inpDecayLearned(config)) {
    specs.push({ name: "readout/inp_decay_w", offset: owI, length: n0 });
    specs.push({ name: "readout/inp_decay_b", offset: 5, length: 1 });
  }
  if (config.dynamicOutputScale) {
    specs.push({ name: "readout/lr_w", offset: owL, length: n0 });
    specs.push({ name: "readout/lr_b", offset: 6, length: 1 });
    specs.push({ name: "lr_momentum_logit", offset: 3, length: 1, sigmoid: true });
    specs.push({ name: "step_offset", offset: 2, length: 1 });
  }
  if (config.useGradientShortcut) specs.push({ name: "shortcut/update", offset: owGs, length: k });
  return specs;
}

function layoutOf(config: HrnnConfig): Layout {
  const k = config.numGradientScales, n0 = config.levelSizes[0], f = numFeatures(config);
  const d0 = f + n0;
  const ocg = 7 + k + d0 * 2 * n0;
  const occ = ocg + 2 * n0 + d0 * n0;
  return {
    k,
    n0,
    f,
    dos: config.dynamicOutputScale,
    flags: kernelFlags(config),
    problemMean: config.useProblemLrMean,
    relativeLr: config.useRelativeLr && config.dynamicOutputScale,
    hasBias: config.levelSizes.length >= 2,
    floatCount: 7 + k + d0 * 3 * n0 + 3 * n0 + 4 * n0 + k,
    ocg,
    occ,
    weights: weightSpecs(config),
  };
}

/** One registered kernel: its layout, number of tensors and input names. */
interface Registered {
  layout: Layout;
  t: number;
  inputNames: string[];
  /** Outputs per tensor. */
  perTensor: number;
}

const registry = new Map<string, Registered>();
let calls = 0;

/** How many taped fused updates (forward kernel calls) ran in this process (tests check the path is taken). */
export function tapedKernelCalls(): number {
  return calls;
}

function tensorInputNames(j: number, lay: Layout): string[] {
  const names = [`g${j}`, `h${j}`, `inp${j}`, `scl${j}`];
  if (lay.dos) names.push(`lr${j}`);
  for (let i = 0; i < lay.k; i++) names.push(`a${j}_${i}`);
  for (let i = 0; i < lay.k; i++) names.push(`m${j}_${i}`);
  return names;
}

/** Attributes of a call (tfjs attrs are plain data). */
interface TapedAttrs {
  engine: FusedEngine;
  maxLogLr: number;
  /**
   * Problem instance of each tensor (a batched update of several instances); the problem LR mean is taken per
   * instance. Absent: all tensors belong to one problem.
   */
  groups?: number[];
}

/** Scratch on the tfjs heap for the argument blocks, the cotangent doubles and the VJP partial sums. */
interface Scratch {
  a: number;
  v: number;
  cot: number;
  part: number;
  sums: number;
}

const scratches = new WeakMap<Instance, { ptr: number; bytes: number }>();

function scratchFor(inst: Instance, lay: Layout): Scratch {
  const align = (x: number) => Math.ceil(x / 16) * 16;
  const aBytes = align((A_FLOATS + lay.floatCount) * 4);
  const sumsBytes = align((lay.n0 + lay.f + 1) * 8);
  const vBytes = align((V_FLOATS + lay.n0 + lay.f + 1) * 4);
  const cotBytes = align(lay.floatCount * 8);
  const partBytes = lay.floatCount * MAX_LANES * 4;
  const need = aBytes + sumsBytes + vBytes + cotBytes + partBytes;
  let s = scratches.get(inst);
  if (!s || s.bytes < need) {
    const wasm = wasmModule(inst.backend);
    if (s) wasm._free(s.ptr);
    const bytes = Math.max(need, 64 * 1024);
    const raw = wasm._malloc(bytes + 16);
    if (!(raw > 0)) {
      throw new Error(`HRNN taped kernel: cannot allocate ${bytes} bytes of scratch on the heap.`);
    }
    s = { ptr: (raw + 15) & ~15, bytes };
    scratches.set(inst, s);
  }
  const a = s.ptr;
  return {
    a,
    sums: a + aBytes,
    v: a + aBytes + sumsBytes,
    cot: a + aBytes + sumsBytes + vBytes,
    part: a + aBytes + sumsBytes + vBytes + cotBytes,
  };
}

/** Fills the argument block common to all tensors of a call: sizes, flags and the weights (float block). */
function fillCommon(
  b: BackendWasm,
  inst: Instance,
  sc: Scratch,
  reg: Registered,
  inputs: tf.NamedTensorMap,
  maxLogLr: number,
): { fl: Float32Array; ints: Int32Array; base: Float64Array } {
  const lay = reg.layout;
  const buf = inst.memory.buffer;
  const ints = new Int32Array(buf, sc.a, A_FLOATS);
  ints.fill(0);
  ints[1] = lay.k;
  ints[2] = lay.n0;
  ints[3] = lay.f;
  ints[4] = lay.flags;
  ints[A_SUMS] = sc.sums;
  const fl = new Float32Array(buf, sc.a + A_FLOATS * 4, lay.floatCount);
  fl.fill(0);
  fl[1] = maxLogLr;
  // The learned GRU biases before the external bias is added (per tensor).
  const base = new Float64Array(3 * lay.n0);
  lay.weights.forEach((w, q) => {
    const t = inputs[`w${q}`];
    const src = new Float32Array(buf, offsetOf(b, t), w.length);
    if (w.sigmoid) fl[w.offset] = 1 / (1 + Math.exp(-src[0]));
    else fl.set(src, w.offset);
    if (w.biasFrom !== undefined) { for (let i = 0; i < w.length; i++) base[w.biasFrom + i] = src[i]; }
  });
  return { fl, ints, base };
}

/** Per-tensor part of the argument block: pointers of the inputs, nz, μ_ℓ and the biased GRU biases. */
function fillTensor(
  b: BackendWasm,
  inst: Instance,
  reg: Registered,
  inputs: tf.NamedTensorMap,
  j: number,
  n: number,
  common: ReturnType<typeof fillCommon>,
  lrMean: number,
): void {
  const lay = reg.layout;
  const { ints, fl, base } = common;
  const ex = inst.exports;
  const p = (name: string) => offsetOf(b, inputs[name]);
  ints[0] = n;
  ints[5] = p(`g${j}`);
  ints[6] = p(`h${j}`);
  ints[7] = p(`inp${j}`);
  ints[8] = p(`scl${j}`);
  ints[9] = lay.dos ? p(`lr${j}`) : 0;
  for (let i = 0; i < lay.k; i++) {
    ints[A_ACC + i] = p(`a${j}_${i}`);
    ints[A_ACC + lay.k + i] = p(`m${j}_${i}`);
  }
  fl[0] = lrMean;
  for (let i = 0; i < lay.k; i++) fl[7 + i] = ex.any_nonzero(p(`m${j}_${i}`), n);
  const n0 = lay.n0;
  let bias: Float32Array | null = null;
  if (lay.hasBias) {
    bias = new Float32Array(inst.memory.buffer, offsetOf(b, inputs.bias) + j * 3 * n0 * 4, 3 * n0);
  }
  for (let i = 0; i < 2 * n0; i++) fl[lay.ocg + i] = base[i] + (bias ? bias[i] : 0);
  for (let i = 0; i < n0; i++) fl[lay.occ + i] = base[2 * n0 + i] + (bias ? bias[2 * n0 + i] : 0);
}

/**
 * μ_ℓ per tensor: the tensor's mean, or with useProblemLrMean the mean over its problem instance's tensors
 * (`groups`; absent: all tensors); 0 when unused.
 */
function lrMeans(
  b: BackendWasm,
  inst: Instance,
  reg: Registered,
  inputs: tf.NamedTensorMap,
  ns: number[],
  groups: number[] | undefined,
) {
  const lay = reg.layout;
  if (!lay.relativeLr) return ns.map(() => 0);
  const sums = ns.map((n, j) => inst.exports.sum_f32(offsetOf(b, inputs[`lr${j}`]), n));
  if (lay.problemMean) {
    const { total, count } = groupTotals(sums, ns, groups);
    return ns.map((_, j) => total[groupOf(groups, j)] / count[groupOf(groups, j)]);
  }
  return sums.map((s, j) => s / ns[j]);
}

/** The instance of tensor j (0 without groups). */
function groupOf(groups: number[] | undefined, j: number): number {
  return groups ? groups[j] : 0;
}

/** Per instance: the sum of `values` over its tensors and its number of coordinates. */
function groupTotals(
  values: number[],
  ns: number[],
  groups: number[] | undefined,
): { total: number[]; count: number[] } {
  const total: number[] = [], count: number[] = [];
  values.forEach((v, j) => {
    const g = groupOf(groups, j);
    total[g] = (total[g] ?? 0) + v;
    count[g] = (count[g] ?? 0) + ns[j];
  });
  return { total, count };
}

function nativeFor(attrs: TapedAttrs): NativeKernel | null {
  return attrs.engine === "native" ? nativeKernel() : null;
}

/** Checks each (tensor, float count) pair against the heap before native code touches it (`checkInHeap`). */
function checkAll(b: BackendWasm, inst: Instance, list: [tf.TensorInfo | undefined, number][]): void {
  const heapBytes = inst.memory.buffer.byteLength;
  for (const [t, count] of list) checkInHeap(b, t, count, heapBytes);
}

function forwardKernel(name: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const reg = registry.get(name)!;
    const lay = reg.layout;
    const at = attrs as unknown as TapedAttrs;
    const b = backend as unknown as BackendWasm;
    const inst = instanceFor(backend as unknown as tf.KernelBackend);
    const native = nativeFor(at);
    const named = inputs as unknown as tf.NamedTensorMap;
    const ns = Array.from({ length: reg.t }, (_, j) => named[`h${j}`].shape[0]);
    calls++;
    // Outputs first (allocation may grow the heap), pointers afterwards.
    const outs: tf.TensorInfo[] = [];
    ns.forEach((n) => {
      outs.push(b.makeOutput([n, lay.n0], "float32"));
      const rows = 3 + (lay.dos ? 1 : 0) + 2 * lay.k;
      for (let r = 0; r < rows; r++) outs.push(b.makeOutput([1, n], "float32"));
    });
    const sumsOut = b.makeOutput([reg.t, lay.n0 + lay.f + 1], "float32");
    const sc = scratchFor(inst, lay);
    const common = fillCommon(b, inst, sc, reg, named, at.maxLogLr);
    const means = lrMeans(b, inst, reg, named, ns, at.groups);
    const width = lay.n0 + lay.f + 1;
    ns.forEach((n, j) => {
      fillTensor(b, inst, reg, named, j, n, common, means[j]);
      const o = outs.slice(j * reg.perTensor, (j + 1) * reg.perTensor);
      const [oh, oscl, oinp] = o;
      const olr = lay.dos ? o[3] : null;
      const ostep = o[lay.dos ? 4 : 3];
      const oacc = o.slice(reg.perTensor - 2 * lay.k, reg.perTensor - lay.k);
      const oms = o.slice(reg.perTensor - lay.k);
      const ints = common.ints;
      ints[10] = offsetOf(b, oh);
      ints[11] = offsetOf(b, oscl);
      ints[12] = offsetOf(b, oinp);
      ints[13] = olr ? offsetOf(b, olr) : 0;
      ints[14] = offsetOf(b, ostep);
      for (let i = 0; i < lay.k; i++) {
        ints[A_ACC + 2 * lay.k + i] = offsetOf(b, oacc[i]);
        ints[A_ACC + 3 * lay.k + i] = offsetOf(b, oms[i]);
      }
      if (native) {
        const list: [tf.TensorInfo | undefined, number][] = [];
        for (const nm of tensorInputNames(j, lay)) list.push([named[nm], nm === `h${j}` ? n * lay.n0 : n]);
        o.forEach((t, q) => list.push([t, q === 0 ? n * lay.n0 : n]));
        checkAll(b, inst, list);
        native.run(new Uint8Array(inst.memory.buffer), sc.a);
      } else {
        inst.exports.__stack_pointer.value = inst.scratch;
        inst.exports.hrnn_coords(sc.a);
      }
      const sums = new Float64Array(inst.memory.buffer, sc.sums, width);
      new Float32Array(inst.memory.buffer, offsetOf(b, sumsOut) + j * width * 4, width).set(sums);
    });
    outs.push(sumsOut);
    return outs;
  };
}

function vjpKernel(name: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const reg = registry.get(name)!;
    const lay = reg.layout;
    const at = attrs as unknown as TapedAttrs;
    const b = backend as unknown as BackendWasm;
    const inst = instanceFor(backend as unknown as tf.KernelBackend);
    const native = nativeFor(at);
    const named = inputs as unknown as tf.NamedTensorMap;
    const ns = Array.from({ length: reg.t }, (_, j) => named[`h${j}`].shape[0]);
    const outs = reg.inputNames.map((nm) => b.makeOutput(named[nm].shape, "float32"));
    const outOf = new Map(reg.inputNames.map((nm, i) => [nm, outs[i]]));
    const sc = scratchFor(inst, lay);
    const common = fillCommon(b, inst, sc, reg, named, at.maxLogLr);
    const means = lrMeans(b, inst, reg, named, ns, at.groups);
    const width = lay.n0 + lay.f + 1;
    const n0 = lay.n0;
    const totals = new Float64Array(lay.floatCount);
    const biasCot = new Float64Array(reg.t * 3 * n0);
    const lrMeanCot: number[] = [];
    const dyIndex = reg.t * reg.perTensor;
    ns.forEach((n, j) => {
      fillTensor(b, inst, reg, named, j, n, common, means[j]);
      const buf = inst.memory.buffer;
      const v = new Int32Array(buf, sc.v, V_FLOATS + width);
      v.fill(0);
      const dy = (q: number) => named[`dy${j * reg.perTensor + q}`];
      const p = (t: tf.TensorInfo) => offsetOf(b, t);
      v[V_COUNT] = lay.floatCount;
      v[V_DOH] = p(dy(0));
      v[V_DOSCL] = p(dy(1));
      v[V_DOINP] = p(dy(2));
      v[V_DOLR] = lay.dos ? p(dy(3)) : 0;
      v[V_DOSTEP] = p(dy(lay.dos ? 4 : 3));
      v[V_DG] = p(outOf.get(`g${j}`)!);
      v[V_DH] = p(outOf.get(`h${j}`)!);
      v[V_DINP] = p(outOf.get(`inp${j}`)!);
      v[V_DSCL] = p(outOf.get(`scl${j}`)!);
      v[V_DLR] = lay.dos ? p(outOf.get(`lr${j}`)!) : 0;
      v[V_COT] = sc.cot;
      v[V_PART] = sc.part;
      const accAt = reg.perTensor - 2 * lay.k;
      for (let i = 0; i < lay.k; i++) {
        v[V_PTRS + i] = p(dy(accAt + i));
        v[V_PTRS + lay.k + i] = p(dy(accAt + lay.k + i));
        v[V_PTRS + 2 * lay.k + i] = p(outOf.get(`a${j}_${i}`)!);
        v[V_PTRS + 3 * lay.k + i] = p(outOf.get(`m${j}_${i}`)!);
      }
      const dSums = new Float32Array(buf, p(named[`dy${dyIndex}`]) + j * width * 4, width);
      new Float32Array(buf, sc.v + V_FLOATS * 4, width).set(dSums);
      if (native) {
        const list: [tf.TensorInfo | undefined, number][] = [];
        for (const nm of tensorInputNames(j, lay)) {
          const count = nm === `h${j}` ? n * n0 : n;
          list.push([named[nm], count], [outOf.get(nm), count]);
        }
        for (let q = 0; q < reg.perTensor; q++) list.push([dy(q), q === 0 ? n * n0 : n]);
        checkAll(b, inst, list);
        const end = sc.part + lay.floatCount * MAX_LANES * 4;
        if (end > buf.byteLength) {
          throw new Error("HRNN native kernel: scratch outside the heap — refusing to run.");
        }
        native.runVjp(new Uint8Array(buf), sc.a, sc.v);
      } else {
        inst.exports.__stack_pointer.value = inst.scratch;
        inst.exports.hrnn_vjp(sc.a, sc.v);
      }
      const cot = new Float64Array(inst.memory.buffer, sc.cot, lay.floatCount);
      for (let i = 0; i < lay.floatCount; i++) totals[i] += cot[i];
      for (let i = 0; i < 2 * n0; i++) biasCot[j * 3 * n0 + i] = cot[lay.ocg + i];
      for (let i = 0; i < n0; i++) biasCot[j * 3 * n0 + 2 * n0 + i] = cot[lay.occ + i];
      lrMeanCot.push(cot[0]);
    });
    // μ_ℓ is a mean of the old log LRs: spread its cotangent over the coordinates it averages.
    if (lay.relativeLr) {
      const { total: all, count } = groupTotals(lrMeanCot, ns, at.groups);
      ns.forEach((n, j) => {
        const g = groupOf(at.groups, j);
        const c = lay.problemMean ? all[g] / count[g] : lrMeanCot[j] / n;
        inst.exports.add_f32(offsetOf(b, outOf.get(`lr${j}`)!), n, c);
      });
    }
    const buf = inst.memory.buffer;
    lay.weights.forEach((w, q) => {
      const dst = new Float32Array(buf, offsetOf(b, outOf.get(`w${q}`)!), w.length);
      if (w.sigmoid) {
        const s = 1 / (1 + Math.exp(-new Float32Array(buf, offsetOf(b, named[`w${q}`]), 1)[0]));
        dst[0] = totals[w.offset] * s * (1 - s);
      } else {
        for (let i = 0; i < w.length; i++) dst[i] = totals[w.offset + i];
      }
    });
    if (lay.hasBias) new Float32Array(buf, offsetOf(b, outOf.get("bias")!), biasCot.length).set(biasCot);
    return outs;
  };
}

/** Registers (once) the taped kernel, its VJP kernel and its gradient for T tensors of a configuration. */
function kernelName(config: HrnnConfig, t: number): string {
  const lay = layoutOf(config);
  const name = `LoptHrnnTaped/${t}/${lay.k}.${lay.n0}.${lay.f}.${lay.flags}.${lay.hasBias ? 1 : 0}.` +
    `${lay.problemMean ? 1 : 0}`;
  if (registry.has(name)) return name;
  const inputNames: string[] = [];
  for (let j = 0; j < t; j++) inputNames.push(...tensorInputNames(j, lay));
  lay.weights.forEach((_, q) => inputNames.push(`w${q}`));
  if (lay.hasBias) inputNames.push("bias");
  registry.set(name, { layout: lay, t, inputNames, perTensor: 4 + (lay.dos ? 1 : 0) + 2 * lay.k });
  const vjpName = `${name}/vjp`;
  tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: forwardKernel(name) });
  tf.registerKernel({ kernelName: vjpName, backendName: "wasm", kernelFunc: vjpKernel(name) });
  tf.registerGradient({
    kernelName: name,
    inputsToSave: inputNames,
    gradFunc: (dy, saved, attrs) => {
      // One VJP for all inputs; the closures below only hand out its results.
      const dys = dy as tf.Tensor[];
      const ins: tf.NamedTensorMap = {};
      inputNames.forEach((nm, i) => (ins[nm] = saved[i]));
      dys.forEach((d, o) => (ins[`dy${o}`] = d));
      const outs = tf.engine().runKernel(vjpName, ins, attrs) as tf.Tensor[];
      const grads: Record<string, () => tf.Tensor> = {};
      inputNames.forEach((nm, i) => (grads[nm] = () => outs[i]));
      return grads;
    },
  });
  return name;
}

/** The differentiable fused update of one HRNN optimizer; `update` has the signature of `makeHrnn`'s. */
export interface TapedFusedUpdater {
  /** One update, same inputs, outputs and gradients as the ops path (wasm backend). */
  update(
    grads: tf.Tensor[],
    state: HrnnState,
    params: tf.Tensor[],
  ): { updates: tf.Tensor[]; state: HrnnState };
  /**
   * Updates B independent problem instances in one kernel call (all their tensors) and one set of small ops
   * (tensor and global RNNs over every instance's rows), with the same results as `update` on each.
   */
  updateInstances(
    grads: tf.Tensor[][],
    states: HrnnState[],
    params: tf.Tensor[][],
  ): { updates: tf.Tensor[]; state: HrnnState }[];
}

/**
 * Builds the differentiable fused updater for meta-parameters and a config the kernel supports (check
 * `fusedUnsupportedReason` first), running the pass and its VJP on `engine` ("native": throws when the native
 * library cannot load).
 */
export function makeTapedFusedUpdater(
  mp: MetaParams,
  config: HrnnConfig,
  engine: FusedEngine = "wasm",
): TapedFusedUpdater {
  const reason = fusedUnsupportedReason(config);
  if (reason) throw new Error(`HRNN fused kernel cannot run this config: ${reason}. Use kernel "ops".`);
  if (engine === "native") nativeKernel();
  const lay = layoutOf(config);
  const sizes = config.levelSizes;
  const levels = sizes.length;
  const { n0, f, k, dos } = lay;

  /** Rows [1, d] → [R, d] (one op for more than one row). */
  const rows = (xs: tf.Tensor2D[]) => (xs.length === 1 ? xs[0] : tf.concat(xs, 0) as tf.Tensor2D);
  /** Splits [R, d] into R rows (no op for one row). */
  const split = (x: tf.Tensor2D, r: number) => (r === 1 ? [x] : tf.split(x, r, 0) as tf.Tensor2D[]);

  function updateInstances(gradsOf: tf.Tensor[][], states: HrnnState[], paramsOf: tf.Tensor[][]) {
    return tf.tidy(() => {
      const inst = states.length;
      // The instances' tensors, in order, as one update of T tensors; `groups` says whose each one is.
      const tensors = states.flatMap((s) => s.tensors);
      const grads = gradsOf.flat();
      const params = paramsOf.flat();
      const groups = states.flatMap((s, b) => s.tensors.map(() => b));
      const t = tensors.length;
      const ns = tensors.map((s) => s.scl_decay.shape[1]);
      const name = kernelName(config, t);
      const reg = registry.get(name)!;
      const attrs: TapedAttrs = { engine, maxLogLr: config.maxLogLr };
      if (inst > 1) attrs.groups = groups;
      const globalOld = levels >= 3 ? rows(states.map((s) => s.global!)) : null;
      const layersOld = levels >= 2 ? rows(tensors.map((s) => s.layer!)) : null;
      /** Per-instance rows [B, d] → per-tensor rows [T, d]. */
      const perTensor = (x: tf.Tensor2D) => (inst === 1 ? x : tf.gather(x, groups) as tf.Tensor2D);
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
      lay.weights.forEach((w, q) => (inputs[`w${q}`] = mp[w.name]));
      let bias1: tf.Tensor2D | null = null;
      if (layersOld) {
        let bias = tf.add(
          tf.matMul(layersOld, mp["bias0/from_level1_w"] as tf.Tensor2D),
          mp["bias0/from_level1_b"],
        );
        if (levels >= 3) {
          bias = tf.add(
            bias,
            perTensor(
              tf.add(
                tf.matMul(globalOld!, mp["bias0/from_level2_w"] as tf.Tensor2D),
                mp["bias0/from_level2_b"],
              ) as tf.Tensor2D,
            ),
          );
          bias1 = perTensor(
            tf.add(
              tf.matMul(globalOld!, mp["bias1/from_level2_w"] as tf.Tensor2D),
              mp["bias1/from_level2_b"],
            ) as tf.Tensor2D,
          );
        }
        inputs.bias = bias;
      }
      const outs = tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
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
        const ns: HrnnTensorState = {
          parameter: o[0] as tf.Tensor2D,
          scl_decay: o[1] as tf.Tensor2D,
          inp_decay: o[2] as tf.Tensor2D,
          grad_accum: o.slice(reg.perTensor - 2 * k, reg.perTensor - k) as tf.Tensor2D[],
          ms: o.slice(reg.perTensor - k) as tf.Tensor2D[],
        };
        if (dos) ns.log_learning_rate = o[3] as tf.Tensor2D;
        if (layerRows) ns.layer = layerRows[j];
        return ns;
      });
      // Step 13: global RNN of every instance, no external bias, on its last tensor's new level-1 state (or
      // the mean over its tensors).
      let globals: tf.Tensor2D[] | null = null;
      if (levels >= 3 && h1) {
        const first: number[] = [];
        states.forEach((_, b) => first.push(b === 0 ? 0 : first[b - 1] + states[b - 1].tensors.length));
        let input: tf.Tensor2D;
        if (config.globalInput === "mean") {
          input = inst === 1
            ? (t === 1 ? layerRows![0] : tf.div(tf.addN(layerRows!), t)) as tf.Tensor2D
            : tf.matMul(instanceMeans(states.map((s) => s.tensors.length)), h1);
        } else {
          input = inst === 1
            ? layerRows![t - 1]
            : tf.gather(h1, states.map((s, b) => first[b] + s.tensors.length - 1)) as tf.Tensor2D;
        }
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
