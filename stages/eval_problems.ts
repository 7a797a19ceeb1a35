/**
 * Stage `eval-problems`: the learned optimizer (from `meta-train`) against each baseline at its tuned learning
 * rate (from `tune-baselines`) on the held-out problems, over several seeds and a horizon longer than the
 * meta-training unrolls. For a seed every optimizer starts from the same initial point and sees the same
 * minibatches and gradient noise (`runRng` in `eval_common.ts`).
 *
 * Writes learning curves (`eval_curves`, minibatch points downsampled), final losses (`eval_final`), a
 * per-problem comparison on median final loss (`eval_summary`), and `summary.json` (win fractions against
 * each tuned baseline, median loss ratios, per-family win table), which is also printed to the log.
 *
 * @module
 */
import { join } from "node:path";
import { defineStage } from "../pipeline/stage.ts";
import { initBackend, requireSyncReads } from "../lib/backend.ts";
import { trainProblem, type TrainRecord } from "../models/inner_loop.ts";
import { type LongHorizonResult, longHorizonRun } from "../models/eval/long_horizon.ts";
import type { Optimizer, OptState } from "../lib/optimizer.ts";
import {
  compareOnProblem,
  downsampleSteps,
  medianLoss,
  medianOfDefined,
  type ProblemComparison,
  rankValue,
} from "../models/eval/stats.ts";
import type { WeightsProvenance } from "../models/hrnn/weights_file.ts";
import { buildProblem } from "../tasks/registry.ts";
import { MAX_SEED } from "../lib/rng.ts";
import type { Problem } from "../tasks/problem.ts";
import { loadLearnedOptimizer } from "../models/optimizers/learned_artifact.ts";
import { readTaskSet, type TaskRecord } from "./task_set.ts";
import {
  baselineAt,
  DatasetCache,
  errorMessage,
  learnedSeed,
  meanSeconds,
  type NotRunProblem,
  readTuned,
  runRng,
  runSeeds,
} from "./eval_common.ts";
import { withGpuProfile } from "./profiles.ts";

/** Name of the learned optimizer in the result tables. */
export const LEARNED = "learned";

/** File name of the summary artifact. */
export const SUMMARY_FILE = "summary.json";

/** Params of {@link evalProblems}. */
export interface EvalProblemsParams extends Record<string, unknown> {
  seed: number;
  seeds: number;
  horizon: number;
  fullEvery: number;
  maxCurvePoints: number;
  maxProblems: number;
  longHorizon: number;
}

/** Per-family win counts of {@link EvalSummary}. */
export interface FamilyWins {
  problems: number;
  /** Problems where the learned median beats the baseline's, per baseline. */
  wins: Record<string, number>;
  /** Problems where the learned median beats every baseline. */
  winsVsBest: number;
}

/** The `summary.json` artifact of `eval-problems`. */
export interface EvalSummary {
  version: 1;
  /** True when the learned optimizer's weights say they are a stand-in (e.g. untrained). */
  learnedStandIn: boolean;
  learnedProvenance: WeightsProvenance;
  /** Which problems were evaluated: `test` (the held-out set) or `valid` (the validation split). */
  split?: "test" | "valid";
  baselines: string[];
  seeds: number[];
  horizon: number;
  tuneHorizon: number;
  /** Problems evaluated. */
  problems: number;
  notRun: NotRunProblem[];
  /** Fraction of evaluated problems where learned beats each tuned baseline (median final loss). */
  winFraction: Record<string, number>;
  /** Fraction where learned beats the best tuned baseline of the problem. */
  winFractionVsBest: number;
  /**
   * Median over problems of learned / baseline median final loss, per baseline and vs the best baseline
   * (`best`); problems where either loss is not finite and > 0 are left out (null: none left).
   */
  medianRatio: Record<string, number | null>;
  perFamily: Record<string, FamilyWins>;
  /**
   * Long-horizon runs (learned vs tuned Adam, first seed, `steps` steps): problems run, and the fraction whose
   * loss improved from the horizon to the end by at least as much with learned as with Adam. Null when off.
   */
  longHorizon?:
    | { steps: number; problems: number; fractionAtLeastAdam: number; medianRatio: number | null }
    | null;
}

