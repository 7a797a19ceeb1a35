/**
 * Shared machinery of the ConvNet evaluation stages `baselines-cnn` and `eval-cnn` (issue 5): the param schema
 * and profiles (declared once, on `baselines-cnn`; `eval-cnn` reuses the resolved values of its upstream so the
 * learned optimizer sees exactly the same models, data, horizon and seeds), data loading with the "not run"
 * path for missing datasets, the seeded minibatch order, the training loop, and the result tables.
 *
 * Protocol of one run (model m, optimizer o, seed s):
 * - data: the first `trainLimit` training and `testLimit` test examples of m's dataset;
 * - init: `initConvNet(m, new Rng(s).fork("init/<m>"))` — identical for every optimizer of the seed;
 * - minibatches: epochs of shuffles drawn from `new Rng(s).fork("batches/<m>")` — identical for every optimizer
 *   of the seed (the order does not depend on the optimizer or the learning rate);
 * - step t: loss and gradients on minibatch t at the current parameters, `o.update`, θ ← θ + update;
 * - every `evalEvery` steps and after the last: mean loss on the fixed training-evaluation subset (the first
 *   `trainEvalSize` training examples) and loss/accuracy on the test subset, at the optimizer's evaluation
 *   point (`evalParams` when it has one);
 * - a non-finite minibatch loss stops the run (diverged = true; its final losses are NULL);
 * - seconds per step: median over steps of loss+gradient+update+apply wall time (evaluations excluded).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { Rng } from "../lib/rng.ts";
import type { ParamSpec, StageContext, TableSpec } from "../pipeline/stage.ts";
import { disposeReplaced } from "../models/inner_loop.ts";
import type { Optimizer, OptState, UpdateResult } from "../lib/optimizer.ts";
import {
  CONVNET_NAMES,
  convNetBatchStats,
  convNetLossAndGrads,
  type ConvNetSpec,
  convNetSpec,
  initConvNet,
} from "../tasks/convnets.ts";
import { DatasetUnavailableError, type ImageDataset, loadDataset } from "../tasks/data/index.ts";
import { examplesToTensors, gatherExamples } from "../tasks/data/dataset.ts";
import { cifar10DirIfProvided } from "../tasks/data/cifar10.ts";
import { MAX_SEED } from "../lib/rng.ts";
import { withGpuProfile } from "./profiles.ts";

/** Baseline optimizer families swept by `baselines-cnn`. */
export const CNN_BASELINES = ["momentum", "rmsprop", "adam"] as const;
/** One of {@link CNN_BASELINES}. */
export type CnnBaseline = typeof CNN_BASELINES[number];
/** Momentum coefficient of the `momentum` baseline (SGD + heavy-ball momentum). */
export const CNN_MOMENTUM = 0.9;
/** Name of the learned optimizer in the result tables. */
export const LEARNED_NAME = "learned";
/** File in the `baselines-cnn` artifact listing every run (read by `eval-cnn`). */
export const RUNS_FILE = "cnn_runs.json";

/** Resolved params of `baselines-cnn` (and, through it, of `eval-cnn`). */
export interface CnnParams extends Record<string, unknown> {
  models: string[];
  optimizers: string[];
  learningRates: Record<string, number[]>;
  seeds: number[];
  steps: number;
  batchSize: number;
  trainLimit: number;
  testLimit: number;
  trainEvalSize: number;
  evalEvery: number;
  evalBatch: number;
  curvePoints: number;
  l2: number;
  cifarDir: string;
}

/** `n` log-spaced values from `lo` to `hi` inclusive, rounded to 3 significant digits. */
export function logGrid(lo: number, hi: number, n: number): number[] {
  if (!(lo > 0 && hi >= lo && Number.isInteger(n) && n >= 1)) {
    throw new Error(`logGrid needs 0 < lo ≤ hi and an integer n ≥ 1, got (${lo}, ${hi}, ${n}).`);
  }
  if (n === 1) return [lo];
  const a = Math.log10(lo), b = Math.log10(hi);
  return Array.from({ length: n }, (_, i) => Number((10 ** (a + (b - a) * i / (n - 1))).toPrecision(3)));
}

/** Most learning rates per family in `learningRates`. */
export const MAX_GRID = 50;
/** Largest learning rate in `learningRates`. */
export const MAX_CNN_LR = 10;
/** Most entries of `seeds`. */
export const MAX_CNN_SEEDS = 20;

