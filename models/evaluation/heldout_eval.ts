/**
 * The held-out evaluation experiment: the learned optimizer against each baseline at its tuned learning rate
 * on every tuned problem, over several seeds, with an optional long-horizon comparison against tuned Adam.
 * For a seed every optimizer starts from the same initial point and sees the same minibatches and gradient
 * noise ({@link runRng}). It writes the rows of `eval_curves`, `eval_final`, `eval_summary` and `eval_long`
 * through an {@link ExperimentSink} and returns the {@link EvalSummary}.
 *
 * @example
 * ```ts
 * import { evaluateHeldout } from "./heldout_eval.ts";
 * const summary = await evaluateHeldout({ tasks, tuned, loadLearned }, settings, sink);
 * ```
 *
 * @module
 */
import { LEARNED_OPTIMIZER_NAME } from "../../lib/optimizer.ts";
import type { Optimizer } from "../../lib/optimizer.ts";
import { trainProblem } from "../inner_loop.ts";
import type { ProblemSpec } from "../../tasks/problem.ts";
import type { ExperimentSink } from "./sink.ts";
import {
  baselineAt,
  DatasetCache,
  errorMessage,
  type LearnedForRun,
  learnedSeed,
  meanSeconds,
  type NotRunProblem,
  type RunIdentity,
  runRng,
  runSeeds,
} from "./run_setup.ts";
import { compareOnProblem, medianLoss, medianOfDefined, type ProblemComparison, rankValue } from "./stats.ts";
import { type EvalSummary, formatLoss, summarize } from "./heldout_summary.ts";
import { curveRows, longHorizonRow, notRunRow, summaryRow } from "./heldout_rows.ts";

const LEARNED = LEARNED_OPTIMIZER_NAME;

/**
 * Settings of {@link evaluateHeldout} (the `eval-problems` params).
 *
 * @example
 * ```ts
 * const s: HeldoutEvalSettings = {
 *   seed: 0, seeds: 3, horizon: 500, fullEvery: 50, maxCurvePoints: 200, maxProblems: 0, longHorizon: 0,
 * };
 * ```
 */
export interface HeldoutEvalSettings {
  /** First evaluation seed (seeds are seed, seed+1, …). */
  seed: number;
  /** Seeds per (problem, optimizer). */
  seeds: number;
  /** Steps per run. */
  horizon: number;
  /** Full-dataset loss every this many steps (0: only first and last). */
  fullEvery: number;
  /** At most about this many minibatch points per run in `eval_curves` (0: all). */
  maxCurvePoints: number;
  /** At most this many of the tuned problems (0: all). */
  maxProblems: number;
  /** Steps of the long-horizon runs of learned and tuned Adam (0: off; else > horizon). */
  longHorizon: number;
}

/**
 * A problem of the task set as the evaluation needs it.
 *
 * @example
 * ```ts
 * const t: HeldoutTask = { id: "test/quadratic_10", initSeed: 7, spec };
 * ```
 */
export interface HeldoutTask extends RunIdentity {
  spec: ProblemSpec;
}

/**
 * The tuning result the evaluation reads (the `tuned.json` artifact of `tune-baselines`).
 *
 * @example
 * ```ts
 * const tuned: TunedRates = { optimizers: ["adam"], momentum: 0.9, horizon: 500, problems: [], notRun: [] };
 * ```
 */
export interface TunedRates {
  /** Baselines tuned, in order. */
  optimizers: string[];
  /** Momentum coefficient of the momentum baselines. */
  momentum: number;
  /** Steps per tuning run. */
  horizon: number;
  /** Tuned problems in order, with the chosen learning rate per baseline. */
  problems: { taskId: string; family: string; learningRate: Record<string, number> }[];
  /** Problems tuning could not run. */
  notRun: NotRunProblem[];
}

/**
 * What {@link evaluateHeldout} evaluates.
 *
 * @example
 * ```ts
 * const inputs: HeldoutEvalInputs = { tasks: set.tasks, tuned, loadLearned: (s) => load(dir, s) };
 * ```
 */
export interface HeldoutEvalInputs {
  /** The task set (looked up by id). */
  tasks: readonly HeldoutTask[];
  tuned: TunedRates;
  /** Loads the learned optimizer with `seed` seeding its random initial learning rates. */
  loadLearned(seed: number): Promise<LearnedForRun>;
}

/**
 * Runs the held-out evaluation (see the module doc) and returns its summary.
 *
 * @example
 * ```ts
 * const summary = await evaluateHeldout(inputs, settings, sink);
 * summary.winFractionVsBest; // fraction of problems where learned beats every tuned baseline
 * ```
 */
