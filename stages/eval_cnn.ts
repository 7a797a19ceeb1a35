/**
 * Stage `eval-cnn`: the learned optimizer (the `meta-train` artifact's `hrnn.weights`) on the evaluation
 * ConvNets with the same models, data, horizon, init and minibatch order per seed as `baselines-cnn` — it takes
 * those params from its `baselines-cnn` input rather than declaring its own, so the two can never disagree.
 *
 * Writes its runs to `cnn_runs` / `cnn_curves` (optimizer `learned`) and the comparison `cnn_summary`: per model
 * and baseline family, the tuned learning rate (lowest median final training loss over seeds), the baseline's
 * and the learned optimizer's median final training loss, test accuracy and seconds per step, and the ratios.
 * Weights marked as a stand-in in their provenance (e.g. an untrained HRNN) are named so in every row and log.
 *
 * @module
 */
import { initBackend } from "../lib/backend.ts";
import { defineStage } from "../pipeline/stage.ts";
import { loadLearnedOptimizer } from "../models/optimizers/learned_artifact.ts";
import type { WeightsProvenance } from "../models/hrnn/weights_file.ts";
import { cnnModels, type CnnParams, curvesTable, runsTable } from "./cnn_common.ts";
import { loadCnnData } from "../models/evaluation/cnn_data.ts";
import {
  bestCells,
  loadRuns,
  saveRuns,
  type StoredRun,
  storedRun,
  sweepCells,
  writeRun,
} from "../models/evaluation/cnn_records.ts";
import { notRunRecord, runConvNet } from "../models/evaluation/cnn_run.ts";
import { LEARNED_OPTIMIZER_NAME } from "../lib/optimizer.ts";
import { CODE_DEPS } from "./code_deps.ts";

/** Params of {@link evalCnn}: none of its own (the evaluation settings come from `baselines-cnn`). */
export type EvalCnnParams = Record<string, never>;

/**
 * A one-line description of where the learned weights came from, flagging stand-ins.
 *
 * @example
 * ```ts
 * describeWeights({ standIn: true, profile: "smoke", notes: "untrained HRNN" });
 * // "STAND-IN learned-optimizer weights; profile smoke; untrained HRNN"
 * ```
 */
export function describeWeights(prov: WeightsProvenance): string {
  const parts = [
    prov.standIn ? "STAND-IN learned-optimizer weights" : "learned-optimizer weights",
    prov.profile ? `profile ${prov.profile}` : null,
    prov.cacheKey ? `meta-train ${prov.cacheKey}` : null,
    prov.notes ? prov.notes : null,
  ];
  return parts.filter((s) => s !== null).join("; ");
}

