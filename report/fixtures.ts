/**
 * Synthetic upstream artifacts for tests of the report: a `manifest.json` plus `rows/<table>.ndjson` with a
 * few deterministic rows for each result stage the report reads. Tests use them for the stages a smoke run
 * did not produce (e.g. stages not yet registered in `stages/main.ts`). Never used by the pipeline.
 *
 * @module
 */
import { join } from "node:path";
import type { ArtifactRef } from "../pipeline/stage.ts";

type Rows = Record<string, unknown>[];

const OPTS = ["learned", "adam", "rmsprop", "momentum"] as const;
const LR: Record<string, number | null> = { learned: null, adam: 0.003, rmsprop: 0.001, momentum: 0.1 };
const RATE: Record<string, number> = { learned: 0.09, adam: 0.07, rmsprop: 0.06, momentum: 0.05 };

function evalProblemsRows(): Record<string, Rows> {
  const tasks = [
    { task_id: "test/quadratic#0", family: "quadratic", start: 50, floor: 0.5 },
    { task_id: "test/bowl#0", family: "bowl", start: 3, floor: 1e-4 },
    { task_id: "test/michalewicz#0", family: "michalewicz", start: -0.2, floor: -1.8 },
  ];
  const curves: Rows = [], final: Rows = [], summary: Rows = [];
  for (const t of tasks) {
    const med: Record<string, number> = {};
    for (const o of OPTS) {
      for (const seed of [0, 1]) {
        let last = 0;
        for (let step = 0; step <= 40; step += 5) {
          const loss = t.floor + (t.start - t.floor) * Math.exp(-RATE[o] * step) * (1 + 0.05 * seed);
          last = loss;
          curves.push({
            task_id: t.task_id,
            family: t.family,
            optimizer: o,
            seed,
            step,
            minibatch_loss: loss,
            full_loss: step % 20 === 0 ? loss : null,
          });
        }
        final.push({
          task_id: t.task_id,
          family: t.family,
          optimizer: o,
          learning_rate: LR[o],
          seed,
          final_loss: last,
          diverged: false,
          seconds_per_step: o === "learned" ? 0.004 : 0.001,
        });
        med[o] = last;
      }
    }
    const best = (["adam", "rmsprop", "momentum"] as const).reduce((a, b) => (med[a] <= med[b] ? a : b));
    const ratio = med.learned > 0 && med[best] > 0 ? med.learned / med[best] : null;
    summary.push({
      task_id: t.task_id,
      family: t.family,
      best_optimizer: med.learned < med[best] ? "learned" : best,
      learned_median_loss: med.learned,
      best_baseline: best,
      best_baseline_median_loss: med[best],
      ratio,
      wins_vs_adam: med.learned < med.adam,
      wins_vs_rmsprop: med.learned < med.rmsprop,
      wins_vs_momentum: med.learned < med.momentum,
      learned_stand_in: false,
      status: "evaluated",
      reason: null,
    });
  }
  summary.push({
    task_id: "test/mnist_mlp#0",
    family: "mlp",
    status: "not_run",
    reason: "fixture: dataset missing",
    learned_stand_in: false,
  });
  return { eval_curves: curves, eval_final: final, eval_summary: summary };
}

