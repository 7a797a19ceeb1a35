/**
 * Stage `eval-problems`: the learned optimizer (from `meta-train`) against each baseline at its tuned learning
 * rate (from `tune-baselines`) on the held-out problems, over several seeds and a horizon longer than the
 * meta-training unrolls; the experiment is `evaluateHeldout` (`models/evaluation/heldout_eval.ts`).
 *
 * Writes learning curves (`eval_curves`, minibatch points downsampled), final losses (`eval_final`), a
 * per-problem comparison on median final loss (`eval_summary`), long-horizon runs (`eval_long`) and
 * `summary.json` (win fractions against each tuned baseline, median loss ratios, per-family win table), which
 * is also printed to the log.
 *
 * @module
 */
import { join } from "node:path";
import { defineStage } from "../pipeline/stage.ts";
import { initBackend, requireSyncReads } from "../lib/backend.ts";
import { MAX_SEED } from "../lib/rng.ts";
import { evaluateHeldout, type HeldoutEvalSettings } from "../models/evaluation/heldout_eval.ts";
import { formatSummary } from "../models/evaluation/heldout_summary.ts";
import { loadLearnedOptimizer } from "../models/optimizers/learned_artifact.ts";
import { readTaskSet } from "./task_set.ts";
import { readTuned, stageSink } from "./eval_common.ts";
import { withGpuProfile } from "./profiles.ts";
import { CODE_DEPS } from "./code_deps.ts";

/**
 * File name of the summary artifact.
 *
 * @example
 * ```ts
 * const summary = JSON.parse(await Deno.readTextFile(join(artifactDir, SUMMARY_FILE)));
 * ```
 */
export const SUMMARY_FILE = "summary.json";

/**
 * Params of {@link evalProblems}.
 *
 * @example
 * ```ts
 * const p: EvalProblemsParams = {
 *   seed: 0, seeds: 3, horizon: 500, fullEvery: 50, maxCurvePoints: 200, maxProblems: 0, longHorizon: 0,
 * };
 * ```
 */
export interface EvalProblemsParams extends HeldoutEvalSettings, Record<string, unknown> {}

/**
 * The `eval-problems` stage.
 *
 * @example
 * ```ts
 * // deno task pipeline eval-problems --profile smoke
 * const stages = [evalProblems];
 * ```
 */