/** The param schema shared by the ConvNet stages (declared on `baselines-cnn`). */
export const CNN_PARAMS: Record<keyof CnnParams & string, ParamSpec> = {
  models: {
    type: "string[]",
    default: ["convnet_mnist_relu"],
    choices: CONVNET_NAMES,
    maxItems: CONVNET_NAMES.length,
    description:
      "ConvNets to train (tasks/convnets.ts); a model whose dataset is missing is recorded as not run",
  },
  optimizers: {
    type: "string[]",
    default: [...CNN_BASELINES],
    choices: CNN_BASELINES,
    maxItems: CNN_BASELINES.length,
    description: "baseline families (momentum = SGD + momentum 0.9)",
  },
  learningRates: {
    type: "json",
    default: {
      momentum: [0.003, 0.01, 0.03, 0.1],
      rmsprop: [0.001, 0.003, 0.01, 0.03],
      adam: [0.001, 0.003, 0.01, 0.03],
    },
    range: `{family: [lr, ...]}, at most ${MAX_GRID} rates in (0, ${MAX_CNN_LR}] per family`,
    check: checkLearningRates,
    description: 'learning-rate grid per baseline family, e.g. {"adam": [0.0003, 0.001, 0.003]}',
  },
  seeds: {
    type: "json",
    default: [0, 1],
    range: `a non-empty list of at most ${MAX_CNN_SEEDS} integers in [0, ${MAX_SEED}]`,
    check: checkSeeds,
    description: "seeds (each fixes the init and the minibatch order, shared by every optimizer)",
  },
  steps: { type: "integer", default: 200, min: 1, max: 100_000, description: "training steps per run" },
  batchSize: {
    type: "integer",
    default: 64,
    min: 1,
    max: 1024,
    description: "minibatch size (reference: 64; at most 1024, which fits the wasm heap)",
  },
  trainLimit: {
    type: "integer",
    default: 60000,
    min: 1,
    max: 60000,
    description: "use the first N training examples (minibatches are drawn from these)",
  },
  testLimit: {
    type: "integer",
    default: 1000,
    min: 1,
    max: 10000,
    description: "evaluate on the first N test examples",
  },
  trainEvalSize: {
    type: "integer",
    default: 1000,
    min: 1,
    max: 60000,
    description: "final/periodic training loss is the mean over the first N training examples",
  },
  evalEvery: {
    type: "integer",
    default: 50,
    min: 1,
    max: 100_000,
    description: "evaluate test loss/accuracy every N steps",
  },
  evalBatch: {
    type: "integer",
    default: 500,
    min: 1,
    max: 2000,
    description: "batch size of evaluation forward passes (at most 2000, which fits the wasm heap)",
  },
  curvePoints: {
    type: "integer",
    default: 300,
    min: 2,
    max: 100_000,
    description: "at most this many per-step training-loss points per run (bin means)",
  },
  l2: {
    type: "number",
    default: 0,
    min: 0,
    max: 1,
    description: "L2 weight × mean over tensors of squared norms",
  },
  cifarDir: {
    type: "string",
    default: cifar10DirIfProvided(),
    range: "a folder path, or empty",
    description:
      "CIFAR-10 folder (default: env LOPT_CIFAR10_DIR, else <data dir>/cifar-10-batches-bin when it exists; " +
      "empty: look there when the stage runs)",
  },
};

/** Profiles of the ConvNet stages (see the issue: smoke ≤ ~20 s, default ~15 min on 2 cores, paper). */
export const CNN_PROFILES: Record<string, Partial<CnnParams>> = withGpuProfile({
  smoke: {
    models: ["convnet_mnist_relu", "convnet_cifar10"],
    learningRates: { momentum: [0.1], rmsprop: [0.003], adam: [0.003] },
    seeds: [0],
    steps: 8,
    batchSize: 32,
    trainLimit: 256,
    testLimit: 128,
    trainEvalSize: 128,
    evalEvery: 4,
    evalBatch: 128,
  },
  default: {},
  paper: {
    models: ["convnet_mnist_relu", "convnet_mnist_sigmoid", "convnet_cifar10"],
    learningRates: {
      momentum: logGrid(1e-3, 1, 7),
      rmsprop: logGrid(1e-5, 1e-1, 9),
      adam: logGrid(1e-5, 1e-1, 9),
    },
    seeds: [0, 1, 2, 3, 4],
    steps: 5000,
    testLimit: 10000,
    trainEvalSize: 10000,
    evalEvery: 250,
  },
});

