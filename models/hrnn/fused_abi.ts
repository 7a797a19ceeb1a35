/**
 * The interface of the fused HRNN pass (`kernel/hrnn_coords.c`), shared by its WebAssembly / native form
 * (`fused.ts`), its differentiable form (`fused_taped.ts`) and the WGSL pass (`webgpu.ts`): which
 * configurations it runs, the flag word that tells it which options are on, and the argument block layout.
 *
 * Argument block (int32 words; see hrnn_coords.c): 0 n, 1 K, 2 N0, 3 F, 4 flags, 5–14 data pointers (grad,
 * level-0 state, decays, log LR, and the outputs), 16… 4K pointers (accumulators and mean squares, in and out),
 * 80 a pointer to the sums block (doubles Σh' [N0], Σfeatures [F], Σd²), 96… the float block: scalars, the
 * first-step indicators nz[K] and the level-0 GRU and readout weights with the external bias folded in.
 *
 * @example
 * ```ts
 * import { fusedUnsupportedReason } from "./fused_abi.ts";
 * const path = (config: HrnnConfig) => (fusedUnsupportedReason(config) === null ? "fused" : "ops");
 * ```
 *
 * @module
 */
import { type HrnnConfig, inpDecayLearned, numFeatures } from "./config.ts";

/**
 * Which compiled form of the fused pass runs it: the WebAssembly module or the native x86-64 library.
 *
 * @example
 * ```ts
 * const engine: FusedEngine = nativeKernelError() === null ? "native" : "wasm";
 * ```
 */
export type FusedEngine = "wasm" | "native";

/**
 * Largest level-0 size, feature count and number of timescales the kernel supports.
 *
 * @example
 * ```ts
 * const fits = (n0: number) => n0 <= FUSED_LIMITS.maxN0;
 * ```
 */
export const FUSED_LIMITS = { maxN0: 64, maxF: 52, maxK: 16 } as const;

/**
 * Why the fused kernel cannot run a configuration, or null when it can.
 *
 * @example
 * ```ts
 * fusedUnsupportedReason({ ...PAPER_CONFIG, useAttention: true }); // "attention (useAttention) is only …"
 * ```
 */
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

/**
 * Throws the error users see when the `label` kernel ("fused", "WebGPU") cannot run a configuration.
 *
 * @example
 * ```ts
 * requireFusedSupport(config, "WebGPU"); // throws for useAttention
 * ```
 */
export function requireFusedSupport(config: HrnnConfig, label: string): void {
  const reason = fusedUnsupportedReason(config);
  if (reason) throw new Error(`HRNN ${label} kernel cannot run this config: ${reason}. Use kernel "ops".`);
}

/**
 * The argument block's flag word (hrnn_coords.c `F_*`) for a configuration.
 *
 * @example
 * ```ts
 * const usesShortcut = (config: HrnnConfig) => (kernelFlags(config) & 256) !== 0;
 * ```
 */
export function kernelFlags(config: HrnnConfig): number {
  const k = config.numGradientScales;
  return (config.useGradProducts && k > 1 ? 1 : 0) | (config.useLogMeansSquared ? 2 : 0) |
    (config.useRelativeLr ? 4 : 0) | (config.useExtremeIndicator ? 8 : 0) | (config.useLrShortcut ? 16 : 0) |
    (config.useMultipleScaleDecays ? 32 : 0) | (config.learnableDecay ? 64 : 0) |
    (inpDecayLearned(config) ? 128 : 0) | (config.useGradientShortcut ? 256 : 0) |
    (config.dynamicOutputScale ? 512 : 0);
}

/**
 * Word offsets in the argument block (hrnn_coords.c): `acc` the first accumulator pointer, `sums` the
 * sums-block pointer, `floats` the start of the float block.
 *
 * @example
 * ```ts
 * const ints = new Int32Array(heap, args, ARG_BLOCK.floats); // the int words before the float block
 * ```
 */
export const ARG_BLOCK = { acc: 16, sums: 80, floats: 96 } as const;