function cnnRows(): { sweep: Rows; runs: Rows; curves: Rows; summary: Rows } {
  const model = "convnet_mnist_relu", dataset = "mnist";
  const grid: Record<string, number[]> = {
    adam: [0.001, 0.003, 0.01],
    rmsprop: [0.001, 0.003],
    momentum: [0.03, 0.1],
  };
  const sweep: Rows = [];
  for (const [o, lrs] of Object.entries(grid)) {
    for (const lr of lrs) {
      sweep.push({
        model,
        dataset,
        optimizer: o,
        learning_rate: lr,
        median_final_train_loss: 0.3 + Math.abs(Math.log10(lr) + 2.5) * 0.4,
        median_test_accuracy: 0.9 - Math.abs(Math.log10(lr) + 2.5) * 0.1,
        median_seconds_per_step: 0.08,
        seeds: 1,
        diverged_seeds: 0,
        is_best: lr === lrs[1],
      });
    }
  }
  const runs: Rows = [], curves: Rows = [], summary: Rows = [];
  for (const o of OPTS) {
    const lr = o === "learned" ? null : grid[o][1];
    const fin = o === "learned" ? 0.5 : 0.3 + Math.abs(Math.log10(lr!) + 2.5) * 0.4;
    runs.push({
      model,
      dataset,
      optimizer: o,
      learning_rate: lr,
      seed: 0,
      steps: 40,
      steps_run: 40,
      final_train_loss: fin,
      test_loss: fin,
      test_accuracy: 0.9 - fin / 10,
      seconds_per_step: o === "learned" ? 0.16 : 0.08,
      diverged: false,
      status: "ok",
      note: null,
    });
    for (let step = 0; step <= 40; step += 5) {
      curves.push({
        model,
        dataset,
        optimizer: o,
        learning_rate: lr,
        seed: 0,
        kind: "train",
        step,
        train_loss: fin + 2 * Math.exp(-RATE[o] * step),
        test_loss: null,
        test_accuracy: null,
      });
    }
  }
  for (const o of ["momentum", "rmsprop", "adam"]) {
    const b = runs.find((r) => r.optimizer === o)!, l = runs.find((r) => r.optimizer === "learned")!;
    summary.push({
      model,
      dataset,
      baseline: o,
      baseline_lr: b.learning_rate,
      baseline_final_train_loss: b.final_train_loss,
      baseline_test_accuracy: b.test_accuracy,
      baseline_seconds_per_step: 0.08,
      learned_final_train_loss: l.final_train_loss,
      learned_test_accuracy: l.test_accuracy,
      learned_seconds_per_step: 0.16,
      loss_ratio: (l.final_train_loss as number) / (b.final_train_loss as number),
      step_time_ratio: 2,
      seeds: 1,
      learned_diverged_seeds: 0,
      learned_stand_in: false,
      status: "ok",
      note: "fixture",
    });
  }
  return { sweep, runs, curves, summary };
}

function imagenetRows(): Record<string, Rows> {
  const runs: Rows = [], curves: Rows = [], overhead: Rows = [];
  for (const network of ["inception_v3", "resnet_v2"]) {
    for (const o of ["learned", "rmsprop", "adam"]) {
      const lr = o === "learned" ? null : o === "adam" ? 0.001 : 0.045;
      for (let step = 0; step < 6; step++) {
        curves.push({
          network,
          dataset: "mnist-rgb (stand-in)",
          optimizer: o,
          learning_rate: lr,
          seed: 0,
          step,
          loss: 2.3 * Math.exp(-0.05 * step * (o === "learned" ? 1.2 : 1)),
          seconds: 0.5,
          tensor_bytes: 1e6,
          rss_bytes: 1e8,
        });
      }
      runs.push({
        network,
        dataset: "mnist-rgb (stand-in)",
        optimizer: o,
        learning_rate: lr,
        seed: 0,
        steps: 6,
        first_loss: 2.3,
        final_loss: 1.8,
        seconds_per_step: 0.5,
        diverged: false,
      });
      overhead.push({
        network,
        backend: "wasm",
        optimizer: o,
        learning_rate: lr,
        width: 0.05,
        params: 100000,
        update_ms: o === "learned" ? 500 : 30,
        update_ratio_vs_adam: o === "learned" ? 16 : 1,
        state_bytes_per_param: o === "learned" ? 84 : 8,
        step_ms: 3000,
        update_share: o === "learned" ? 0.15 : 0.01,
        step_basis: "measured",
      });
    }
  }
  return { imagenet_runs: runs, imagenet_curves: curves, imagenet_overhead: overhead };
}

function horizonRows(): Record<string, Rows> {
  const curves: Rows = [], summary: Rows = [];
  const opts: [string, boolean, number, number][] = [
    ["hrnn", true, 60, 0.02],
    ["l2l-lstm", true, 20, 0.5],
    ["crnn", true, 60, 0.1],
    ["adam", false, 300, 0.01],
    ["rmsprop", false, 300, 0.03],
    ["momentum", false, 300, 0.05],
  ];
  for (
    const t of [{ task_id: "test/quadratic#0", family: "quadratic" }, {
      task_id: "test/bowl#0",
      family: "bowl",
    }]
  ) {
    for (const [o, learned, horizon, floor] of opts) {
      const loss = (step: number) => floor + 10 / (1 + step / horizon);
      // The LSTM diverges after 30x its horizon in the fixture.
      const last = o === "l2l-lstm" ? 600 : 10_000;
      let seconds = 0;
      for (const step of [0, 1, 10, 20, 60, 100, 300, 1000, 3000, 10_000].filter((s) => s <= last)) {
        seconds = step * (learned ? 0.002 : 0.0005);
        curves.push({ ...t, optimizer: o, learned, seed: 0, step, loss: loss(step), seconds });
      }
      const diverged = o === "l2l-lstm";
      summary.push({
        ...t,
        optimizer: o,
        learned,
        meta_stage: learned ? (o === "hrnn" ? "meta-train" : `meta-train-${o}`) : null,
        train_horizon: horizon,
        steps: 10_000,
        loss_at_train_horizon: loss(horizon),
        final_loss: diverged ? null : loss(10_000),
        best_loss: loss(last),
        improvement: diverged ? null : loss(horizon) / loss(10_000),
        diverged,
        diverged_at_step: diverged ? 601 : null,
        final_update_rms: 1e-3,
        seconds_per_step: learned ? 0.002 : 0.0005,
      });
    }
  }
  return { horizon_curves: curves, horizon_summary: summary };
}

