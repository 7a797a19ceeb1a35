/**
 * Stage `tune-baselines`: for each held-out problem and each hand-designed baseline, sweeps the learning rate
 * on a log grid and keeps the rate with the lowest median final full-dataset loss (diverged runs count as
 * +∞; ties and all-diverged sweeps go to the smallest rate). Writes every run (`tuning_runs`), the picks
 * (`tuned_lr`) and `tuned.json`, which `eval-problems` reads.
 *
 * It depends on `generate-tasks` only, so it stays cached when the learned optimizer changes. A seed fixes
 * the initial point, minibatches and gradient noise of a run independently of the optimizer and learning
 * rate (see `runRng` in `eval_common.ts`), so every grid point of a seed sees the same data.
 *
 * @module
 */
import { join } from "node:path";
import { defineStage } from "../pipeline/stage.ts";
import { initBackend, requireSyncReads } from "../lib/backend.ts";
import { BASELINE_NAMES } from "../models/optimizers/baselines.ts";
import { trainProblem } from "../models/inner_loop.ts";
import { logGrid, pickLearningRate, rankValue, type SweepPoint } from "../models/eval/stats.ts";
import { buildProblem, familyNames } from "../tasks/registry.ts";
import { MAX_SEED } from "../lib/rng.ts";
import type { Problem } from "../tasks/problem.ts";
import { readTaskSet } from "./task_set.ts";
import {
  baselineAt,
  DatasetCache,
  errorMessage,
  type NotRunProblem,
  readTaskDims,
  runRng,
  runSeeds,
  selectProblems,
  TUNED_FILE,
  type TunedFile,
  type TunedProblem,
} from "./eval_common.ts";
import { withGpuProfile } from "./profiles.ts";

/** Params of {@link tuneBaselines}. */
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

