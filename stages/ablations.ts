/**
 * Stage `ablations`: does each feature of the HRNN matter? It meta-trains the full model and variants with one
 * feature off at a time (attention: on, the one feature the paper's configuration leaves off), each for the
 * same reduced budget (`metaSteps`) and the same `seeds`, on meta-train's ensemble and settings (its resolved
 * params, with the variant's overrides), then evaluates every trained optimizer and tuned Adam on the held-out
 * problems tune-baselines tuned, one run each, for tune-baselines' horizon.
 *
 * A variant is a set of overrides: HRNN config options (`hrnn`) and/or meta-train params (`metaTrain`). The
 * built-in ones are {@link ABLATIONS}; `--set ablations.extraVariants='{"mine": {"hrnn": {...}}}'` adds more.
 * Too slow for the default target (13 meta-trainings × 3 seeds): `deno task pipeline ablations` runs it.
 *
 * @module
 */
import { defineStage } from "../pipeline/stage.ts";
import type { HrnnConfig } from "../models/hrnn/config.ts";
import type { MetaTrainParams } from "./meta_train_settings.ts";
import { ABLATIONS, type AblationVariant, variantSettings } from "./ablation_variants.ts";
import { ABLATIONS_PARAMS, ABLATIONS_PROFILES, type AblationsParams } from "./ablations_params.ts";
import type { TaskRecord } from "./task_set.ts";
import type { Problem } from "../tasks/problem.ts";
import { CODE_DEPS } from "./code_deps.ts";
import { CompletedUnits } from "./completed_units.ts";
import { join } from "node:path";

/** What one (variant, seed) of `ablations` produced: its rows and the figures its summary is built from. */
interface AblationUnit {
  runs: Record<string, unknown>[];
  losses: (number | null)[];
  metaLosses: number[];
  summary: Record<string, unknown>;
}

