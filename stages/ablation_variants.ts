/**
 * The variants of the `ablations` stage: each turns one feature of the HRNN off (or attention on) through
 * overrides of the HRNN config and/or of meta-train's params ({@link ABLATIONS}); user variants come from the
 * stage's `extraVariants` param.
 *
 * @module
 */
import type { HrnnConfig } from "../models/hrnn/config.ts";
import type { MetaTrainParams } from "./meta_train_settings.ts";

/** One ablation: overrides of the HRNN config and of meta-train's params. */
export interface AblationVariant {
  /** What is turned off (or on), in words. */
  description: string;
  hrnn?: Partial<HrnnConfig>;
  metaTrain?: Partial<MetaTrainParams> | ((p: MetaTrainParams) => Partial<MetaTrainParams>);
}

/**
 * The meta-train params that replace the heavy-tailed (exponential) draws of unroll counts and lengths by
 * their means, within the cap.
 *
 * @example
 * ```ts
 * fixedUnrolls({ minNumUnrolls: 1, numUnrollScale: 4, minUnrollLength: 20, unrollLengthScale: 20, maxUnrollLength: 60 } as MetaTrainParams);
 * // { minNumUnrolls: 5, numUnrollScale: 0, minUnrollLength: 40, unrollLengthScale: 0 }
 * ```
 */
export function fixedUnrolls(p: MetaTrainParams): Partial<MetaTrainParams> {
  const len = p.minUnrollLength + Math.round(p.unrollLengthScale);
  return {
    minNumUnrolls: p.minNumUnrolls + Math.round(p.numUnrollScale),
    numUnrollScale: 0,
    minUnrollLength: p.maxUnrollLength > 0 ? Math.min(len, p.maxUnrollLength) : len,
    unrollLengthScale: 0,
  };
}

/** The built-in variants, by name (`full` is the reference every other one is compared with). */
export const ABLATIONS: Record<string, AblationVariant> = {
  full: { description: "the full model (the meta-train config)" },
  "no-multiple-timescales": { description: "one momentum timescale (K = 1)", hrnn: { numGradientScales: 1 } },
  "no-dynamic-input-scaling": {
    description: "the RMS decay that scales the inputs is fixed (0.93) instead of learned",
    hrnn: { learnableDecay: false },
  },
  "no-step-split": {
    description: "no direction / step-length split with a learned step (no dynamic output scale, so no " +
      "relative or absolute learning-rate feature either)",
    hrnn: { dynamicOutputScale: false, useRelativeLr: false, useLrShortcut: false },
  },
  "no-relative-log-grad": {
    description: "no relative log gradient magnitudes (log-mean-square features)",
    hrnn: { useLogMeansSquared: false },
  },
  "no-relative-lr": { description: "no relative learning-rate feature", hrnn: { useRelativeLr: false } },
  "no-grad-products": { description: "no gradient-product features", hrnn: { useGradProducts: false } },
  "no-grad-shortcut": { description: "no gradient shortcut", hrnn: { useGradientShortcut: false } },
  "no-tensor-level": {
    description: "parameter RNN only (the global level reads the tensor level, so it goes too)",
    hrnn: { levelSizes: [10] },
  },
  "no-global-level": { description: "parameter and tensor RNNs only", hrnn: { levelSizes: [10, 20] } },
  "no-log-objective": { description: "linear meta-objective", metaTrain: { metaObjective: "linear" } },
  "no-heavy-tailed-unrolls": {
    description: "unroll counts and lengths fixed at their means instead of exponential draws",
    metaTrain: fixedUnrolls,
  },
  attention: {
    description: "attention on (the paper's configuration has it off)",
    hrnn: { useAttention: true },
  },
};

/**
 * A user variant from `extraVariants` (JSON: `{name: {hrnn?, metaTrain?}}`): what is wrong, or null.
 *
 * @example
 * ```ts
 * checkExtraVariants({ full: {} }); // "variant full is built in; choose another name"
 * ```
 */
export function checkExtraVariants(v: unknown): string | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return "not a JSON object";
  for (const [name, spec] of Object.entries(v as Record<string, unknown>)) {
    if (name in ABLATIONS) return `variant ${name} is built in; choose another name`;
    if (spec === null || typeof spec !== "object") return `variant ${name} is not an object`;
    const extra = Object.keys(spec as object).filter((k) => k !== "hrnn" && k !== "metaTrain");
    if (extra.length) return `variant ${name} has unknown key(s) ${extra.join(", ")} (use hrnn, metaTrain)`;
  }
  return null;
}

/**
 * The meta-train params and HRNN config of a variant over meta-train's resolved params.
 *
 * @example
 * ```ts
 * variantSettings(ABLATIONS["no-global-level"], metaTrainParams).hrnn.levelSizes; // [10, 20]
 * ```
 */
export function variantSettings(
  v: AblationVariant,
  base: MetaTrainParams,
): { params: MetaTrainParams; hrnn: Partial<HrnnConfig> } {
  const over = typeof v.metaTrain === "function" ? v.metaTrain(base) : v.metaTrain ?? {};
  const params = { ...base, ...over };
  return { params, hrnn: { ...(params.hrnn as Partial<HrnnConfig>), ...v.hrnn } };
}