/** The `tune-baselines` stage. */
export const tuneBaselines = defineStage<TuneBaselinesParams>({
  name: "tune-baselines",
  description: "Learning-rate sweep of the baselines on the held-out problems (tuning_runs, tuned_lr)",
  deps: ["generate-tasks"],
  version: "1",
  params: {
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
  },
  profiles: withGpuProfile({
    smoke: { lrPoints: 3, lrMin: 1e-3, lrMax: 1e-1, horizon: 40, maxProblems: 4 },
    default: { lrPoints: 7, horizon: 300, maxDims: 10000 },
    paper: { lrMin: 1e-6, lrMax: 10, lrPoints: 22, tuneSeeds: 5, horizon: 10000 },
  }),
  validate(p) {
    if (p.optimizers.length === 0) throw new Error("optimizers=[] names no baseline to tune");
    if (p.lrMin > p.lrMax) throw new Error(`lrMin=${p.lrMin} must be at most lrMax=${p.lrMax}`);
  },
  tables: [
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
  ],
  async run(ctx) {
    const p = ctx.params;
    await initBackend();
    requireSyncReads("stage tune-baselines");
    const grid = logGrid(p.lrMin, p.lrMax, p.lrPoints);
    const seeds = runSeeds(p.seed, p.tuneSeeds);
    const tasksDir = ctx.inputs["generate-tasks"].dir;
    const set = await readTaskSet(tasksDir);
    const { selected, excluded } = selectProblems(set.tasks, p, await readTaskDims(tasksDir));
    if (selected.length === 0) {
      throw new Error(
        `tune-baselines: no ${p.split}-split problem selected; check the tasks/skipFamilies/maxDims/maxProblems ` +
          "params",
      );
    }
    ctx.log(
      `tuning ${p.optimizers.join(", ")} on ${selected.length} ${
        p.split === "valid" ? "validation" : "held-out"
      } problems ` +
        `(${excluded.length} excluded by params); lr grid ${grid.join(", ")}; ` +
        `${seeds.length} seed(s) × ${p.horizon} steps`,
    );
    const perProblem = p.optimizers.length * grid.length * seeds.length;
    const total = selected.length * perProblem;
    let done = 0;
    ctx.progress(0, total, "tuning runs");

    const datasets = new DatasetCache();
    const problems: TunedProblem[] = [];
    const notRun: NotRunProblem[] = [];
    const started = performance.now();
    for (const task of selected) {
      const family = task.spec.family;
      const skip = async (reason: string) => {
        notRun.push({ taskId: task.id, family, reason });
        ctx.log(`NOT RUN ${task.id}: ${reason}`);
        await ctx.writeRows(
          "tuned_lr",
          p.optimizers.map((optimizer) => ({
            task_id: task.id,
            family,
            optimizer,
            learning_rate: null,
            median_final_loss: null,
            status: "not_run",
            reason,
          })),
        );
        done += perProblem;
        ctx.progress(done, total, "tuning runs");
      };
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
      const dims = problem.paramShapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
      if (p.maxDims > 0 && dims > p.maxDims) {
        problem.dispose();
        excluded.push({ taskId: task.id, family, reason: `${dims} dims > maxDims ${p.maxDims}` });
        done += perProblem;
        continue;
      }
      const doneBefore = done;
      const runRows: Record<string, unknown>[] = [];
      const tunedRows: Record<string, unknown>[] = [];
      const result: TunedProblem = {
        taskId: task.id,
        family,
        learningRate: {},
        medianFinalLoss: {},
        allDiverged: [],
      };
      try {
        for (const name of p.optimizers) {
          const sweep: SweepPoint[] = [];
          for (const lr of grid) {
            const optimizer = baselineAt(name, lr, p.momentum);
            const losses: number[] = [];
            for (const seed of seeds) {
              const rec = await trainProblem({
                problem,
                optimizer,
                steps: p.horizon,
                rng: runRng(task, "tune", seed),
                signal: ctx.signal,
              });
              losses.push(rankValue(rec.finalFullLoss, rec.diverged));
              runRows.push({
                task_id: task.id,
                family,
                optimizer: name,
                learning_rate: lr,
                seed,
                final_loss: Number.isFinite(rec.finalFullLoss) ? rec.finalFullLoss : null,
                diverged: rec.diverged,
                steps_run: rec.stepsRun,
                seconds: rec.wallSeconds,
              });
              ctx.progress(++done, total, "tuning runs");
            }
            sweep.push({ learningRate: lr, losses });
          }
          const pick = pickLearningRate(sweep);
          const median = Number.isFinite(pick.medianLoss) ? pick.medianLoss : null;
          result.learningRate[name] = pick.learningRate;
          result.medianFinalLoss[name] = median;
          if (pick.allDiverged) result.allDiverged.push(name);
          tunedRows.push({
            task_id: task.id,
            family,
            optimizer: name,
            learning_rate: pick.learningRate,
            median_final_loss: median,
            status: pick.allDiverged ? "all_diverged" : "tuned",
            reason: null,
          });
        }
      } catch (e) {
        problem.dispose();
        if (ctx.signal.aborted) throw e;
        // A failure of the problem's own code (not a divergence, which trainProblem records): keep going
        // with the other problems and say so everywhere.
        done = doneBefore;
        await skip(`run failed: ${errorMessage(e)}`);
        continue;
      }
      problem.dispose();
      problems.push(result);
      await ctx.writeRows("tuning_runs", runRows);
      await ctx.writeRows("tuned_lr", tunedRows);
      ctx.log(
        `${task.id}: ` +
          p.optimizers.map((o) =>
            `${o} lr=${result.learningRate[o]} loss=${
              result.medianFinalLoss[o]?.toPrecision(4) ?? "diverged"
            }`
          ).join(", "),
      );
    }
    const tuned: TunedFile = {
      version: 1,
      optimizers: p.optimizers,
      momentum: p.momentum,
      grid,
      horizon: p.horizon,
      seeds,
      problems,
      notRun,
      excluded,
    };
    await Deno.writeTextFile(join(ctx.outDir, TUNED_FILE), JSON.stringify(tuned, null, 1));
    ctx.progress(total, total, "tuning runs");
    ctx.log(
      `tuned ${problems.length} problems, ${notRun.length} not run, ${excluded.length} excluded ` +
        `in ${((performance.now() - started) / 1000).toFixed(1)}s`,
    );
  },
});
