/**
 * The params of the `eval-horizon` stage: their type, schema and profiles.
 *
 * @module
 */
import type { ParamSpec } from "../pipeline/stage.ts";
import { MAX_SEED } from "../lib/rng.ts";
import { withGpuProfile } from "./profiles.ts";

/** Params of the `eval-horizon` stage. */
export interface EvalHorizonParams extends Record<string, unknown> {
  seed: number;
  steps: number;
  curvePoints: number;
  maxProblems: number;
}

/** The params of `eval-horizon`. */
export const EVAL_HORIZON_PARAMS: Record<string, ParamSpec> = {
  seed: { type: "integer", default: 0, min: 0, max: MAX_SEED, description: "run seed" },
  steps: {
    type: "integer",
    default: 10_000,
    min: 10,
    max: 100_000,
    description: "steps per run (at least 10x the longest meta-training unroll, checked when it runs)",
  },
  curvePoints: {
    type: "integer",
    default: 60,
    min: 2,
    max: 1000,
    description: "log-spaced full-loss points per run (plus each meta-training horizon)",
  },
  maxProblems: {
    type: "integer",
    default: 0,
    min: 0,
    max: 10_000,
    description: "evaluate only the first N problems tune-baselines tuned (0: all)",
  },
};

/** The profiles of `eval-horizon`. */
export const EVAL_HORIZON_PROFILES: Partial<Record<string, Partial<EvalHorizonParams>>> = withGpuProfile({
  smoke: { steps: 200, curvePoints: 12, maxProblems: 2 },
  default: { steps: 10_000 },
  // The paper's unrolls are uncapped: 50 + 5·200 = 1,050 steps, so 10x that.
  paper: { steps: 20_000 },
});
