/**
 * Stage `baselines-cnn`: SGD + momentum, RMSProp and Adam on the evaluation ConvNets (issue 5), each over a
 * log grid of learning rates and several seeds, with the same init and minibatch order for every optimizer of
 * a seed (protocol in `models/evaluation/cnn_run.ts`). It does not depend on meta-training, so it stays cached when the
 * learned optimizer changes. It owns the ConvNet evaluation params; `eval-cnn` reuses them.
 *
 * Writes `cnn_runs`, `cnn_curves`, `cnn_lr_sweep` (median over seeds per learning rate: the sensitivity data)
 * and `cnn_runs.json` in the artifact. A model whose dataset is missing (CIFAR-10 unless provided) gets one
 * `not run` row per optimizer with the loader's message, and the stage goes on.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import { defineStage } from "../pipeline/stage.ts";
import { makeBaseline } from "../models/optimizers/baselines.ts";
import { countConvNetParams } from "../tasks/convnets.ts";
import {
  CNN_MOMENTUM,
  CNN_PARAMS,
  CNN_PROFILES,
  cnnModels,
  type CnnParams,
  curvesTable,
  runsTable,
  validateCnnParams,
} from "./cnn_common.ts";
import { loadCnnData } from "../models/evaluation/cnn_data.ts";
import {
  bestCells,
  saveRuns,
  type StoredRun,
  storedRun,
  sweepCells,
  writeRun,
} from "../models/evaluation/cnn_records.ts";
import { notRunRecord, runConvNet } from "../models/evaluation/cnn_run.ts";
import { CODE_DEPS } from "./code_deps.ts";

/**
 * Hyperparameters of a baseline family at learning rate `lr` (momentum: heavy ball 0.9; others tfjs defaults).
 *
 * @example
 * ```ts
 * baselineHparams("momentum", 0.01); // { learningRate: 0.01, momentum: 0.9 }
 * ```
 */
export function baselineHparams(name: string, lr: number): Record<string, unknown> {
  return name === "momentum" ? { learningRate: lr, momentum: CNN_MOMENTUM } : { learningRate: lr };
}

/** The `baselines-cnn` stage. */
export const baselinesCnn = defineStage<CnnParams>({
  name: "baselines-cnn",
  description:
    "ConvNet baselines (momentum, RMSProp, Adam) over a learning-rate grid and seeds (cnn_baseline_runs, cnn_baseline_curves, cnn_lr_sweep)",
  deps: [],
  version: "1",
  codeDeps: CODE_DEPS.baselinesCnn,
  params: CNN_PARAMS,
  profiles: CNN_PROFILES,
  validate: validateCnnParams,
  tables: [
    runsTable("cnn_baseline_runs", "one row per baseline ConvNet run (eval-cnn copies them into cnn_runs)"),
    curvesTable("cnn_baseline_curves", "learning curves of the baseline ConvNet runs"),
    {
      name: "cnn_lr_sweep",
      description: "learning-rate sensitivity: median over seeds per (model, optimizer, learning rate)",
      columns: [
        { name: "model", type: "VARCHAR", description: "ConvNet name (tasks/convnets.ts)" },
        { name: "dataset", type: "VARCHAR", description: "mnist | fashion-mnist | cifar10" },
        { name: "optimizer", type: "VARCHAR", description: "momentum | rmsprop | adam" },
        { name: "learning_rate", type: "DOUBLE", description: "learning rate of this grid cell" },
        { name: "median_final_train_loss", type: "DOUBLE", description: "NULL when a seed diverged" },
        { name: "median_test_accuracy", type: "DOUBLE", description: "median over seeds" },
        {
          name: "median_seconds_per_step",
          type: "DOUBLE",
          description: "median over seeds of the mean step wall time",
        },
        { name: "seeds", type: "INTEGER", description: "seeds run in this cell" },
        { name: "diverged_seeds", type: "INTEGER", description: "seeds whose run diverged" },
        { name: "is_best", type: "BOOLEAN", description: "the tuned learning rate of this optimizer" },
      ],
    },
  ],
  async run(ctx) {
    const p = ctx.params;
    await initBackend();
    const models = cnnModels(p);
    const perModel = p.optimizers.reduce((s, o) => s + p.learningRates[o].length, 0) * p.seeds.length;
    const total = models.length * perModel * p.steps;
    let done = 0;
    const runs: StoredRun[] = [];
    const tables = { runs: "cnn_baseline_runs", curves: "cnn_baseline_curves" };
    for (const spec of models) {
      const data = await loadCnnData(spec, p);
      if (!data.ok) {
        ctx.log(`${spec.name}: not run: ${data.reason}`);
        for (const o of p.optimizers) {
          const r = storedRun(notRunRecord(spec, o, null, null, data.reason), p.curvePoints);
          runs.push(r);
          await writeRun(ctx, tables, r);
        }
        done += perModel * p.steps;
        ctx.progress(done, total, `${spec.name} not run`);
        continue;
      }
      ctx.log(
        `${spec.name}: ${
          countConvNetParams(spec)
        } params; ${data.train.n} train / ${data.test.n} test examples`,
      );
      for (const seed of p.seeds) {
        for (const o of p.optimizers) {
          for (const lr of p.learningRates[o]) {
            const optimizer = makeBaseline(o, baselineHparams(o, lr));
            const rec = await runConvNet({
              spec,
              optimizer,
              optimizerName: o,
              learningRate: lr,
              seed,
              train: data.train,
              test: data.test,
              protocol: p,
              signal: ctx.signal,
              onStep: () => ctx.progress(++done, total, `${spec.name} ${o} lr=${lr} seed=${seed}`),
            });
            done += p.steps - rec.stepsRun;
            ctx.progress(done, total, `${spec.name} ${o} lr=${lr} seed=${seed}`);
            const r = storedRun(rec, p.curvePoints);
            runs.push(r);
            await writeRun(ctx, tables, r);
            ctx.log(
              `${spec.name} ${o} lr=${lr} seed=${seed}: final train loss ${
                r.finalTrainLoss.toFixed(4)
              }, test acc ` +
                `${r.testAccuracy.toFixed(4)}, ${(r.secondsPerStep * 1000).toFixed(1)} ms/step` +
                (r.diverged ? `, DIVERGED at step ${r.stepsRun - 1}` : ""),
            );
          }
        }
      }
    }
    const cells = sweepCells(runs);
    const best = new Set([...bestCells(cells).values()]);
    await ctx.writeRows(
      "cnn_lr_sweep",
      cells.map((c) => ({
        model: c.model,
        dataset: c.dataset,
        optimizer: c.optimizer,
        learning_rate: c.learningRate,
        median_final_train_loss: c.medianFinalTrainLoss,
        median_test_accuracy: c.medianTestAccuracy,
        median_seconds_per_step: c.medianSecondsPerStep,
        seeds: c.seeds,
        diverged_seeds: c.divergedSeeds,
        is_best: best.has(c),
      })),
    );
    await saveRuns(ctx.outDir, runs);
    ctx.log(`${runs.length} runs recorded (${tf.memory().numTensors} tensors alive)`);
  },
});