/** The `eval-cnn` stage. */
export const evalCnn = defineStage<EvalCnnParams>({
  name: "eval-cnn",
  description:
    "Learned optimizer on the ConvNets, compared with the tuned baselines (cnn_runs, cnn_curves, cnn_summary)",
  deps: ["meta-train", "baselines-cnn"],
  // The stage's results are keyed by its code (codeDeps) and params; the version marks a change of what
  // its outputs mean that neither shows.
  version: "3",
  codeDeps: CODE_DEPS.evalCnn,
  params: {},
  profiles: {},
  tables: [
    runsTable(
      "cnn_runs",
      "ConvNet runs of the learned optimizer plus copies of the baseline runs compared against (one run_key)",
    ),
    curvesTable("cnn_curves", "learning curves of the runs in cnn_runs"),
    {
      name: "cnn_summary",
      description:
        "per model and baseline family: tuned baseline vs the learned optimizer (medians over seeds)",
      columns: [
        { name: "model", type: "VARCHAR", description: "ConvNet name (tasks/convnets.ts)" },
        { name: "dataset", type: "VARCHAR", description: "mnist | fashion-mnist | cifar10" },
        { name: "baseline", type: "VARCHAR", description: "momentum | rmsprop | adam" },
        {
          name: "baseline_lr",
          type: "DOUBLE",
          description: "tuned learning rate (lowest median final loss)",
        },
        {
          name: "baseline_final_train_loss",
          type: "DOUBLE",
          description: "median over seeds at the tuned lr",
        },
        { name: "baseline_test_accuracy", type: "DOUBLE", description: "median over seeds at the tuned lr" },
        {
          name: "baseline_seconds_per_step",
          type: "DOUBLE",
          description: "median over seeds at the tuned lr",
        },
        { name: "learned_final_train_loss", type: "DOUBLE", description: "median over seeds" },
        { name: "learned_test_accuracy", type: "DOUBLE", description: "median over seeds" },
        { name: "learned_seconds_per_step", type: "DOUBLE", description: "median over seeds" },
        {
          name: "loss_ratio",
          type: "DOUBLE",
          description: "learned / baseline final training loss (< 1: better)",
        },
        { name: "step_time_ratio", type: "DOUBLE", description: "learned / baseline seconds per step" },
        { name: "seeds", type: "INTEGER", description: "seeds compared (0 when not run)" },
        {
          name: "learned_diverged_seeds",
          type: "INTEGER",
          description: "seeds whose learned-optimizer run diverged",
        },
        { name: "learned_stand_in", type: "BOOLEAN", description: "the learned weights are a stand-in" },
        { name: "status", type: "VARCHAR", description: "ok | not run" },
        { name: "note", type: "VARCHAR", description: "weights provenance, or why the row was not run" },
      ],
    },
  ],
  async run(ctx) {
    const base = ctx.inputs["baselines-cnn"];
    const meta = ctx.inputs["meta-train"];
    const p = base.params as CnnParams;
    await initBackend();
    ctx.log((await import("../models/hrnn/native.ts")).describeFusedEngine());
    const baselineRuns = await loadRuns(base.dir);
    const models = cnnModels(p);
    const total = models.length * p.seeds.length * p.steps;
    let done = 0;
    const runs: StoredRun[] = [];
    const tables = { runs: "cnn_runs", curves: "cnn_curves" };
    for (const r of baselineRuns) await writeRun(ctx, tables, r);
    let weightsNote = "";
    let standIn = false;
    for (const spec of models) {
      const data = await loadCnnData(spec, p);
      if (!data.ok) {
        ctx.log(`${spec.name}: not run: ${data.reason}`);
        const r = storedRun(
          notRunRecord(spec, LEARNED_OPTIMIZER_NAME, null, null, data.reason),
          p.curvePoints,
        );
        runs.push(r);
        await writeRun(ctx, tables, r);
        done += p.seeds.length * p.steps;
        ctx.progress(done, total, `${spec.name} not run`);
        continue;
      }
      for (const seed of p.seeds) {
        const learned = await loadLearnedOptimizer(meta.dir, seed);
        standIn = learned.provenance.standIn === true;
        weightsNote = describeWeights(learned.provenance);
        if (standIn) ctx.log(`WARNING: ${weightsNote}`);
        try {
          const rec = await runConvNet({
            spec,
            optimizer: learned.optimizer,
            optimizerName: LEARNED_OPTIMIZER_NAME,
            learningRate: null,
            seed,
            train: data.train,
            test: data.test,
            protocol: p,
            note: weightsNote,
            signal: ctx.signal,
            onStep: () => ctx.progress(++done, total, `${spec.name} learned seed=${seed}`),
          });
          done += p.steps - rec.stepsRun;
          ctx.progress(done, total, `${spec.name} learned seed=${seed}`);
          const r = storedRun(rec, p.curvePoints);
          runs.push(r);
          await writeRun(ctx, tables, r);
          ctx.log(
            `${spec.name} learned seed=${seed}: final train loss ${r.finalTrainLoss.toFixed(4)}, test acc ` +
              `${r.testAccuracy.toFixed(4)}, ${(r.secondsPerStep * 1000).toFixed(1)} ms/step` +
              (r.diverged ? `, DIVERGED at step ${r.stepsRun - 1}` : ""),
          );
        } finally {
          learned.dispose();
        }
      }
    }
    await saveRuns(ctx.outDir, runs);

    const best = bestCells(sweepCells(baselineRuns));
    const rows: Record<string, unknown>[] = [];
    for (const spec of models) {
      const mine = runs.filter((r) => r.model === spec.name);
      const notRun = mine.find((r) => r.status === "not run");
      for (const o of p.optimizers) {
        const b = best.get(`${spec.name}\u0000${o}`);
        if (notRun || !b) {
          const baseNote = baselineRuns.find((r) => r.model === spec.name && r.optimizer === o)?.note;
          rows.push({
            model: spec.name,
            dataset: spec.dataset,
            baseline: o,
            seeds: 0,
            learned_stand_in: standIn,
            status: "not run",
            note: notRun?.note ?? baseNote ?? "no baseline runs for this model",
          });
          continue;
        }
        const ok = mine.filter((r) => r.status === "ok");
        // The same medians as the baselines' (a diverged seed counts as +Infinity loss).
        const cell = sweepCells(ok)[0];
        const learnedMedian = cell ? cell.medianFinalTrainLoss : NaN;
        const learnedSecs = cell ? cell.medianSecondsPerStep : NaN;
        const diverged = ok.filter((r) => r.diverged).length;
        rows.push({
          model: spec.name,
          dataset: spec.dataset,
          baseline: o,
          baseline_lr: b.learningRate,
          baseline_final_train_loss: b.medianFinalTrainLoss,
          baseline_test_accuracy: b.medianTestAccuracy,
          baseline_seconds_per_step: b.medianSecondsPerStep,
          learned_final_train_loss: learnedMedian,
          learned_test_accuracy: cell ? cell.medianTestAccuracy : NaN,
          learned_seconds_per_step: learnedSecs,
          loss_ratio: learnedMedian / b.medianFinalTrainLoss,
          step_time_ratio: learnedSecs / b.medianSecondsPerStep,
          seeds: ok.length,
          learned_diverged_seeds: diverged,
          learned_stand_in: standIn,
          status: "ok",
          note: weightsNote,
        });
      }
    }
    await ctx.writeRows("cnn_summary", rows);
  },
});
