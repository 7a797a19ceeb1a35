/**
 * Stage `eval-horizon`: do learned optimizers keep making progress far beyond the horizon they were
 * meta-trained on (the HRNN paper's Figure 2 argument)? Every learned optimizer of the run — the HRNN of
 * `meta-train`, the coordinatewise LSTM of `meta-train-l2l-lstm`, the coordinatewise RNN of `meta-train-crnn`
 * — and the tuned baselines of `tune-baselines` (at their tuned rates) train each held-out problem for `steps`
 * steps, at least 10× the longest meta-training unroll of any of them. The full loss is recorded at
 * log-spaced steps (and at each optimizer's meta-training horizon), with the cumulative seconds of the
 * optimizer's steps, so curves can be drawn against steps or wall-clock time.
 *
 * The runs reuse `longHorizonRun` (`models/evaluation/long_horizon.ts`), which `eval-problems` uses for its learned
 * vs Adam long runs. Every optimizer of a problem starts from the same initial point and sees the same
 * minibatches (`runRng`). Too slow for the default profile's 30-minute budget, so it is not in the default
 * target: `deno task pipeline eval-horizon` runs it (and the two extra meta-trainings), `deno task report`
 * then draws it.
 *
 * @module
 */
import { defineStage } from "../pipeline/stage.ts";
import type { ArtifactRef } from "../pipeline/stage.ts";
import { EVAL_HORIZON_PARAMS, EVAL_HORIZON_PROFILES, type EvalHorizonParams } from "./eval_horizon_params.ts";
import { CODE_DEPS } from "./code_deps.ts";
import { CompletedUnits } from "./completed_units.ts";
import { join } from "node:path";

/** What one long run of `eval-horizon` produced: its rows and its log line. */
interface HorizonUnit {
  curves: Record<string, unknown>[];
  summary: Record<string, unknown>;
  line: string;
}

/** The meta-training stages whose learned optimizers `eval-horizon` compares. */
export const HORIZON_LEARNED_STAGES = ["meta-train", "meta-train-l2l-lstm", "meta-train-crnn"] as const;

/**
 * The longest partial unroll a `meta-train` run trains on: `maxUnrollLength` when capped, else
 * `minUnrollLength + 5·unrollLengthScale` (the exponential part's 99.3rd percentile).
 *
 * @example
 * ```ts
 * metaTrainHorizon({ minUnrollLength: 20, maxUnrollLength: 60, unrollLengthScale: 20 }); // 60
 * ```
 */
export function metaTrainHorizon(p: Record<string, unknown>): number {
  const max = Number(p.maxUnrollLength ?? 0);
  if (max > 0) return max;
  return Number(p.minUnrollLength ?? 0) + 5 * Number(p.unrollLengthScale ?? 0);
}