/** The `ablations` stage. */
export const ablationsStage = defineStage<AblationsParams>({
  name: "ablations",
  description:
    "HRNN variants with one feature off at a time vs the full model, same reduced budget and seeds",
  deps: ["generate-tasks", "meta-train", "tune-baselines"],
  version: "1",
  codeDeps: CODE_DEPS.ablations,
  defaultTarget: false,
  params: ABLATIONS_PARAMS,
  profiles: ABLATIONS_PROFILES,
  tables: [
    {
      name: "ablation_runs",
      description: "final loss of every trained variant, the full model and tuned Adam per held-out problem",
      columns: [
        {
          name: "variant",
          type: "VARCHAR",
          description: "ablation name (full: the full model; adam: tuned Adam)",
        },
        { name: "seed", type: "INTEGER", description: "meta-training seed (NULL for adam)" },
        { name: "task_id", type: "VARCHAR", description: "held-out task id" },
        { name: "family", type: "VARCHAR", description: "outer problem family" },
        { name: "final_loss", type: "DOUBLE", description: "full loss after the horizon (NULL: diverged)" },
        { name: "diverged", type: "BOOLEAN", description: "a non-finite loss stopped the run" },
      ],
    },
    {
      name: "ablation_summary",
      description: "per variant and meta-training seed: wins vs tuned Adam, loss ratio vs the full model",
      columns: [
        { name: "variant", type: "VARCHAR", description: "ablation name" },
        { name: "description", type: "VARCHAR", description: "what the variant changes" },
        { name: "seed", type: "INTEGER", description: "meta-training seed (the full model has the same)" },
        { name: "meta_steps", type: "INTEGER", description: "meta-steps trained (the reduced budget)" },
        { name: "problems", type: "INTEGER", description: "held-out problems evaluated" },
        {
          name: "wins_vs_adam",
          type: "INTEGER",
          description: "problems where its final loss < tuned Adam's",
        },
        {
          name: "median_ratio_vs_full",
          type: "DOUBLE",
          description: "median over problems of its final loss / the full model's (same seed; > 1: worse)",
        },
        { name: "divergences", type: "INTEGER", description: "problems where its run diverged" },
        {
          name: "meta_loss_last",
          type: "DOUBLE",
          description: "mean meta-loss of the last tenth of training",
        },
      ],
    },
  ],
  async run(ctx) {
    const p = ctx.params;
    const { initBackend } = await import("../lib/backend.ts");
    const { buildProblem } = await import("../tasks/registry.ts");
    const { preloadDatasets } = await import("../tasks/external.ts");
    const { hrnnLearnedOptimizer } = await import("../models/optimizers/hrnn_learned.ts");
    const { makeHrnn } = await import("../models/hrnn/hrnn.ts");
    const { metaTrain } = await import("../models/metatrain/meta_train.ts");
    const { trainProblem } = await import("../models/inner_loop.ts");
    const { metaTrainSettings } = await import("./meta_train_settings.ts");
    const { ablationFigures } = await import("../models/evaluation/ablation_summary.ts");
    const { readTaskSet } = await import("./task_set.ts");
    const { baselineAt, DatasetCache, learnedSeed, readTaskDims, readTuned, runRng } = await import(
      "./eval_common.ts"
    );
    await initBackend();
    const base = ctx.inputs["meta-train"].params as MetaTrainParams;
    if (base.optimizer !== undefined && base.optimizer !== "hrnn") {
      throw new Error(`ablations: meta-train.optimizer is ${base.optimizer}; ablations are of the HRNN`);
    }
    const variants: [string, AblationVariant][] = [
      ["full", ABLATIONS.full],
      ...p.variants.map((n) => [n, ABLATIONS[n]] as [string, AblationVariant]),
      ...Object.entries(p.extraVariants).map(([n, v]) =>
        [n, { description: "user variant", ...v }] as [string, AblationVariant]
      ),
    ];
    const set = await readTaskSet(ctx.inputs["generate-tasks"].dir);
    const dims = await readTaskDims(ctx.inputs["generate-tasks"].dir);
    const all = set.tasks.filter((t) => t.split === "train");
    const train = base.maxTaskDims > 0
      ? all.filter((t) => (dims.get(t.id) ?? Infinity) <= base.maxTaskDims)
      : all;
    const resolveDataset = await preloadDatasets(train.map((t) => t.spec));
    const tuned = await readTuned(ctx.inputs["tune-baselines"].dir);
    const byId = new Map(set.tasks.map((t) => [t.id, t]));
    const todo = (p.maxProblems > 0 ? tuned.problems.slice(0, p.maxProblems) : tuned.problems).filter((tp) =>
      byId.has(tp.taskId)
    );
    if (!tuned.optimizers.includes("adam")) throw new Error("ablations: tune-baselines did not tune adam");
    const seeds = Array.from({ length: p.seeds }, (_, i) => p.seed + i);
    ctx.log(
      `${variants.length} variants x ${seeds.length} seeds x ${p.metaSteps} meta-steps on ${train.length} ` +
        `training problems; evaluated on ${todo.length} held-out problems for ${tuned.horizon} steps`,
    );
    const total = variants.length * seeds.length;
    let done = 0;
    ctx.progress(0, total, "variants trained");

    // Problems once, for every evaluation.
    const datasets = new DatasetCache();
    const problems: { tp: (typeof todo)[number]; task: TaskRecord; problem: Problem }[] = [];
    for (const tp of todo) {
      const task = byId.get(tp.taskId)!;
      const ds = await datasets.resolverFor(task.spec);
      if (ds.error) {
        ctx.log(`NOT RUN ${tp.taskId}: ${ds.error}`);
        continue;
      }
      problems.push({ tp, task, problem: buildProblem(task.spec, { resolveDataset: ds.resolver }) });
    }
    const evalRun = async (
      opt: Parameters<typeof trainProblem>[0]["optimizer"],
      task: (typeof problems)[0],
    ) => {
      const rec = await trainProblem({
        problem: task.problem,
        optimizer: opt,
        steps: tuned.horizon,
        rng: runRng(task.task, "eval", 0),
        signal: ctx.signal,
      });
      return {
        loss: rec.diverged || !Number.isFinite(rec.finalFullLoss) ? null : rec.finalFullLoss,
        diverged: rec.diverged,
      };
    };
    /** Meta-trains one variant for one seed (resuming its own checkpoints) and evaluates it. */
    const trainAndEvaluate = async (
      name: string,
      v: AblationVariant,
      params: MetaTrainParams,
      hrnn: Partial<HrnnConfig>,
      seed: number,
      unit: string,
    ): Promise<AblationUnit> => {
      const learned = hrnnLearnedOptimizer(hrnn, { kernel: params.kernel as "auto" | "ops" });
      const result = await metaTrain({
        learned,
        problems: { specs: train.map((t) => t.spec), build: (s) => buildProblem(s, { resolveDataset }) },
        ...metaTrainSettings(params),
        seed,
        maxMetaSteps: p.metaSteps,
        checkpointDir: units.scratchDirOf(unit),
        checkpointEvery: params.checkpointEvery,
        signal: ctx.signal,
      });
      const runs: Record<string, unknown>[] = [];
      const losses: (number | null)[] = [];
      let divergences = 0;
      try {
        for (const t of problems) {
          const opt = makeHrnn(result.metaParams, learned.config as HrnnConfig, {
            seed: learnedSeed(t.task, 0),
            name,
          });
          const r = await evalRun(opt, t);
          losses.push(r.loss);
          if (r.diverged) divergences++;
          runs.push({
            variant: name,
            seed,
            task_id: t.task.id,
            family: t.tp.family,
            final_loss: r.loss,
            diverged: r.diverged,
          });
        }
      } finally {
        Object.values(result.metaParams).forEach((x) => x.dispose());
      }
      return {
        runs,
        losses,
        metaLosses: result.curve.map((c) => c.meta_loss),
        summary: {
          variant: name,
          description: v.description,
          seed,
          meta_steps: result.metaSteps,
          problems: problems.length,
          divergences,
        },
      };
    };
    // Each meta-training and its evaluation is a unit recorded when done, so a killed run resumes.
    const units = new CompletedUnits(join(ctx.resultsDir, "checkpoints", "ablations", ctx.key), ctx.log);
    type RunRow = Record<string, unknown>;
    /** Tuned Adam's run on every evaluation problem (the reference the ablation figures compare with). */
    const evaluateAdam = async (): Promise<RunRow[]> => {
      const rows: RunRow[] = [];
      for (const t of problems) {
        const r = await evalRun(baselineAt("adam", t.tp.learningRate.adam, tuned.momentum), t);
        rows.push({
          variant: "adam",
          seed: null,
          task_id: t.task.id,
          family: t.tp.family,
          final_loss: r.loss,
          diverged: r.diverged,
        });
      }
      return rows;
    };
    try {
      const adamRuns = await units.get<RunRow[]>("adam") ?? await units.put("adam", await evaluateAdam());
      await ctx.writeRows("ablation_runs", adamRuns);
      const adam = adamRuns.map((r) => r.final_loss as number | null);
      const full = new Map<number, (number | null)[]>();
      for (const [name, v] of variants) {
        const { params, hrnn } = variantSettings(v, base);
        for (const seed of seeds) {
          ctx.signal.throwIfAborted();
          const unit = `${name} seed ${seed}`;
          const replayed = await units.get<AblationUnit>(unit);
          const result = replayed ??
            await units.put(unit, await trainAndEvaluate(name, v, params, hrnn, seed, unit));
          if (replayed) ctx.log(`${unit}: finished by an earlier run of this stage; its rows are replayed`);
          await ctx.writeRows("ablation_runs", result.runs);
          if (name === "full") full.set(seed, result.losses);
          await ctx.writeRows("ablation_summary", [{
            ...result.summary,
            ...ablationFigures(result.losses, full.get(seed)!, adam, result.metaLosses),
          }]);
          ctx.log(
            `${name} seed ${seed}: ${result.losses.map((l) => l?.toExponential(2) ?? "diverged").join(", ")}`,
          );
          ctx.progress(++done, total, "variants trained");
        }
      }
      await units.clear();
    } finally {
      for (const t of problems) t.problem.dispose();
    }
  },
});
