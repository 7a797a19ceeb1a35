/**
 * The result rows of the held-out evaluation: `eval_curves` points of one run, the `eval_summary` row of a
 * problem (evaluated or not run) and the `eval_long` row of the long-horizon comparison with tuned Adam.
 *
 * @example
 * ```ts
 * import { notRunRow } from "./heldout_rows.ts";
 * await sink.rows("eval_summary", [notRunRow("test/mlp", "mlp", "dataset unavailable", false)]);
 * ```
 *
 * @module
 */
import type { TrainRecord } from "../inner_loop.ts";
import type { Problem } from "../../tasks/problem.ts";
import type { ExperimentSink } from "./sink.ts";
import { type LongHorizonResult, longHorizonRun } from "./long_horizon.ts";
import { baselineAt, type LearnedForRun, learnedSeed, type RunIdentity, runRng } from "./run_setup.ts";
import { downsampleSteps, type ProblemComparison } from "./stats.ts";
import { formatLoss } from "./heldout_summary.ts";

const fin = (x: number) => (Number.isFinite(x) ? x : null);

/**
 * Rows of `eval_curves` for one run: downsampled minibatch points plus every full-loss evaluation.
 *
 * @example
 * ```ts
 * const rows = curveRows({ task_id: "test/q", family: "quadratic", optimizer: "adam", seed: 0 }, rec, 200);
 * ```
 */
export function curveRows(
  base: Record<string, unknown>,
  rec: TrainRecord,
  maxPoints: number,
): Record<string, unknown>[] {
  const full = new Map(rec.fullLoss.map((f) => [f.step, f.value]));
  const steps = new Set<number>(downsampleSteps(rec.minibatchLoss.length, maxPoints));
  for (const s of full.keys()) steps.add(s);
  const finite = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  return [...steps].sort((a, b) => a - b).map((step) => ({
    ...base,
    step,
    minibatch_loss: step < rec.minibatchLoss.length ? finite(rec.minibatchLoss[step]) : null,
    full_loss: full.has(step) ? finite(full.get(step)) : null,
  }));
}

/**
 * The `eval_summary` row of a problem that was not run, with why.
 *
 * @example
 * ```ts
 * notRunRow("test/mlp", "mlp", "external dataset unavailable", false).status; // "not_run"
 * ```
 */
export function notRunRow(taskId: string, family: string, reason: string, standIn: boolean) {
  return {
    task_id: taskId,
    family,
    best_optimizer: null,
    learned_median_loss: null,
    best_baseline: null,
    best_baseline_median_loss: null,
    ratio: null,
    wins_vs_adam: null,
    wins_vs_rmsprop: null,
    wins_vs_momentum: null,
    learned_stand_in: standIn,
    status: "not_run",
    reason,
  };
}

/**
 * The `eval_summary` row of an evaluated problem from its comparison.
 *
 * @example
 * ```ts
 * summaryRow("test/q", "quadratic", compareOnProblem(medians, "learned"), false).status; // "evaluated"
 * ```
 */
export function summaryRow(taskId: string, family: string, cmp: ProblemComparison, standIn: boolean) {
  return {
    task_id: taskId,
    family,
    best_optimizer: cmp.bestOptimizer,
    learned_median_loss: fin(cmp.learnedMedian),
    best_baseline: cmp.bestBaseline,
    best_baseline_median_loss: fin(cmp.bestBaselineMedian),
    ratio: cmp.ratio,
    wins_vs_adam: cmp.wins.adam ?? null,
    wins_vs_rmsprop: cmp.wins.rmsprop ?? null,
    wins_vs_momentum: cmp.wins.momentum ?? null,
    learned_stand_in: standIn,
    status: "evaluated",
    reason: null,
  };
}

/**
 * What {@link longHorizonRow} runs.
 *
 * @example
 * ```ts
 * const job: LongHorizonJob = { task, family, problem, seed: 0, horizon: 300, longSteps: 3000,
 *   loadLearned, adamLearningRate: 1e-3, momentum: 0.9, sink };
 * ```
 */
export interface LongHorizonJob {
  task: RunIdentity;
  family: string;
  problem: Problem;
  /** Run seed (the first evaluation seed). */
  seed: number;
  /** Evaluation horizon (steps). */
  horizon: number;
  /** Steps of both runs. */
  longSteps: number;
  loadLearned(seed: number): Promise<LearnedForRun>;
  adamLearningRate: number;
  momentum: number;
  sink: ExperimentSink;
}

/**
 * The `eval_long` row of one problem: learned and tuned Adam run for `longSteps` steps from the same seed,
 * with their progress from step `horizon` to the end and the learned optimizer's update size.
 *
 * @example
 * ```ts
 * const row = await longHorizonRow(job);
 * row.improvement_ratio; // >= 1: learned kept improving at least as much as Adam
 * ```
 */
export async function longHorizonRow(job: LongHorizonJob): Promise<Record<string, unknown>> {
  const { task, seed, horizon, longSteps, sink } = job;
  const learned = await job.loadLearned(learnedSeed(task, seed));
  const run = (optimizer: LearnedForRun["optimizer"]) =>
    longHorizonRun({
      problem: job.problem,
      optimizer,
      horizon,
      longSteps,
      rng: runRng(task, "eval", seed),
      signal: sink.signal,
    });
  let l: LongHorizonResult;
  try {
    l = await run(learned.optimizer);
  } finally {
    learned.dispose();
  }
  const a = await run(baselineAt("adam", job.adamLearningRate, job.momentum));
  const ratio = Number.isFinite(l.improvement) && Number.isFinite(a.improvement)
    ? l.improvement / a.improvement
    : null;
  sink.log(
    `${task.id}: ${horizon} -> ${longSteps} steps: learned ${formatLoss(l.lossAtHorizon)} -> ${
      formatLoss(l.finalLoss)
    } (update rms ${formatLoss(l.updates.lastUpdateRms)}), adam ${formatLoss(a.lossAtHorizon)} -> ${
      formatLoss(a.finalLoss)
    }`,
  );
  return {
    task_id: task.id,
    family: job.family,
    horizon,
    long_horizon: longSteps,
    learned_loss_at_horizon: fin(l.lossAtHorizon),
    learned_final_loss: fin(l.finalLoss),
    learned_improvement: fin(l.improvement),
    adam_loss_at_horizon: fin(a.lossAtHorizon),
    adam_final_loss: fin(a.finalLoss),
    adam_improvement: fin(a.improvement),
    improvement_ratio: ratio,
    learned_update_rms: fin(l.updates.lastUpdateRms),
    learned_param_rms: fin(l.updates.lastParamRms),
    learned_min_update_rms: fin(l.updates.minUpdateRms),
    learned_diverged: l.diverged,
    adam_diverged: a.diverged,
  };
}