export async function evaluateHeldout(
  inputs: HeldoutEvalInputs,
  p: HeldoutEvalSettings,
  sink: ExperimentSink,
): Promise<EvalSummary> {
  const { tuned, loadLearned } = inputs;
  const byId = new Map<string, HeldoutTask>(inputs.tasks.map((t) => [t.id, t]));
  const baselines = tuned.optimizers;
  const seeds = runSeeds(p.seed, p.seeds);
  const todo = p.maxProblems > 0 ? tuned.problems.slice(0, p.maxProblems) : tuned.problems;
  if (todo.length === 0) {
    throw new Error("eval-problems: tune-baselines tuned no problem; check its selection params and log");
  }
  // Provenance once, to label stand-in weights everywhere.
  const probe = await loadLearned(0);
  const provenance = probe.provenance;
  probe.dispose();
  const standIn = provenance.standIn === true;
  sink.log(
    `evaluating learned${standIn ? " (STAND-IN weights)" : ""} vs ${baselines.join(", ")} on ` +
      `${todo.length} problems, ${seeds.length} seed(s) × ${p.horizon} steps (tuned for ${tuned.horizon})`,
  );
  if (p.horizon !== tuned.horizon) {
    sink.log(`note: baselines were tuned for ${tuned.horizon} steps, evaluated for ${p.horizon}`);
  }
  const longOn = p.longHorizon > 0 && baselines.includes("adam");
  if (p.longHorizon > 0 && !longOn) {
    sink.log("note: longHorizon needs adam among the tuned baselines; skipped");
  }
  if (longOn && p.longHorizon <= p.horizon) {
    throw new Error(
      `eval-problems: longHorizon (${p.longHorizon}) must exceed horizon (${p.horizon}), or be 0`,
    );
  }
  const longRatios: number[] = [];
  const perProblem = seeds.length * (1 + baselines.length) + (longOn ? 2 : 0);
  const total = todo.length * perProblem;
  let done = 0;
  sink.progress(0, total, "evaluation runs");

  const datasets = new DatasetCache();
  const notRun: NotRunProblem[] = [...tuned.notRun];
  const comparisons: { family: string; cmp: ProblemComparison }[] = [];
  for (const n of tuned.notRun) {
    await sink.rows("eval_summary", [notRunRow(n.taskId, n.family, n.reason, standIn)]);
  }

  for (const tp of todo) {
    const task = byId.get(tp.taskId);
    const family = tp.family;
    const doneBefore = done;
    const skip = async (reason: string) => {
      notRun.push({ taskId: tp.taskId, family, reason });
      sink.log(`NOT RUN ${tp.taskId}: ${reason}`);
      await sink.rows("eval_summary", [notRunRow(tp.taskId, family, reason, standIn)]);
      done = doneBefore + perProblem;
      sink.progress(done, total, "evaluation runs");
    };
    if (!task) {
      await skip("not in the task set (tune-baselines and generate-tasks disagree; rerun both)");
      continue;
    }
    const built = await datasets.build(task.spec);
    if (built.reason !== undefined) {
      await skip(built.reason);
      continue;
    }
    const problem = built.problem;
    const curves: Record<string, unknown>[] = [];
    const finals: Record<string, unknown>[] = [];
    const losses: Record<string, number[]> = Object.fromEntries(
      [LEARNED, ...baselines].map((o) => [o, [] as number[]]),
    );
    try {
      for (const seed of seeds) {
        const learned = await loadLearned(learnedSeed(task, seed));
        try {
          const runs: { name: string; lr: number | null; opt: Optimizer }[] = [
            { name: LEARNED, lr: null, opt: learned.optimizer },
            ...baselines.map((b) => ({
              name: b,
              lr: tp.learningRate[b],
              opt: baselineAt(b, tp.learningRate[b], tuned.momentum),
            })),
          ];
          for (const run of runs) {
            const rec = await trainProblem({
              problem,
              optimizer: run.opt,
              steps: p.horizon,
              rng: runRng(task, "eval", seed),
              fullEvery: p.fullEvery,
              signal: sink.signal,
            });
            const base = { task_id: task.id, family, optimizer: run.name, seed };
            curves.push(...curveRows(base, rec, p.maxCurvePoints));
            finals.push({
              ...base,
              learning_rate: run.lr,
              final_loss: Number.isFinite(rec.finalFullLoss) ? rec.finalFullLoss : null,
              diverged: rec.diverged,
              seconds_per_step: meanSeconds(rec.stepSeconds),
            });
            losses[run.name].push(rankValue(rec.finalFullLoss, rec.diverged));
            sink.progress(++done, total, "evaluation runs");
          }
        } finally {
          learned.dispose();
        }
      }
      if (longOn) {
        const row = await longHorizonRow({
          task,
          family,
          problem,
          seed: seeds[0],
          horizon: p.horizon,
          longSteps: p.longHorizon,
          loadLearned,
          adamLearningRate: tp.learningRate.adam,
          momentum: tuned.momentum,
          sink,
        });
        if (Number.isFinite(row.improvement_ratio)) longRatios.push(row.improvement_ratio as number);
        await sink.rows("eval_long", [row]);
        done += 2;
        sink.progress(done, total, "evaluation runs");
      }
    } catch (e) {
      problem.dispose();
      if (sink.signal?.aborted) throw e;
      await skip(`run failed: ${errorMessage(e)}`);
      continue;
    }
    problem.dispose();
    const medians = Object.fromEntries(Object.entries(losses).map(([k, v]) => [k, medianLoss(v)]));
    const cmp = compareOnProblem(medians, LEARNED);
    comparisons.push({ family, cmp });
    await sink.rows("eval_curves", curves);
    await sink.rows("eval_final", finals);
    await sink.rows("eval_summary", [summaryRow(task.id, family, cmp, standIn)]);
    sink.log(
      `${task.id}: ` + [LEARNED, ...baselines].map((o) => `${o} ${formatLoss(medians[o])}`).join(", ") +
        ` -> best ${cmp.bestOptimizer}`,
    );
  }
  const summary = summarize(comparisons, {
    split: todo.some((t) => t.taskId.startsWith("valid/")) ? "valid" : "test",
    longHorizon: longOn
      ? {
        steps: p.longHorizon,
        problems: longRatios.length,
        fractionAtLeastAdam: longRatios.length
          ? longRatios.filter((r) => r >= 1).length / longRatios.length
          : 0,
        medianRatio: medianOfDefined(longRatios),
      }
      : null,
    version: 1,
    learnedStandIn: standIn,
    learnedProvenance: provenance,
    baselines,
    seeds,
    horizon: p.horizon,
    tuneHorizon: tuned.horizon,
    notRun,
  });
  sink.progress(total, total, "evaluation runs");
  return summary;
}