/** The `eval-horizon` stage. */
export const evalHorizon = defineStage<EvalHorizonParams>({
  name: "eval-horizon",
  description: "Every learned optimizer and the tuned baselines far past the meta-training horizon (≥ 10×)",
  deps: ["generate-tasks", "tune-baselines", ...HORIZON_LEARNED_STAGES],
  version: "1",
  codeDeps: CODE_DEPS.evalHorizon,
  defaultTarget: false,
  params: EVAL_HORIZON_PARAMS,
  profiles: EVAL_HORIZON_PROFILES,
  tables: [
    {
      name: "horizon_curves",
      description: "long-horizon learning curves: full loss at log-spaced steps, per problem and optimizer",
      columns: [
        { name: "task_id", type: "VARCHAR", description: "held-out task id" },
        { name: "family", type: "VARCHAR", description: "outer problem family" },
        { name: "optimizer", type: "VARCHAR", description: "hrnn | l2l-lstm | crnn | a baseline name" },
        { name: "learned", type: "BOOLEAN", description: "a learned optimizer (else a tuned baseline)" },
        { name: "seed", type: "INTEGER", description: "run seed (same init and data for every optimizer)" },
        { name: "step", type: "INTEGER", description: "updates applied before this point" },
        { name: "loss", type: "DOUBLE", description: "full-dataset loss (NULL: non-finite, diverged)" },
        { name: "seconds", type: "DOUBLE", description: "seconds of the optimizer's steps up to this point" },
      ],
    },
    {
      name: "horizon_summary",
      description:
        "per problem and optimizer: loss at the meta-training horizon and at the end of the long run",
      columns: [
        { name: "task_id", type: "VARCHAR", description: "held-out task id" },
        { name: "family", type: "VARCHAR", description: "outer problem family" },
        { name: "optimizer", type: "VARCHAR", description: "hrnn | l2l-lstm | crnn | a baseline name" },
        { name: "learned", type: "BOOLEAN", description: "a learned optimizer (else a tuned baseline)" },
        { name: "meta_stage", type: "VARCHAR", description: "meta-training stage of a learned optimizer" },
        {
          name: "train_horizon",
          type: "INTEGER",
          description: "longest meta-training unroll (learned) or tuning horizon (baselines), steps",
        },
        { name: "steps", type: "INTEGER", description: "steps of the run" },
        { name: "loss_at_train_horizon", type: "DOUBLE", description: "full loss at train_horizon" },
        { name: "final_loss", type: "DOUBLE", description: "full loss at the end (NULL: diverged)" },
        { name: "best_loss", type: "DOUBLE", description: "lowest full loss recorded" },
        {
          name: "improvement",
          type: "DOUBLE",
          description: "loss at train_horizon / final loss (> 1: kept improving past it; NULL: diverged)",
        },
        { name: "diverged", type: "BOOLEAN", description: "a non-finite loss stopped the run" },
        {
          name: "diverged_at_step",
          type: "INTEGER",
          description: "step of the non-finite loss (NULL: none)",
        },
        { name: "final_update_rms", type: "DOUBLE", description: "RMS of the update at the last sample" },
        { name: "seconds_per_step", type: "DOUBLE", description: "mean seconds of gradient + update" },
      ],
    },
  ],
  async run(ctx) {
    const p = ctx.params;
    const { initBackend } = await import("../lib/backend.ts");
    const { longHorizonRun, logSpacedSteps } = await import("../models/evaluation/long_horizon.ts");
    const { buildProblem } = await import("../tasks/registry.ts");
    const { horizonRows } = await import("../models/evaluation/horizon_rows.ts");
    const { loadLearnedOptimizer } = await import("../models/optimizers/learned_artifact.ts");
    const { readTaskSet } = await import("./task_set.ts");
    const { baselineAt, DatasetCache, errorMessage, learnedSeed, readTuned, runRng } = await import(
      "./eval_common.ts"
    );
    await initBackend();
    const tuned = await readTuned(ctx.inputs["tune-baselines"].dir);
    const set = await readTaskSet(ctx.inputs["generate-tasks"].dir);
    const byId = new Map(set.tasks.map((t) => [t.id, t]));
    // The learned optimizers: one per meta-training stage, named by what its weights file holds.
    const learned: { stage: string; ref: ArtifactRef; name: string; horizon: number }[] = [];
    for (const stage of HORIZON_LEARNED_STAGES) {
      const ref = ctx.inputs[stage];
      const probe = await loadLearnedOptimizer(ref.dir, 0);
      probe.dispose();
      const taken = learned.some((l) => l.name === probe.kind);
      learned.push({
        stage,
        ref,
        name: taken ? `${probe.kind} (${stage})` : probe.kind,
        horizon: metaTrainHorizon(ref.params),
      });
    }
    const longest = Math.max(...learned.map((l) => l.horizon));
    if (p.steps < 10 * longest) {
      throw new Error(
        `eval-horizon: steps=${p.steps} must be at least 10x the longest meta-training unroll (${longest} ` +
          `steps, ${learned.find((l) => l.horizon === longest)!.stage}): set eval-horizon.steps >= ${
            10 * longest
          }`,
      );
    }
    const todo = p.maxProblems > 0 ? tuned.problems.slice(0, p.maxProblems) : tuned.problems;
    if (todo.length === 0) throw new Error("eval-horizon: tune-baselines tuned no problem; check its log");
    const marks = [...learned.map((l) => l.horizon), tuned.horizon];
    const curveSteps = logSpacedSteps(p.steps, p.curvePoints, marks);
    const runsPer = learned.length + tuned.optimizers.length;
    ctx.log(
      `${todo.length} problems x ${runsPer} optimizers (${
        learned.map((l) =>
          `${l.name}: trained on <= ${l.horizon} ` +
          "steps"
        ).join(", ")
      }; ${tuned.optimizers.join(", ")} tuned for ${tuned.horizon}) x ${p.steps} steps`,
    );
    const total = todo.length * runsPer;
    let done = 0;
    ctx.progress(0, total, "long runs");
    const datasets = new DatasetCache();
    // Each long run is a unit recorded when done, so a killed run resumes with the runs it has not finished.
    const units = new CompletedUnits(join(ctx.resultsDir, "checkpoints", "eval-horizon", ctx.key), ctx.log);
    for (const tp of todo) {
      const task = byId.get(tp.taskId);
      const ds = task ? await datasets.resolverFor(task.spec) : { error: "not in the task set" };
      if (!task || ds.error) {
        ctx.log(`NOT RUN ${tp.taskId}: ${ds.error}`);
        done += runsPer;
        continue;
      }
      let problem;
      try {
        problem = buildProblem(task.spec, { resolveDataset: ds.resolver });
      } catch (e) {
        ctx.log(`NOT RUN ${tp.taskId}: cannot build the problem: ${errorMessage(e)}`);
        done += runsPer;
        continue;
      }
      try {
        const runs = [
          ...learned.map((l) => ({
            name: l.name,
            isLearned: true,
            stage: l.stage,
            ref: l.ref,
            ref0: l.horizon,
          })),
          ...tuned.optimizers.map((b) => ({
            name: b,
            isLearned: false,
            stage: null,
            ref: null,
            ref0: tuned.horizon,
          })),
        ];
        for (const r of runs) {
          ctx.signal.throwIfAborted();
          const unit = `${task.id} ${r.name}`;
          const replayed = await units.get<HorizonUnit>(unit);
          if (replayed) {
            await ctx.writeRows("horizon_curves", replayed.curves);
            await ctx.writeRows("horizon_summary", [replayed.summary]);
            ctx.log(`${replayed.line} (finished by an earlier run of this stage; rows replayed)`);
            ctx.progress(++done, total, "long runs");
            continue;
          }
          const loaded = r.ref ? await loadLearnedOptimizer(r.ref.dir, learnedSeed(task, p.seed)) : null;
          try {
            const optimizer = loaded
              ? loaded.optimizer
              : baselineAt(r.name, tp.learningRate[r.name], tuned.momentum);
            const res = await longHorizonRun({
              problem,
              optimizer,
              horizon: r.ref0,
              longSteps: p.steps,
              rng: runRng(task, "eval", p.seed),
              curveSteps,
              signal: ctx.signal,
            });
            const { curves, summary, s } = horizonRows(
              {
                taskId: task.id,
                family: tp.family,
                optimizer: r.name,
                learned: r.isLearned,
                metaStage: r.stage,
                trainHorizon: r.ref0,
                seed: p.seed,
                steps: p.steps,
              },
              res,
              curveSteps,
            );
            const line = `${task.id} ${r.name}: loss at ${r.ref0} ${
              s.lossAtRef?.toExponential(3) ?? "-"
            }, at ${p.steps} ${
              res.diverged ? `diverged (step ${res.divergedAtStep})` : s.finalLoss?.toExponential(3)
            }`;
            await units.put<HorizonUnit>(unit, { curves, summary, line });
            await ctx.writeRows("horizon_curves", curves);
            await ctx.writeRows("horizon_summary", [summary]);
            ctx.log(line);
          } catch (e) {
            if (ctx.signal.aborted) throw e;
            ctx.log(`NOT RUN ${task.id} ${r.name}: ${errorMessage(e)}`);
          } finally {
            loaded?.dispose();
          }
          ctx.progress(++done, total, "long runs");
        }
      } finally {
        problem.dispose();
      }
    }
    await units.clear();
  },
});