/** Rows of `eval_curves` for one run: downsampled minibatch points plus every full-loss evaluation. */
function curveRows(
  base: Record<string, unknown>,
  rec: TrainRecord,
  maxPoints: number,
): Record<string, unknown>[] {
  const full = new Map(rec.fullLoss.map((f) => [f.step, f.value]));
  const steps = new Set<number>(downsampleSteps(rec.minibatchLoss.length, maxPoints));
  for (const s of full.keys()) steps.add(s);
  const fin = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  return [...steps].sort((a, b) => a - b).map((step) => ({
    ...base,
    step,
    minibatch_loss: step < rec.minibatchLoss.length ? fin(rec.minibatchLoss[step]) : null,
    full_loss: full.has(step) ? fin(full.get(step)) : null,
  }));
}

function fmt(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return x === Infinity ? "inf" : "-";
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : x.toFixed(3);
}

/** Text table of the summary for the log. */
export function formatSummary(s: EvalSummary): string[] {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const lines = [
    `learned optimizer${
      s.learnedStandIn ? " (STAND-IN weights: " + (s.learnedProvenance.notes ?? "") + ")" : ""
    }` +
    ` vs tuned baselines on ${s.problems} ${s.split === "valid" ? "validation" : "held-out"} problems, ` +
    `${s.seeds.length} seed(s) × ${s.horizon} steps`,
    `  wins (median final loss): ` +
    s.baselines.map((b) => `vs ${b} ${pct(s.winFraction[b])}`).join(", ") +
    `, vs best baseline ${pct(s.winFractionVsBest)}`,
    `  median loss ratio learned/baseline: ` +
    [...s.baselines, "best"].map((b) => `${b} ${fmt(s.medianRatio[b])}`).join(", "),
    `  per family (learned wins / problems):`,
  ];
  const fams = Object.keys(s.perFamily).sort();
  const w = Math.max(6, ...fams.map((f) => f.length));
  lines.push(`    ${"family".padEnd(w)}  n  ${s.baselines.map((b) => b.padStart(8)).join(" ")}      best`);
  for (const f of fams) {
    const r = s.perFamily[f];
    lines.push(
      `    ${f.padEnd(w)} ${String(r.problems).padStart(2)}  ` +
        s.baselines.map((b) => String(r.wins[b]).padStart(8)).join(" ") +
        `  ${String(r.winsVsBest).padStart(8)}`,
    );
  }
  if (s.longHorizon) {
    lines.push(
      `  long horizon (${s.longHorizon.steps} steps, ${s.longHorizon.problems} problems): learned improves ` +
        `from step ${s.horizon} at least as much as tuned Adam on ${
          pct(s.longHorizon.fractionAtLeastAdam)
        }; ` +
        `median improvement ratio learned/adam ${fmt(s.longHorizon.medianRatio)}`,
    );
  }
  if (s.notRun.length > 0) {
    lines.push(`  not run: ${s.notRun.map((n) => `${n.taskId} (${n.reason})`).join("; ")}`);
  }
  return lines;
}

/** Builds the summary from per-problem comparisons. */
export function summarize(
  comparisons: { family: string; cmp: ProblemComparison }[],
  base: Omit<EvalSummary, "problems" | "winFraction" | "winFractionVsBest" | "medianRatio" | "perFamily">,
): EvalSummary {
  const n = comparisons.length;
  const frac = (k: number) => (n === 0 ? 0 : k / n);
  const winFraction: Record<string, number> = {};
  const medianRatio: Record<string, number | null> = {};
  for (const b of base.baselines) {
    winFraction[b] = frac(comparisons.filter((c) => c.cmp.wins[b]).length);
    medianRatio[b] = medianOfDefined(comparisons.map((c) => c.cmp.ratios[b]));
  }
  const beatsAll = (c: ProblemComparison) => base.baselines.every((b) => c.wins[b]);
  medianRatio.best = medianOfDefined(comparisons.map((c) => c.cmp.ratio));
  const perFamily: Record<string, FamilyWins> = {};
  for (const { family, cmp } of comparisons) {
    const f = perFamily[family] ??= {
      problems: 0,
      wins: Object.fromEntries(base.baselines.map((b) => [b, 0])),
      winsVsBest: 0,
    };
    f.problems++;
    for (const b of base.baselines) if (cmp.wins[b]) f.wins[b]++;
    if (beatsAll(cmp)) f.winsVsBest++;
  }
  return {
    ...base,
    problems: n,
    winFraction,
    winFractionVsBest: frac(comparisons.filter((c) => beatsAll(c.cmp)).length),
    medianRatio,
    perFamily,
  };
}

