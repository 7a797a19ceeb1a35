/**
 * The declarations of the `tune-baselines` stage: its params (type, schema, profiles, the check between
 * them) and its result tables.
 *
 * @module
 */
import type { ParamSpec, TableSpec } from "../pipeline/stage.ts";
import { withGpuProfile } from "./profiles.ts";
import { BASELINE_NAMES } from "../models/optimizers/baselines.ts";
import { familyNames } from "../tasks/registry.ts";
import { MAX_SEED } from "../lib/rng.ts";

/** Params of the `tune-baselines` stage. */
export interface TuneBaselinesParams extends Record<string, unknown> {
  seed: number;
  optimizers: string[];
  momentum: number;
  lrMin: number;
  lrMax: number;
  lrPoints: number;
  tuneSeeds: number;
  horizon: number;
  split: "test" | "valid";
  maxProblems: number;
  maxDims: number;
  skipFamilies: string[];
  tasks: string[];
}

/** The params of `tune-baselines`. */
export const TUNE_BASELINES_PARAMS: Record<string, ParamSpec> = {
  seed: {
    type: "integer",
    default: 0,
    min: 0,
    max: MAX_SEED,
    description: "first tuning seed (seeds are seed, seed+1, …)",
  },
  optimizers: {
    type: "string[]",
    default: ["momentum", "rmsprop", "adam"],
    choices: BASELINE_NAMES,
    maxItems: BASELINE_NAMES.length,
    description: "baselines to tune (momentum = SGD with momentum `momentum`)",
  },
  momentum: {
    type: "number",
    default: 0.9,
    min: 0,
    max: 0.999,
    description: "momentum coefficient of the momentum/nesterov baselines",
  },
  lrMin: {
    type: "number",
    default: 1e-4,
    min: 1e-12,
    max: 1e6,
    description: "smallest learning rate of the grid (at most lrMax)",
  },
  lrMax: {
    type: "number",
    default: 1,
    min: 1e-12,
    max: 1e6,
    description: "largest learning rate of the grid",
  },
  lrPoints: { type: "integer", default: 9, min: 1, max: 100, description: "grid points (log-spaced)" },
  tuneSeeds: { type: "integer", default: 1, min: 1, max: 100, description: "seeds per grid point" },
  horizon: {
    type: "integer",
    default: 500,
    min: 1,
    max: 100_000,
    description: "steps per tuning run (match eval-problems.horizon)",
  },
  split: {
    type: "string",
    default: "test",
    choices: ["test", "valid"],
    description: "problems to tune (and so to evaluate in eval-problems): test = the held-out set, " +
      "valid = the validation split, for choosing meta-training hyperparameters",
  },
  maxProblems: {
    type: "integer",
    default: 0,
    min: 0,
    max: 10_000,
    description: "run at most this many problems (0: all)",
  },
  maxDims: {
    type: "integer",
    default: 0,
    min: 0,
    max: 100_000_000,
    description: "skip problems with more parameters than this (0: no limit)",
  },
  skipFamilies: {
    type: "string[]",
    default: [],
    choices: familyNames(),
    maxItems: familyNames().length,
    description: "skip problems of these outer families",
  },
  tasks: {
    type: "string[]",
    default: [],
    maxItems: 10_000,
    range: "task ids test/<name> or, with split=valid, valid/<name> (SELECT task_id FROM tasks)",
    check: (v) => {
      const bad = (v as string[]).filter((id) => !/^(test|valid)\/\S+$/.test(id));
      return bad.length
        ? `${bad.map((b) => JSON.stringify(b)).join(", ")} not of the form test/<name> or valid/<name>`
        : null;
    },
    description: "only these task ids of the chosen split (empty: all)",
  },
};

/** The profiles of `tune-baselines`. */
export const TUNE_BASELINES_PROFILES: Partial<Record<string, Partial<TuneBaselinesParams>>> = withGpuProfile({
  smoke: { lrPoints: 3, lrMin: 1e-3, lrMax: 1e-1, horizon: 40, maxProblems: 4 },
  default: { lrPoints: 7, horizon: 300, maxDims: 10000 },
  paper: { lrMin: 1e-6, lrMax: 10, lrPoints: 22, tuneSeeds: 5, horizon: 10000 },
});

/**
 * Checks between `tune-baselines` params: at least one optimizer, and lrMin ≤ lrMax.
 *
 * @example
 * ```ts
 * validateTuneBaselinesParams({ ...p, lrMin: 1e-3, lrMax: 1e-1 }); // ok
 * ```
 */
export function validateTuneBaselinesParams(p: TuneBaselinesParams): void {
  if (p.optimizers.length === 0) throw new Error("optimizers=[] names no baseline to tune");
  if (p.lrMin > p.lrMax) throw new Error(`lrMin=${p.lrMin} must be at most lrMax=${p.lrMax}`);
}

/** The result tables of `tune-baselines`: every tuning run, and the picked rate per problem and baseline. */
export const TUNE_BASELINES_TABLES: TableSpec[] = [
  {
    name: "tuning_runs",
    description: "one row per tuning run (problem × baseline × learning rate × seed)",
    columns: [
      { name: "task_id", type: "VARCHAR", description: "held-out task id (tasks.task_id)" },
      { name: "family", type: "VARCHAR", description: "outer problem family" },
      { name: "optimizer", type: "VARCHAR", description: "baseline name" },
      { name: "learning_rate", type: "DOUBLE", description: "grid point" },
      { name: "seed", type: "INTEGER", description: "run seed (fixes init, minibatches, noise)" },
      {
        name: "final_loss",
        type: "DOUBLE",
        description: "full-dataset loss after the last step (NULL: non-finite)",
      },
      { name: "diverged", type: "BOOLEAN", description: "a non-finite loss stopped the run" },
      { name: "steps_run", type: "INTEGER", description: "steps taken (< horizon after divergence)" },
      { name: "seconds", type: "DOUBLE", description: "wall-clock seconds of the run" },
    ],
  },
  {
    name: "tuned_lr",
    description: "the learning rate picked per (problem, baseline): lowest median final loss",
    columns: [
      { name: "task_id", type: "VARCHAR", description: "held-out task id" },
      { name: "family", type: "VARCHAR", description: "outer problem family" },
      { name: "optimizer", type: "VARCHAR", description: "baseline name" },
      { name: "learning_rate", type: "DOUBLE", description: "picked rate (NULL when not run)" },
      {
        name: "median_final_loss",
        type: "DOUBLE",
        description: "median over seeds at the picked rate (NULL: diverged everywhere, or not run)",
      },
      {
        name: "status",
        type: "VARCHAR",
        description: "tuned | all_diverged (smallest rate kept) | not_run",
      },
      { name: "reason", type: "VARCHAR", description: "why not run (NULL otherwise)" },
    ],
  },
];