export const evalProblems = defineStage<EvalProblemsParams>({
  name: "eval-problems",
  description:
    "Learned optimizer vs tuned baselines on the held-out problems (eval_curves, eval_final, eval_summary)",
  deps: ["generate-tasks", "meta-train", "tune-baselines"],
  // The stage's results are keyed by its code (codeDeps) and params; the version marks a change of what
  // its outputs mean that neither shows.
  version: "4",
  codeDeps: CODE_DEPS.evalProblems,
  params: {
    seed: {
      type: "integer",
      default: 0,
      min: 0,
      max: MAX_SEED,
      description: "first evaluation seed (seeds are seed, seed+1, …)",
    },
    seeds: { type: "integer", default: 3, min: 1, max: 100, description: "seeds per (problem, optimizer)" },
    horizon: { type: "integer", default: 500, min: 1, max: 100_000, description: "steps per run" },
    fullEvery: {
      type: "integer",
      default: 50,
      min: 0,
      max: 100_000,
      description: "evaluate the full-dataset loss every this many steps (0: only first and last)",
    },
    maxCurvePoints: {
      type: "integer",
      default: 200,
      min: 0,
      max: 100_000,
      description: "keep at most about this many minibatch points per run in eval_curves (0: all)",
    },
    maxProblems: {
      type: "integer",
      default: 0,
      min: 0,
      max: 10_000,
      description: "evaluate at most this many of the tuned problems (0: all)",
    },
    longHorizon: {
      type: "integer",
      default: 0,
      min: 0,
      max: 100000,
      description:
        "also run learned and tuned Adam (first seed) for this many steps, > horizon, and compare " +
        "their improvement from step `horizon` to the end (eval_long; 0: off)",
    },
  },
  profiles: withGpuProfile({
    smoke: { seeds: 1, horizon: 40, fullEvery: 10, maxProblems: 4, longHorizon: 120 },
    default: { seeds: 2, horizon: 300, fullEvery: 50, longHorizon: 3000 },
    paper: { seeds: 5, horizon: 10000, fullEvery: 100 },
  }),
  tables: [
    {
      name: "eval_curves",
      description:
        "learning curves; minibatch points downsampled, full loss every fullEvery steps and at the end",
      columns: [
        { name: "task_id", type: "VARCHAR", description: "held-out task id" },
        { name: "family", type: "VARCHAR", description: "outer problem family" },
        { name: "optimizer", type: "VARCHAR", description: "learned or a baseline name" },
        { name: "seed", type: "INTEGER", description: "run seed (same init and data for every optimizer)" },
        { name: "step", type: "INTEGER", description: "updates applied before this point" },
        {
          name: "minibatch_loss",
          type: "DOUBLE",
          description: "minibatch loss at this step (NULL: not kept)",
        },
        { name: "full_loss", type: "DOUBLE", description: "full-dataset loss (NULL: not evaluated here)" },
      ],
    },
    {
      name: "eval_final",
      description: "one row per evaluation run",
      columns: [
        { name: "task_id", type: "VARCHAR", description: "held-out task id" },
        { name: "family", type: "VARCHAR", description: "outer problem family" },
        { name: "optimizer", type: "VARCHAR", description: "learned or a baseline name" },
        { name: "learning_rate", type: "DOUBLE", description: "tuned rate (NULL for learned)" },
        { name: "seed", type: "INTEGER", description: "run seed" },
        {
          name: "final_loss",
          type: "DOUBLE",
          description: "full loss after the last step (NULL: non-finite)",
        },
        { name: "diverged", type: "BOOLEAN", description: "a non-finite loss stopped the run" },
        { name: "seconds_per_step", type: "DOUBLE", description: "mean seconds of gradient + update" },
      ],
    },
    {
      name: "eval_summary",
      description: "per problem: learned vs the tuned baselines on median final loss over seeds",
      columns: [
        { name: "task_id", type: "VARCHAR", description: "held-out task id" },
        { name: "family", type: "VARCHAR", description: "outer problem family" },
        { name: "best_optimizer", type: "VARCHAR", description: "lowest median final loss (NULL: not run)" },
        {
          name: "learned_median_loss",
          type: "DOUBLE",
          description: "NULL: diverged on most seeds, or not run",
        },
        { name: "best_baseline", type: "VARCHAR", description: "baseline with the lowest median" },
        { name: "best_baseline_median_loss", type: "DOUBLE", description: "NULL: diverged, or not run" },
        {
          name: "ratio",
          type: "DOUBLE",
          description: "learned / best baseline (NULL unless both finite > 0)",
        },
        {
          name: "wins_vs_adam",
          type: "BOOLEAN",
          description: "learned median < adam median (NULL: not tuned)",
        },
        { name: "wins_vs_rmsprop", type: "BOOLEAN", description: "learned median < rmsprop median" },
        { name: "wins_vs_momentum", type: "BOOLEAN", description: "learned median < momentum median" },
        { name: "learned_stand_in", type: "BOOLEAN", description: "the learned weights are a stand-in" },
        { name: "status", type: "VARCHAR", description: "evaluated | not_run" },
        { name: "reason", type: "VARCHAR", description: "why not run (NULL otherwise)" },
      ],
    },
    {
      name: "eval_long",
      description:
        "per problem: learned vs tuned Adam run to longHorizon steps (first seed): progress after " +
        "the evaluation horizon, and the learned optimizer's update size",
      columns: [
        { name: "task_id", type: "VARCHAR", description: "held-out task id" },
        { name: "family", type: "VARCHAR", description: "outer problem family" },
        { name: "horizon", type: "INTEGER", description: "evaluation horizon (steps)" },
        { name: "long_horizon", type: "INTEGER", description: "steps of these runs" },
        { name: "learned_loss_at_horizon", type: "DOUBLE", description: "full loss at step horizon" },
        { name: "learned_final_loss", type: "DOUBLE", description: "full loss at the end (NULL: diverged)" },
        {
          name: "learned_improvement",
          type: "DOUBLE",
          description: "learned loss at horizon / at the end (NULL unless both finite > 0)",
        },
        {
          name: "adam_loss_at_horizon",
          type: "DOUBLE",
          description: "tuned Adam's full loss at step horizon",
        },
        { name: "adam_final_loss", type: "DOUBLE", description: "tuned Adam's full loss at the end" },
        { name: "adam_improvement", type: "DOUBLE", description: "Adam loss at horizon / at the end" },
        {
          name: "improvement_ratio",
          type: "DOUBLE",
          description:
            "learned_improvement / adam_improvement (>= 1: learned kept improving at least as much)",
        },
        {
          name: "learned_update_rms",
          type: "DOUBLE",
          description: "RMS of the learned optimizer's last sampled update",
        },
        { name: "learned_param_rms", type: "DOUBLE", description: "RMS of the parameters at that sample" },
        {
          name: "learned_min_update_rms",
          type: "DOUBLE",
          description: "smallest sampled update RMS of the learned optimizer (every horizon/10 steps)",
        },
        {
          name: "learned_diverged",
          type: "BOOLEAN",
          description: "a non-finite loss stopped the learned run",
        },
        { name: "adam_diverged", type: "BOOLEAN", description: "a non-finite loss stopped the Adam run" },
      ],
    },
  ],
  async run(ctx) {
    await initBackend();
    requireSyncReads("stage eval-problems");
    ctx.log((await import("../models/hrnn/native.ts")).describeFusedEngine());
    const metaDir = ctx.inputs["meta-train"].dir;
    const inputs = {
      tasks: (await readTaskSet(ctx.inputs["generate-tasks"].dir)).tasks,
      tuned: await readTuned(ctx.inputs["tune-baselines"].dir),
      loadLearned: (seed: number) => loadLearnedOptimizer(metaDir, seed),
    };
    const summary = await evaluateHeldout(inputs, ctx.params, stageSink(ctx));
    await Deno.writeTextFile(join(ctx.outDir, SUMMARY_FILE), JSON.stringify(summary, null, 1));
    for (const line of formatSummary(summary)) ctx.log(line);
  },
});