/** What is wrong with a `seeds` param, or null. */
function checkSeeds(v: unknown): string | null {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_CNN_SEEDS) {
    return `need a JSON list of 1 to ${MAX_CNN_SEEDS} seeds`;
  }
  const bad = v.filter((s) => !Number.isSafeInteger(s) || s < 0 || s > MAX_SEED);
  return bad.length
    ? `${bad.map((b) => JSON.stringify(b)).join(", ")} not an integer in [0, ${MAX_SEED}]`
    : null;
}

/** What is wrong with a `learningRates` param, or null. */
function checkLearningRates(v: unknown): string | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return "need a JSON object {family: [lr, ...]}";
  }
  for (const [o, g] of Object.entries(v as Record<string, unknown>)) {
    if (!(CNN_BASELINES as readonly string[]).includes(o)) {
      return `unknown family "${o}" (families: ${CNN_BASELINES.join(", ")})`;
    }
    if (
      !Array.isArray(g) || g.length === 0 || g.length > MAX_GRID ||
      g.some((x) => typeof x !== "number" || !(x > 0) || !(x <= MAX_CNN_LR))
    ) {
      return `${o}: need 1 to ${MAX_GRID} learning rates in (0, ${MAX_CNN_LR}], got ${JSON.stringify(g)}`;
    }
  }
  return null;
}

/**
 * Checks between the ConvNet params (the `validate` of `baselines-cnn`): at least one model and one optimizer,
 * and a learning-rate grid for every optimizer. Throws a message saying what to fix.
 */
export function validateCnnParams(p: CnnParams): void {
  if (p.models.length === 0) throw new Error("models=[] names no ConvNet to train");
  if (p.optimizers.length === 0) throw new Error("optimizers=[] names no baseline family");
  for (const o of p.optimizers) {
    if (!Array.isArray(p.learningRates[o])) {
      throw new Error(
        `learningRates has no grid for optimizer ${o} (e.g. --set ` +
          `'baselines-cnn.learningRates={"${o}":[0.001,0.01]}' together with the other optimizers' grids), got ` +
          `${JSON.stringify(p.learningRates)}`,
      );
    }
  }
}

/** Training and test data of one model, or why it could not be loaded. */
export type CnnData =
  | { ok: true; train: ImageDataset; test: ImageDataset }
  | { ok: false; reason: string };

/**
 * Loads the data of `spec` (train: first `trainLimit`, test: first `testLimit`). A dataset that is not on this
 * machine gives `{ok: false, reason}` with the loader's instructions; never another dataset in its place.
 */
export async function loadCnnData(spec: ConvNetSpec, p: CnnParams): Promise<CnnData> {
  const dir = spec.dataset === "cifar10" && p.cifarDir !== "" ? p.cifarDir : undefined;
  try {
    const train = await loadDataset({ kind: spec.dataset, split: "train", limit: p.trainLimit, dir });
    const test = await loadDataset({ kind: spec.dataset, split: "test", limit: p.testLimit, dir });
    for (const ds of [train, test]) {
      const [h, w, c] = spec.inputShape;
      if (ds.height !== h || ds.width !== w || ds.channels !== c) {
        throw new Error(
          `${ds.name} images are ${ds.height}x${ds.width}x${ds.channels}, ${spec.name} needs ${h}x${w}x${c}.`,
        );
      }
    }
    return { ok: true, train, test };
  } catch (e) {
    if (e instanceof DatasetUnavailableError) return { ok: false, reason: e.message };
    throw e;
  }
}

/**
 * The minibatch index lists of a run: `steps` batches of `batchSize` indices in [0, n), successive epochs of
 * shuffles drawn from `new Rng(seed).fork("batches/<model>")`. Depends only on (model, seed, n, steps,
 * batchSize), so every optimizer of a seed sees the same data in the same order.
 */
export function batchOrder(
  model: string,
  seed: number,
  n: number,
  steps: number,
  batchSize: number,
): Int32Array[] {
  const rng = new Rng(seed).fork(`batches/${model}`);
  const out: Int32Array[] = [];
  const perm = Int32Array.from({ length: n }, (_, k) => k);
  let at = n;
  for (let t = 0; t < steps; t++) {
    const b = new Int32Array(batchSize);
    for (let i = 0; i < batchSize; i++) {
      if (at >= perm.length) {
        rng.shuffle(perm);
        at = 0;
      }
      b[i] = perm[at++];
    }
    out.push(b);
  }
  return out;
}

