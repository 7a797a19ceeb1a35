/**
 * The layout of the differentiable fused HRNN kernel (`fused_taped.ts`): where each level-0 meta-parameter
 * goes in the pass's float block, the float-block layout of a configuration, the names of a call's inputs and
 * the word offsets of the VJP's argument block (`kernel/hrnn_vjp_body.h`).
 *
 * @example
 * ```ts
 * import { weightSpecs } from "./taped_layout.ts";
 * const names = weightSpecs(config).map((w) => w.name); // ["gru0/gates_w", "gru0/gates_b", …]
 * ```
 *
 * @module
 */
import { type HrnnConfig, inpDecayLearned, numFeatures } from "./config.ts";
import { kernelFlags } from "./fused_abi.ts";

/**
 * Word offsets of the VJP argument block (hrnn_vjp_body.h): the float count, the cotangent pointers of the
 * outputs (`do*`) and of the inputs (`d*`), the cotangent and partial-sum scratch, the 4K accumulator / mean
 * square pointers (`ptrs`) and the float block of the sums' cotangents (`floats`).
 *
 * @example
 * ```ts
 * const v = new Int32Array(heap, vargs, VJP_BLOCK.floats); // the int words before the float block
 * ```
 */
export const VJP_BLOCK = {
  count: 0,
  doH: 1,
  doScl: 2,
  doInp: 3,
  doLr: 4,
  doStep: 5,
  dG: 6,
  dH: 7,
  dInp: 8,
  dScl: 9,
  dLr: 10,
  cot: 11,
  part: 12,
  ptrs: 16,
  floats: 96,
} as const;

/**
 * Widest SIMD vector of any build (AVX-512): the VJP's partial-sum scratch is sized for it.
 *
 * @example
 * ```ts
 * const partBytes = (floatCount: number) => floatCount * MAX_LANES * 4;
 * ```
 */
export const MAX_LANES = 16;

/**
 * Where a level-0 meta-parameter goes in the kernel's float block.
 *
 * @example
 * ```ts
 * const spec: WeightSpec = { name: "readout/lr_b", offset: 6, length: 1 };
 * ```
 */
export interface WeightSpec {
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

/**
 * Float-block layout of one configuration (hrnn_coords.c).
 *
 * @example
 * ```ts
 * const lay: Layout = layoutOf(config);
 * ```
 */
export interface Layout {
  /** K, the number of timescales. */
  k: number;
  /** N0, the level-0 size. */
  n0: number;
  /** F, the number of features. */
  f: number;
  /** dynamicOutputScale: the log learning rate is part of the state. */
  dos: boolean;
  /** The pass's flag word (`kernelFlags`). */
  flags: number;
  /** useProblemLrMean: μ_ℓ is the mean over the whole problem instance. */
  problemMean: boolean;
  /** The pass reads μ_ℓ (useRelativeLr with dynamicOutputScale). */
  relativeLr: boolean;
  /** The pass takes an external level-0 bias (2 or 3 levels). */
  hasBias: boolean;
  /** Floats in the float block. */
  floatCount: number;
  /** Float-block index of the GRU gate biases. */
  ocg: number;
  /** Float-block index of the GRU candidate biases. */
  occ: number;
  /** The level-0 meta-parameters, in input order. */
  weights: WeightSpec[];
}

/**
 * The level-0 meta-parameters the kernel reads, in input order, with their float-block places.
 *
 * @example
 * ```ts
 * weightSpecs(config)[0]; // { name: "gru0/gates_w", offset: 7 + K, length: (F + N0) * 2 * N0 }
 * ```
 */
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

/**
 * The float-block layout of a configuration.
 *
 * @example
 * ```ts
 * const { floatCount } = layoutOf(config);
 * ```
 */
export function layoutOf(config: HrnnConfig): Layout {
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

/**
 * The input names of tensor j of a call: gradient, level-0 state, decays, log LR, accumulators, mean squares.
 *
 * @example
 * ```ts
 * tensorInputNames(0, layoutOf(config)); // ["g0", "h0", "inp0", "scl0", "lr0", "a0_0", …, "m0_0", …]
 * ```
 */
export function tensorInputNames(j: number, lay: Layout): string[] {
  const names = [`g${j}`, `h${j}`, `inp${j}`, `scl${j}`];
  if (lay.dos) names.push(`lr${j}`);
  for (let i = 0; i < lay.k; i++) names.push(`a${j}_${i}`);
  for (let i = 0; i < lay.k; i++) names.push(`m${j}_${i}`);
  return names;
}
