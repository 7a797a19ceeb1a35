/**
 * The tfjs kernels of the differentiable fused HRNN update (`fused_taped.ts`): the forward kernel
 * `LoptHrnnTaped/<T>/<signature>` (the pass of `kernel/hrnn_coords.c` over all T tensors of a call), its VJP
 * kernel `…/vjp` (`kernel/hrnn_vjp_body.h`) and the registered gradient that runs the VJP once per backward
 * call, registered on first use per number of tensors T and config structure.
 *
 * Inputs, by name: per tensor j `g{j}` (the gradient, any shape), `h{j}` [n, N0], `inp{j}`, `scl{j}`, `lr{j}`
 * (with dynamicOutputScale), `a{j}_{i}`, `m{j}_{i}` (K accumulators and mean squares, [1, n]); the level-0
 * meta-parameters `w{q}` (see `weightSpecs`); and `bias` [T, 3N0], the per-tensor external biases (with 2–3
 * levels). Outputs: per tensor h' [n, N0], scl', inp', ℓ' (with dynamicOutputScale), the un-normalised step
 * η·d, a'_1..K, ms'_1..K (each [1, n]), then `sums` [T, N0 + F + 1] = Σh', Σfeatures, Σd² per tensor (summed
 * in double). The first-step indicators and the LR mean μ_ℓ (per tensor or over the whole problem) are
 * computed inside; μ_ℓ's gradient is handled inside the backward too.
 *
 * The gradient saves every input (with `unroll.ts`'s `withAliasedSaves` the saves are aliases, not copies);
 * the VJP recomputes the forward per coordinate and returns the cotangent of every input (weight cotangents
 * summed over coordinates in double); the per-input closures hand out those tensors. tfjs passes zeros for
 * the cotangents of unused outputs.
 *
 * @example
 * ```ts
 * import { tapedKernelName } from "./taped_kernel.ts";
 * const outs = tf.engine().runKernel(tapedKernelName(config, inputsOfTwoTensors.t), inputs, attrs);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { HrnnConfig } from "./config.ts";
import { ARG_BLOCK, type FusedEngine } from "./fused_abi.ts";
import { type Instance, instanceFor, offsetOf } from "./fused_instance.ts";
import { type NativeKernel, nativeKernel } from "./native.ts";
import {
  checkAll,
  type CommonBlock,
  fillCommon,
  fillTensor,
  groupOf,
  groupTotals,
  lrMeans,
  type Scratch,
  scratchFor,
  type TensorInfoMap,
} from "./taped_args.ts";
import { type Layout, layoutOf, MAX_LANES, tensorInputNames, VJP_BLOCK as V } from "./taped_layout.ts";

const A_ACC = ARG_BLOCK.acc;

/**
 * Attributes of a call (tfjs attrs are plain data).
 *
 * @example
 * ```ts
 * const attrs: TapedAttrs = { engine: "wasm", maxLogLr: config.maxLogLr, groups: [0, 0, 1] };
 * ```
 */
export type TapedAttrs = {
  /** Which compiled form runs the pass and its VJP. */
  engine: FusedEngine;
  /** The upper clip of the log learning rate. */
  maxLogLr: number;
  /**
   * Problem instance of each tensor (a batched update of several instances); the problem LR mean is taken per
   * instance. Absent: all tensors belong to one problem.
   */
  groups?: number[];
};

/**
 * One registered kernel: its layout, number of tensors and input names.
 *
 * @example
 * ```ts
 * const step = (reg: Registered, o: tf.Tensor[]) => o[reg.layout.dos ? 4 : 3];
 * ```
 */
export interface Registered {
  /** The float-block layout of its configuration. */
  layout: Layout;
  /** Number of tensors per call. */
  t: number;
  /** Input names in the order the gradient saves them. */
  inputNames: string[];
  /** Outputs per tensor. */
  perTensor: number;
}

const registry = new Map<string, Registered>();
let calls = 0;

/**
 * How many taped fused updates (forward kernel calls) ran in this process (tests check the path is taken).
 *
 * @example
 * ```ts
 * const before = tapedKernelCalls(); // … a recorded update … ; tapedKernelCalls() > before
 * ```
 */
export function tapedKernelCalls(): number {
  return calls;
}

/** What both kernels derive from their call before allocating outputs. */
interface CallContext {
  reg: Registered;
  lay: Layout;
  at: TapedAttrs;
  b: BackendWasm;
  inst: Instance;
  native: NativeKernel | null;
  named: TensorInfoMap;
  /** Coordinates per tensor. */
  ns: number[];
}