function ablationRows(): Record<string, Rows> {
  const summary: Rows = [], runs: Rows = [];
  const effect: Record<string, number> = {
    full: 1,
    "no-grad-products": 1.4,
    "no-global-level": 1.1,
    attention: 0.95,
  };
  for (const [variant, r] of Object.entries(effect)) {
    for (const seed of [0, 1, 2]) {
      const ratio = variant === "full" ? 1 : r * (1 + 0.05 * (seed - 1));
      summary.push({
        variant,
        description: `fixture ${variant}`,
        seed,
        meta_steps: 150,
        problems: 2,
        wins_vs_adam: 1,
        median_ratio_vs_full: ratio,
        divergences: 0,
        meta_loss_last: -1,
      });
      for (const task_id of ["test/quadratic#0", "test/bowl#0"]) {
        runs.push({
          variant,
          seed,
          task_id,
          family: task_id.slice(5, -2),
          final_loss: ratio,
          diverged: false,
        });
      }
    }
  }
  return { ablation_runs: runs, ablation_summary: summary };
}

/**
 * The synthetic rows of each stage, by stage then table.
 *
 * @example
 * ```ts
 * const rows = fixtureTables()["eval-cnn"].cnn_summary; // synthetic rows of one table
 * ```
 */
export function fixtureTables(): Record<string, Record<string, Rows>> {
  const cnn = cnnRows();
  return {
    "tune-baselines": {
      tuned_lr: ["adam", "rmsprop", "momentum"].map((o) => ({
        task_id: "test/quadratic#0",
        family: "quadratic",
        optimizer: o,
        learning_rate: LR[o],
        median_final_loss: 1,
        status: "tuned",
        reason: null,
      })),
    },
    "eval-problems": evalProblemsRows(),
    "baselines-cnn": { cnn_lr_sweep: cnn.sweep },
    "eval-cnn": { cnn_runs: cnn.runs, cnn_curves: cnn.curves, cnn_summary: cnn.summary },
    "imagenet-transfer": imagenetRows(),
    "eval-horizon": horizonRows(),
    ablations: ablationRows(),
  };
}

/**
 * Writes fixture artifacts for `stages` (default: every stage of {@link fixtureTables}) under
 * `dir/<stage>/<key>/` and returns their refs. Keys are `fixture-<stage>`; params say they are fixtures.
 *
 * @example
 * ```ts
 * const refs = await writeFixtureArtifacts(await Deno.makeTempDir(), ["eval-problems", "ablations"]);
 * ```
 */
export async function writeFixtureArtifacts(dir: string, stages?: string[]): Promise<ArtifactRef[]> {
  const all = fixtureTables();
  const out: ArtifactRef[] = [];
  for (const stage of stages ?? Object.keys(all)) {
    const tables = all[stage];
    if (!tables) continue;
    const key = `fixture-${stage}`;
    const adir = join(dir, stage, key);
    await Deno.mkdir(join(adir, "rows"), { recursive: true });
    for (const [t, rows] of Object.entries(tables)) {
      await Deno.writeTextFile(
        join(adir, "rows", `${t}.ndjson`),
        rows.map((r) => JSON.stringify(r) + "\n").join(""),
      );
    }
    const params = { fixture: "synthetic rows from report/fixtures.ts" };
    const manifest = {
      stage,
      key,
      version: "fixture",
      profile: "fixture",
      params,
      inputs: {},
      created: new Date(0).toISOString(),
      files: [],
    };
    await Deno.writeTextFile(join(adir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    out.push({ stage, key, dir: adir, params });
  }
  return out;
}