/** The rng that draws a run's initial parameters (shared by every optimizer of the seed). */
export function initRng(model: string, seed: number): Rng {
  return new Rng(seed).fork(`init/${model}`);
}

/** One evaluation of a run. */
export interface CnnEvalPoint {
  /** Updates applied before the evaluation. */
  step: number;
  /** Mean loss over the fixed training-evaluation subset. */
  trainLoss: number;
  /** Mean test loss. */
  testLoss: number;
  /** Test accuracy in [0, 1]. */
  testAccuracy: number;
}

/** The record of one training run. */
export interface CnnRunRecord {
  model: string;
  dataset: string;
  optimizer: string;
  /** NULL for the learned optimizer. */
  learningRate: number | null;
  seed: number;
  steps: number;
  stepsRun: number;
  /** Minibatch loss of every step taken (the last is non-finite after divergence). */
  minibatchLoss: number[];
  evals: CnnEvalPoint[];
  /** Median seconds per step (loss + gradients + update + apply). */
  secondsPerStep: number;
  diverged: boolean;
  /** Training-evaluation loss after the last step (NaN when diverged). */
  finalTrainLoss: number;
  /** Test loss / accuracy after the last step (NaN when diverged). */
  testLoss: number;
  testAccuracy: number;
  status: "ok" | "not run";
  note: string;
}

/** Mean loss and accuracy of `params` on the examples `[0, n)` of `ds`, in batches of `batch`. */
export async function evaluateConvNet(
  spec: ConvNetSpec,
  params: tf.Tensor[],
  ds: ImageDataset,
  n: number,
  batch: number,
): Promise<{ loss: number; accuracy: number }> {
  n = Math.min(n, ds.n);
  let lossSum = 0, correct = 0;
  for (let a = 0; a < n; a += batch) {
    const idx = Int32Array.from({ length: Math.min(batch, n - a) }, (_, i) => a + i);
    const { images, labels } = gatherExamples(ds, idx);
    const stats = tf.tidy(() => {
      const { x, y } = examplesToTensors(images, labels, ds);
      const s = convNetBatchStats(spec, params, x, y);
      return tf.stack([s.lossSum, s.correct]);
    });
    const v = await stats.data();
    stats.dispose();
    lossSum += v[0];
    correct += v[1];
  }
  return { loss: lossSum / n, accuracy: correct / n };
}

/** `optimizer.update` inside `tf.tidy` (intermediate tensors freed; the updates and new state kept). */
export function tidyUpdate(
  optimizer: Optimizer,
  grads: tf.Tensor[],
  state: OptState,
  params: tf.Tensor[],
): UpdateResult {
  return tf.tidy(() =>
    optimizer.update(grads, state, params) as unknown as tf.TensorContainer
  ) as unknown as UpdateResult;
}

/** Options of {@link trainConvNet}. */
export interface TrainConvNetOptions {
  spec: ConvNetSpec;
  /** Any lopt optimizer (baseline or learned); its state is created and disposed here. */
  optimizer: Optimizer;
  /** Name written to the tables (`momentum`, `rmsprop`, `adam`, `learned`). */
  optimizerName: string;
  learningRate: number | null;
  seed: number;
  train: ImageDataset;
  test: ImageDataset;
  params: CnnParams;
  /** Free text for the `note` column. */
  note?: string;
  /** Called after every step. */
  onStep?: (step: number) => void;
  signal?: AbortSignal;
}