/** The shared preamble of the forward and VJP kernels. */
function callContext(name: string, { inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): CallContext {
  const reg = registry.get(name)!;
  const at = attrs as TapedAttrs;
  const b = backend as BackendWasm;
  return {
    reg,
    lay: reg.layout,
    at,
    b,
    inst: instanceFor(b),
    native: at.engine === "native" ? nativeKernel() : null,
    named: inputs as TensorInfoMap,
    ns: Array.from({ length: reg.t }, (_, j) => (inputs as TensorInfoMap)[`h${j}`].shape[0]),
  };
}

/** Scratch, common argument block and LR means of a call (after its outputs are allocated). */
function prepareCall(c: CallContext): { sc: Scratch; common: CommonBlock; means: number[] } {
  const sc = scratchFor(c.inst, c.lay);
  const common = fillCommon(c.b, c.inst, sc, c.lay, c.named, c.at.maxLogLr);
  const means = lrMeans(c.b, c.inst, c.lay, c.named, c.ns, c.at.groups);
  return { sc, common, means };
}

function forwardKernel(name: string): tf.KernelFunc {
  return (args) => {
    const c = callContext(name, args);
    const { reg, lay, b, inst, native, named, ns } = c;
    calls++;
    // Outputs first (allocation may grow the heap), pointers afterwards.
    const outs: tf.TensorInfo[] = [];
    ns.forEach((n) => {
      outs.push(b.makeOutput([n, lay.n0], "float32"));
      const rows = 3 + (lay.dos ? 1 : 0) + 2 * lay.k;
      for (let r = 0; r < rows; r++) outs.push(b.makeOutput([1, n], "float32"));
    });
    const sumsOut = b.makeOutput([reg.t, lay.n0 + lay.f + 1], "float32");
    const { sc, common, means } = prepareCall(c);
    const width = lay.n0 + lay.f + 1;
    ns.forEach((n, j) => {
      fillTensor(b, inst, lay, named, j, n, common, means[j]);
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

/** Fills tensor j's VJP argument block: output cotangents in, input cotangents out, the sums' cotangents. */
function fillVjpBlock(c: CallContext, sc: Scratch, j: number, outOf: Map<string, tf.TensorInfo>): void {
  const { reg, lay, b, inst, named } = c;
  const width = lay.n0 + lay.f + 1;
  const buf = inst.memory.buffer;
  const v = new Int32Array(buf, sc.v, V.floats + width);
  v.fill(0);
  const dy = (q: number) => named[`dy${j * reg.perTensor + q}`];
  const p = (t: tf.TensorInfo) => offsetOf(b, t);
  v[V.count] = lay.floatCount;
  v[V.doH] = p(dy(0));
  v[V.doScl] = p(dy(1));
  v[V.doInp] = p(dy(2));
  v[V.doLr] = lay.dos ? p(dy(3)) : 0;
  v[V.doStep] = p(dy(lay.dos ? 4 : 3));
  v[V.dG] = p(outOf.get(`g${j}`)!);
  v[V.dH] = p(outOf.get(`h${j}`)!);
  v[V.dInp] = p(outOf.get(`inp${j}`)!);
  v[V.dScl] = p(outOf.get(`scl${j}`)!);
  v[V.dLr] = lay.dos ? p(outOf.get(`lr${j}`)!) : 0;
  v[V.cot] = sc.cot;
  v[V.part] = sc.part;
  const accAt = reg.perTensor - 2 * lay.k;
  for (let i = 0; i < lay.k; i++) {
    v[V.ptrs + i] = p(dy(accAt + i));
    v[V.ptrs + lay.k + i] = p(dy(accAt + lay.k + i));
    v[V.ptrs + 2 * lay.k + i] = p(outOf.get(`a${j}_${i}`)!);
    v[V.ptrs + 3 * lay.k + i] = p(outOf.get(`m${j}_${i}`)!);
  }
  const dSums = new Float32Array(buf, p(named[`dy${reg.t * reg.perTensor}`]) + j * width * 4, width);
  new Float32Array(buf, sc.v + V.floats * 4, width).set(dSums);
}

/** Runs tensor j's VJP on the chosen engine (native: after checking every tensor it touches). */
function runVjp(c: CallContext, sc: Scratch, j: number, n: number, outOf: Map<string, tf.TensorInfo>): void {
  const { reg, lay, b, inst, native, named } = c;
  if (native) {
    const buf = inst.memory.buffer;
    const dy = (q: number) => named[`dy${j * reg.perTensor + q}`];
    const list: [tf.TensorInfo | undefined, number][] = [];
    for (const nm of tensorInputNames(j, lay)) {
      const count = nm === `h${j}` ? n * lay.n0 : n;
      list.push([named[nm], count], [outOf.get(nm), count]);
    }
    for (let q = 0; q < reg.perTensor; q++) list.push([dy(q), q === 0 ? n * lay.n0 : n]);
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
}

function vjpKernel(name: string): tf.KernelFunc {
  return (args) => {
    const c = callContext(name, args);
    const { reg, lay, at, b, inst, named, ns } = c;
    const outs = reg.inputNames.map((nm) => b.makeOutput(named[nm].shape, "float32"));
    const outOf = new Map(reg.inputNames.map((nm, i) => [nm, outs[i]]));
    const { sc, common, means } = prepareCall(c);
    const n0 = lay.n0;
    const totals = new Float64Array(lay.floatCount);
    const biasCot = new Float64Array(reg.t * 3 * n0);
    const lrMeanCot: number[] = [];
    ns.forEach((n, j) => {
      fillTensor(b, inst, lay, named, j, n, common, means[j]);
      fillVjpBlock(c, sc, j, outOf);
      runVjp(c, sc, j, n, outOf);
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
        const cm = lay.problemMean ? all[g] / count[g] : lrMeanCot[j] / n;
        inst.exports.add_f32(offsetOf(b, outOf.get(`lr${j}`)!), n, cm);
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

/**
 * The name of the taped kernel for T tensors of a configuration, registering it, its VJP kernel and its
 * gradient on first use.
 *
 * @example
 * ```ts
 * const name = tapedKernelName(config, 3); // "LoptHrnnTaped/3/…"
 * ```
 */
export function tapedKernelName(config: HrnnConfig, t: number): string {
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

/**
 * The registration of a taped kernel name (see {@link tapedKernelName}).
 *
 * @example
 * ```ts
 * const { perTensor } = tapedRegistration(tapedKernelName(config, 1));
 * ```
 */
export function tapedRegistration(name: string): Registered {
  const reg = registry.get(name);
  if (!reg) throw new Error(`HRNN taped kernel ${name} is not registered.`);
  return reg;
}