/** The `eval-problems` stage. */
export const evalProblems = defineStage<EvalProblemsParams>({
  name: "eval-problems",
  description:
    "Learned optimizer vs tuned baselines on the held-out problems (eval_curves, eval_final, eval_summary)",
  deps: ["generate-tasks", "meta-train", "tune-baselines"],
  // 2: the learned optimizer runs the fused WebAssembly kernel at evaluation (same results to float32
  // rounding, faster: seconds-per-step columns change). 3: its native x86-64 build where that loads (again
  // float32 rounding — FMA — and faster).
  // 4: long-horizon runs (eval_long).
  version: "4",
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
    const p = ctx.params;
    await initBackend();
    requireSyncReads("stage eval-problems");
    ctx.log((await import("../models/hrnn/native.ts")).describeFusedEngine());
    const metaDir = ctx.inputs["meta-train"].dir;
    const tuned = await readTuned(ctx.inputs["tune-baselines"].dir);
    const set = await readTaskSet(ctx.inputs["generate-tasks"].dir);
    const byId = new Map<string, TaskRecord>(set.tasks.map((t) => [t.id, t]));
    const baselines = tuned.optimizers;
    const seeds = runSeeds(p.seed, p.seeds);
    const todo = p.maxProblems > 0 ? tuned.problems.slice(0, p.maxProblems) : tuned.problems;
    if (todo.length === 0) {
      throw new Error("eval-problems: tune-baselines tuned no problem; check its selection params and log");
    }
    // Provenance once, to label stand-in weights everywhere.
    const probe = await loadLearnedOptimizer(metaDir, 0);
    const provenance = probe.provenance;
    probe.dispose();
    const standIn = provenance.standIn === true;
    ctx.log(
      `evaluating learned${standIn ? " (STAND-IN weights)" : ""} vs ${baselines.join(", ")} on ` +
        `${todo.length} problems, ${seeds.length} seed(s) × ${p.horizon} steps (tuned for ${tuned.horizon})`,
    );
    if (p.horizon !== tuned.horizon) {
      ctx.log(`note: baselines were tuned for ${tuned.horizon} steps, evaluated for ${p.horizon}`);
    }
    const longOn = p.longHorizon > 0 && baselines.includes("adam");
    if (p.longHorizon > 0 && !longOn) {
      ctx.log("note: longHorizon needs adam among the tuned baselines; skipped");
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
    ctx.progress(0, total, "evaluation runs");

    /** The eval_long row of one problem: learned and tuned Adam, `p.longHorizon` steps from seed `seed`. */
    const longHorizonRow = async (
      task: TaskRecord,
      family: string,
      problem: Problem,
      seed: number,
      adamLr: number,
      momentum: number,
    ): Promise<Record<string, unknown>> => {
      const learned = await loadLearnedOptimizer(metaDir, learnedSeed(task, seed));
      const run = (opt: Optimizer<OptState>) =>
        longHorizonRun({
          problem,
          optimizer: opt,
          horizon: p.horizon,
          longSteps: p.longHorizon,
          rng: runRng(task, "eval", seed),
          signal: ctx.signal,
        });
      let l: LongHorizonResult;
      try {
        l = await run(learned.optimizer as unknown as Optimizer<OptState>);
      } finally {
        learned.dispose();
      }
      const a = await run(baselineAt("adam", adamLr, momentum));
      const fin = (x: number) => (Number.isFinite(x) ? x : null);
      const ratio = Number.isFinite(l.improvement) && Number.isFinite(a.improvement)
        ? l.improvement / a.improvement
        : null;
      ctx.log(
        `${task.id}: ${p.horizon} -> ${p.longHorizon} steps: learned ${fmt(l.lossAtHorizon)} -> ${
          fmt(l.finalLoss)
        } (update rms ${fmt(l.updates.lastUpdateRms)}), adam ${fmt(a.lossAtHorizon)} -> ${fmt(a.finalLoss)}`,
      );
      return {
        task_id: task.id,
        family,
        horizon: p.horizon,
        long_horizon: p.longHorizon,
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
    };

    const datasets = new DatasetCache();
    const notRun: NotRunProblem[] = [...tuned.notRun];
    const comparisons: { family: string; cmp: ProblemComparison }[] = [];
    const notRunRow = (taskId: string, family: string, reason: string) => ({
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
    });
    for (const n of tuned.notRun) {
      await ctx.writeRows("eval_summary", [notRunRow(n.taskId, n.family, n.reason)]);
    }

    for (const tp of todo) {
      const task = byId.get(tp.taskId);
      const family = tp.family;
      const doneBefore = done;
      const skip = async (reason: string) => {
        notRun.push({ taskId: tp.taskId, family, reason });
        ctx.log(`NOT RUN ${tp.taskId}: ${reason}`);
        await ctx.writeRows("eval_summary", [notRunRow(tp.taskId, family, reason)]);
        done = doneBefore + perProblem;
        ctx.progress(done, total, "evaluation runs");
      };
      if (!task) {
        await skip("not in the task set (tune-baselines and generate-tasks disagree; rerun both)");
        continue;
      }
      const ds = await datasets.resolverFor(task.spec);
      if (ds.error) {
        await skip(ds.error);
        continue;
      }
      let problem: Problem;
      try {
        problem = buildProblem(task.spec, { resolveDataset: ds.resolver });
      } catch (e) {
        await skip(`cannot build the problem: ${errorMessage(e)}`);
        continue;
      }
      const curves: Record<string, unknown>[] = [];
      const finals: Record<string, unknown>[] = [];
      const losses: Record<string, number[]> = Object.fromEntries(
        [LEARNED, ...baselines].map((o) => [o, [] as number[]]),
      );
      try {
        for (const seed of seeds) {
          const learned = await loadLearnedOptimizer(metaDir, learnedSeed(task, seed));
          try {
            const runs: { name: string; lr: number | null; opt: Optimizer<OptState> }[] = [
              { name: LEARNED, lr: null, opt: learned.optimizer as unknown as Optimizer<OptState> },
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
                signal: ctx.signal,
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
              ctx.progress(++done, total, "evaluation runs");
            }
          } finally {
            learned.dispose();
          }
        }
        if (longOn) {
          const row = await longHorizonRow(
            task,
            family,
            problem,
            seeds[0],
            tp.learningRate.adam,
            tuned.momentum,
          );
          if (Number.isFinite(row.improvement_ratio)) longRatios.push(row.improvement_ratio as number);
          await ctx.writeRows("eval_long", [row]);
          done += 2;
          ctx.progress(done, total, "evaluation runs");
        }
      } catch (e) {
        problem.dispose();
        if (ctx.signal.aborted) throw e;
        await skip(`run failed: ${errorMessage(e)}`);
        continue;
      }
      problem.dispose();
      const medians = Object.fromEntries(Object.entries(losses).map(([k, v]) => [k, medianLoss(v)]));
      const cmp = compareOnProblem(medians, LEARNED);
      comparisons.push({ family, cmp });
      const fin = (x: number) => (Number.isFinite(x) ? x : null);
      await ctx.writeRows("eval_curves", curves);
      await ctx.writeRows("eval_final", finals);
      await ctx.writeRows("eval_summary", [{
        task_id: task.id,
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
      }]);
      ctx.log(
        `${task.id}: ` + [LEARNED, ...baselines].map((o) => `${o} ${fmt(medians[o])}`).join(", ") +
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
    await Deno.writeTextFile(join(ctx.outDir, SUMMARY_FILE), JSON.stringify(summary, null, 1));
    ctx.progress(total, total, "evaluation runs");
    for (const line of formatSummary(summary)) ctx.log(line);
  },
});