/** Trains one ConvNet run with the protocol of the module doc. Leaves no tensors behind. */
export async function trainConvNet(o: TrainConvNetOptions): Promise<CnnRunRecord> {
  const { spec, optimizer, params: p, train, test } = o;
  const order = batchOrder(spec.name, o.seed, train.n, p.steps, p.batchSize);
  let params: tf.Tensor[] = initConvNet(spec, initRng(spec.name, o.seed));
  let state: OptState = tf.tidy(() => optimizer.init(params));
  const losses: number[] = [];
  const secs: number[] = [];
  const evals: CnnEvalPoint[] = [];
  let diverged = false;

  const evalAt = async (step: number): Promise<CnnEvalPoint> => {
    const point = optimizer.evalParams ? tf.tidy(() => optimizer.evalParams!(state, params)) : params;
    try {
      const tr = await evaluateConvNet(spec, point, train, p.trainEvalSize, p.evalBatch);
      const te = await evaluateConvNet(spec, point, test, p.testLimit, p.evalBatch);
      return { step, trainLoss: tr.loss, testLoss: te.loss, testAccuracy: te.accuracy };
    } finally {
      if (point !== params) tf.dispose(point);
    }
  };

  try {
    evals.push(await evalAt(0));
    for (let t = 0; t < p.steps; t++) {
      o.signal?.throwIfAborted();
      const { images, labels } = gatherExamples(train, order[t]);
      const t0 = performance.now();
      const { x, y } = examplesToTensors(images, labels, train);
      const { loss, grads } = convNetLossAndGrads(spec, params, x, y, p.l2);
      const r = tidyUpdate(optimizer, grads, state, params);
      const next = tf.tidy(() => params.map((q, i) => tf.add(q, r.updates[i])));
      const lossValue = (await loss.data())[0];
      await next[next.length - 1].data();
      secs.push((performance.now() - t0) / 1000);
      disposeReplaced([state, params, grads, r.updates, loss, x, y], r.state, next);
      state = r.state;
      params = next;
      losses.push(lossValue);
      o.onStep?.(t);
      if (!Number.isFinite(lossValue)) {
        diverged = true;
        break;
      }
      const done = t + 1;
      if (done % p.evalEvery === 0 || done === p.steps) {
        const e = await evalAt(done);
        evals.push(e);
        if (![e.trainLoss, e.testLoss].every(Number.isFinite)) {
          diverged = true;
          break;
        }
      }
    }
  } finally {
    disposeReplaced([state, params]);
  }
  const last = evals[evals.length - 1];
  const finished = !diverged && last.step === losses.length;
  return {
    model: spec.name,
    dataset: spec.dataset,
    optimizer: o.optimizerName,
    learningRate: o.learningRate,
    seed: o.seed,
    steps: p.steps,
    stepsRun: losses.length,
    minibatchLoss: losses,
    evals,
    secondsPerStep: median(secs),
    diverged,
    finalTrainLoss: finished ? last.trainLoss : NaN,
    testLoss: finished ? last.testLoss : NaN,
    testAccuracy: finished ? last.testAccuracy : NaN,
    status: "ok",
    note: o.note ?? "",
  };
}

/** A "not run" record (dataset missing): every measurement NULL, the reason in `note`. */
export function notRunRecord(
  spec: ConvNetSpec,
  optimizer: string,
  learningRate: number | null,
  seed: number | null,
  reason: string,
): CnnRunRecord {
  return {
    model: spec.name,
    dataset: spec.dataset,
    optimizer,
    learningRate,
    seed: seed ?? -1,
    steps: 0,
    stepsRun: 0,
    minibatchLoss: [],
    evals: [],
    secondsPerStep: NaN,
    diverged: false,
    finalTrainLoss: NaN,
    testLoss: NaN,
    testAccuracy: NaN,
    status: "not run",
    note: reason,
  };
}

/** Median of finite values (NaN for none). */
export function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Bins `values` (value i belongs to step i) into at most `maxPoints` consecutive bins and returns each bin's
 * mean of finite values, labelled with the bin's last step. With `values.length ≤ maxPoints` it is the identity.
 */
export function downsampleCurve(values: number[], maxPoints: number): { step: number; value: number }[] {
  const n = values.length;
  if (n === 0) return [];
  const bins = Math.min(n, Math.max(1, maxPoints));
  const out: { step: number; value: number }[] = [];
  for (let b = 0; b < bins; b++) {
    const lo = Math.floor(b * n / bins), hi = Math.floor((b + 1) * n / bins);
    let sum = 0, k = 0;
    for (let i = lo; i < hi; i++) {
      if (Number.isFinite(values[i])) {
        sum += values[i];
        k++;
      }
    }
    out.push({ step: hi - 1, value: k > 0 ? sum / k : NaN });
  }
  return out;
}

/**
 * A table of runs (one row per run; "not run" rows too). `baselines-cnn` writes `cnn_baseline_runs`; `eval-cnn`
 * writes `cnn_runs`: its learned-optimizer runs plus copies of the baseline runs it compared against, so one
 * `eval-cnn` run key gives the whole comparison. (The engine does not let two stages declare one table.)
 */
export function runsTable(name: string, description: string): TableSpec {
  return { name, description, columns: RUN_COLUMNS };
}

