/**
 * The params of the `ablations` stage: their types, schema and profiles.
 *
 * @module
 */
import type { ParamSpec } from "../pipeline/stage.ts";
import { MAX_SEED } from "../lib/rng.ts";
import type { HrnnConfig } from "../models/hrnn/config.ts";
import type { MetaTrainParams } from "./meta_train_settings.ts";
import { ABLATIONS, checkExtraVariants } from "./ablation_variants.ts";
import { withGpuProfile } from "./profiles.ts";

/** Params of the `ablations` stage. */
export interface AblationsParams extends Record<string, unknown> {
  variants: string[];
  extraVariants: Record<string, { hrnn?: Partial<HrnnConfig>; metaTrain?: Partial<MetaTrainParams> }>;
  seeds: number;
  seed: number;
  metaSteps: number;
  maxProblems: number;
}

/** The params of `ablations`. */
export const ABLATIONS_PARAMS: Record<string, ParamSpec> = {
  variants: {
    type: "string[]",
    default: Object.keys(ABLATIONS).filter((n) => n !== "full"),
    choices: Object.keys(ABLATIONS).filter((n) => n !== "full"),
    maxItems: 20,
    description: "built-in variants to train besides the full model",
  },
  extraVariants: {
    type: "json",
    default: {},
    range: '{"name": {"hrnn": {HrnnConfig options}, "metaTrain": {meta-train params}}}',
    check: checkExtraVariants,
    description: "your own variants (overrides of the HRNN config and/or meta-train params)",
  },
  seeds: { type: "integer", default: 3, min: 1, max: 10, description: "meta-training seeds per variant" },
  seed: { type: "integer", default: 0, min: 0, max: MAX_SEED, description: "first meta-training seed" },
  metaSteps: {
    type: "integer",
    default: 150,
    min: 1,
    max: 100_000,
    description: "meta-steps per variant and seed (the reduced budget)",
  },
  maxProblems: {
    type: "integer",
    default: 0,
    min: 0,
    max: 10_000,
    description: "evaluate on the first N problems tune-baselines tuned (0: all)",
  },
};

/** The profiles of `ablations`: `smoke` trains two variants for 2 meta-steps; `paper` the paper's budget. */
export const ABLATIONS_PROFILES: Partial<Record<string, Partial<AblationsParams>>> = withGpuProfile({
  smoke: { variants: ["no-grad-products", "no-log-objective"], seeds: 1, metaSteps: 2, maxProblems: 2 },
  default: {},
  paper: { metaSteps: 10_000 },
});
