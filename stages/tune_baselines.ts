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
import { trainProblem } from "../models/inner_loop.ts";
import { logGrid } from "../lib/stats.ts";
import { pickLearningRate, rankValue, type SweepPoint } from "../models/evaluation/stats.ts";
import { buildProblem } from "../tasks/registry.ts";
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
import {
  TUNE_BASELINES_PARAMS,
  TUNE_BASELINES_PROFILES,
  TUNE_BASELINES_TABLES,
  type TuneBaselinesParams,
  validateTuneBaselinesParams,
} from "./tune_baselines_params.ts";
import { CODE_DEPS } from "./code_deps.ts";

/** The `tune-baselines` stage. */
export const tuneBaselines = defineStage<TuneBaselinesParams>({
  name: "tune-baselines",
  description: "Learning-rate sweep of the baselines on the held-out problems (tuning_runs, tuned_lr)",
  deps: ["generate-tasks"],
  version: "1",
  codeDeps: CODE_DEPS.tuneBaselines,
  params: TUNE_BASELINES_PARAMS,
  profiles: TUNE_BASELINES_PROFILES,
  validate: validateTuneBaselinesParams,
  tables: TUNE_BASELINES_TABLES,
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