/** Columns of the run tables (see {@link runsTable}). */
export const RUN_COLUMNS: TableSpec["columns"] = [
  { name: "model", type: "VARCHAR", description: "ConvNet name (tasks/convnets.ts)" },
  { name: "dataset", type: "VARCHAR", description: "mnist | cifar10" },
  { name: "optimizer", type: "VARCHAR", description: "momentum | rmsprop | adam | learned" },
  { name: "learning_rate", type: "DOUBLE", description: "swept learning rate (NULL for learned)" },
  { name: "seed", type: "INTEGER", description: "init + minibatch-order seed (NULL when not run)" },
  { name: "steps", type: "INTEGER", description: "steps requested" },
  { name: "steps_run", type: "INTEGER", description: "steps taken (fewer after divergence)" },
  {
    name: "final_train_loss",
    type: "DOUBLE",
    description: "loss on the training-eval subset after the last step",
  },
  { name: "test_loss", type: "DOUBLE", description: "test loss after the last step" },
  { name: "test_accuracy", type: "DOUBLE", description: "test accuracy after the last step" },
  { name: "seconds_per_step", type: "DOUBLE", description: "median wall seconds per training step" },
  { name: "diverged", type: "BOOLEAN", description: "a non-finite loss stopped the run" },
  { name: "status", type: "VARCHAR", description: "ok | not run" },
  { name: "note", type: "VARCHAR", description: "why not run; stand-in weights; etc." },
];

/**
 * A table of learning curves: binned minibatch loss (kind=train) and periodic evaluations (kind=eval);
 * `cnn_baseline_curves` from `baselines-cnn`, `cnn_curves` (learned + copied baselines) from `eval-cnn`.
 */
export function curvesTable(name: string, description: string): TableSpec {
  return { name, description, columns: CURVE_COLUMNS };
}

/** Columns of the curve tables (see {@link curvesTable}). */
export const CURVE_COLUMNS: TableSpec["columns"] = [
  { name: "model", type: "VARCHAR", description: "ConvNet name (tasks/convnets.ts)" },
  { name: "dataset", type: "VARCHAR", description: "mnist | cifar10" },
  { name: "optimizer", type: "VARCHAR", description: "momentum | rmsprop | adam | learned" },
  { name: "learning_rate", type: "DOUBLE", description: "swept learning rate (NULL for learned)" },
  { name: "seed", type: "INTEGER", description: "init + minibatch-order seed" },
  { name: "kind", type: "VARCHAR", description: "train: minibatch-loss bin; eval: evaluation point" },
  {
    name: "step",
    type: "INTEGER",
    description: "train: last step of the bin (0-based); eval: updates applied",
  },
  {
    name: "train_loss",
    type: "DOUBLE",
    description: "train: bin mean of minibatch losses; eval: train-eval loss",
  },
  { name: "test_loss", type: "DOUBLE", description: "eval only" },
  { name: "test_accuracy", type: "DOUBLE", description: "eval only" },
];

/** The row of a runs table for a record. */
export function runRow(r: Omit<CnnRunRecord, "minibatchLoss" | "evals">): Record<string, unknown> {
  return {
    model: r.model,
    dataset: r.dataset,
    optimizer: r.optimizer,
    learning_rate: r.learningRate,
    seed: r.seed < 0 ? null : r.seed,
    steps: r.steps,
    steps_run: r.stepsRun,
    final_train_loss: r.finalTrainLoss,
    test_loss: r.testLoss,
    test_accuracy: r.testAccuracy,
    seconds_per_step: r.secondsPerStep,
    diverged: r.diverged,
    status: r.status,
    note: r.note,
  };
}

/** The rows of `cnn_curves` for a record (at most `maxPoints` train rows plus one per evaluation). */
export function curveRows(r: CnnRunRecord, maxPoints: number): Record<string, unknown>[] {
  const base = {
    model: r.model,
    dataset: r.dataset,
    optimizer: r.optimizer,
    learning_rate: r.learningRate,
    seed: r.seed,
  };
  return [
    ...downsampleCurve(r.minibatchLoss, maxPoints).map((pt) => ({
      ...base,
      kind: "train",
      step: pt.step,
      train_loss: pt.value,
      test_loss: null,
      test_accuracy: null,
    })),
    ...r.evals.map((e) => ({
      ...base,
      kind: "eval",
      step: e.step,
      train_loss: e.trainLoss,
      test_loss: e.testLoss,
      test_accuracy: e.testAccuracy,
    })),
  ];
}

/** A run as stored in {@link RUNS_FILE}: the record without per-step losses, with its curve-table rows. */
export type StoredRun = Omit<CnnRunRecord, "minibatchLoss" | "evals"> & { curve: Record<string, unknown>[] };

/** The stored form of a record (curve downsampled to `maxPoints`). */
export function storedRun(r: CnnRunRecord, maxPoints: number): StoredRun {
  const { minibatchLoss: _m, evals: _e, ...rest } = r;
  return { ...rest, curve: curveRows(r, maxPoints) };
}

/** Writes a run's rows to a runs table and a curves table. */
export async function writeRun(
  ctx: StageContext,
  tables: { runs: string; curves: string },
  r: StoredRun,
): Promise<void> {
  await ctx.writeRows(tables.runs, [runRow(r)]);
  if (r.curve.length > 0) await ctx.writeRows(tables.curves, r.curve);
}

/** Writes {@link RUNS_FILE} (non-finite numbers as null). */
export async function saveRuns(dir: string, stored: StoredRun[]): Promise<void> {
  const text = JSON.stringify(
    stored,
    (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
    1,
  );
  await Deno.writeTextFile(join(dir, RUNS_FILE), text);
}

/** Reads {@link RUNS_FILE} from an artifact directory (nulls back to NaN). */
export async function loadRuns(dir: string): Promise<StoredRun[]> {
  const raw = JSON.parse(await Deno.readTextFile(join(dir, RUNS_FILE))) as Record<string, unknown>[];
  return raw.map((r) => ({
    ...r,
    secondsPerStep: (r.secondsPerStep as number | null) ?? NaN,
    finalTrainLoss: (r.finalTrainLoss as number | null) ?? NaN,
    testLoss: (r.testLoss as number | null) ?? NaN,
    testAccuracy: (r.testAccuracy as number | null) ?? NaN,
  })) as StoredRun[];
}

/** Median over seeds of one (model, optimizer, learning rate) cell of the sweep. */
export interface SweepCell {
  model: string;
  dataset: string;
  optimizer: string;
  learningRate: number | null;
  /** Median final training loss; +Infinity when any seed diverged (a diverged run counts as the worst). */
  medianFinalTrainLoss: number;
  medianTestAccuracy: number;
  medianSecondsPerStep: number;
  seeds: number;
  divergedSeeds: number;
}

/** Groups "ok" runs by (model, optimizer, learning rate) and takes medians over seeds. */
export function sweepCells(runs: StoredRun[]): SweepCell[] {
  const groups = new Map<string, StoredRun[]>();
  for (const r of runs) {
    if (r.status !== "ok") continue;
    const k = JSON.stringify([r.model, r.optimizer, r.learningRate]);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const losses = rs.map((
      r,
    ) => (r.diverged || !Number.isFinite(r.finalTrainLoss) ? Infinity : r.finalTrainLoss));
    const sorted = [...losses].sort((a, b) => a - b);
    const m = sorted.length >> 1;
    const med = sorted.length % 2 === 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    return {
      model: rs[0].model,
      dataset: rs[0].dataset,
      optimizer: rs[0].optimizer,
      learningRate: rs[0].learningRate,
      medianFinalTrainLoss: med,
      medianTestAccuracy: median(rs.map((r) => r.testAccuracy)),
      medianSecondsPerStep: median(rs.map((r) => r.secondsPerStep)),
      seeds: rs.length,
      divergedSeeds: rs.filter((r) => r.diverged).length,
    };
  });
}

/** The tuned cell per (model, optimizer): lowest median final training loss (ties: smaller learning rate). */
export function bestCells(cells: SweepCell[]): Map<string, SweepCell> {
  const best = new Map<string, SweepCell>();
  for (const c of cells) {
    const k = `${c.model}\u0000${c.optimizer}`;
    const b = best.get(k);
    if (
      !b || c.medianFinalTrainLoss < b.medianFinalTrainLoss ||
      (c.medianFinalTrainLoss === b.medianFinalTrainLoss && (c.learningRate ?? 0) < (b.learningRate ?? 0))
    ) best.set(k, c);
  }
  return best;
}

/** Resolves the models named in the params (throws on an unknown name). */
export function cnnModels(p: CnnParams): ConvNetSpec[] {
  return p.models.map((m) => convNetSpec(m));
}
