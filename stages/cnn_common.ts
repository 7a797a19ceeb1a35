/**
 * The declarations shared by the ConvNet evaluation stages `baselines-cnn` and `eval-cnn`: the param schema
 * and profiles (declared once, on `baselines-cnn`; `eval-cnn` reuses the resolved values of its upstream so the
 * learned optimizer sees exactly the same models, data, horizon and seeds), data loading with the "not run"
 * path for missing datasets, and the result tables. The protocol of one run is `models/evaluation/cnn_run.ts`.
 *
 * @module
 */
import type { ParamSpec, TableSpec } from "../pipeline/stage.ts";
import { logGrid } from "../lib/stats.ts";
import { CONVNET_NAMES, type ConvNetSpec, convNetSpec } from "../tasks/convnets.ts";
import { cifar10DirIfProvided } from "../tasks/data/cifar10.ts";
import { MAX_SEED } from "../lib/rng.ts";
import { CNN_CURVE_COLUMNS, CNN_RUN_COLUMNS } from "./columns.ts";
import { withGpuProfile } from "./profiles.ts";

/** Baseline optimizer families swept by `baselines-cnn`. */
export const CNN_BASELINES = ["momentum", "rmsprop", "adam"] as const;
/** One of {@link CNN_BASELINES}. */
export type CnnBaseline = typeof CNN_BASELINES[number];
/** Momentum coefficient of the `momentum` baseline (SGD + heavy-ball momentum). */
export const CNN_MOMENTUM = 0.9;

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
      momentum: logGrid(1e-3, 1, 7, 3),
      rmsprop: logGrid(1e-5, 1e-1, 9, 3),
      adam: logGrid(1e-5, 1e-1, 9, 3),
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
 *
 * @example
 * ```ts
 * validateCnnParams({ ...p, optimizers: ["adam"], learningRates: { adam: [1e-3, 1e-2] } }); // ok
 * ```
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

/**
 * A table of runs (one row per run; "not run" rows too). `baselines-cnn` writes `cnn_baseline_runs`; `eval-cnn`
 * writes `cnn_runs`: its learned-optimizer runs plus copies of the baseline runs it compared against, so one
 * `eval-cnn` run key gives the whole comparison. (The engine does not let two stages declare one table.)
 *
 * @example
 * ```ts
 * const spec = runsTable("cnn_baseline_runs", "one row per baseline ConvNet run");
 * ```
 */
export function runsTable(name: string, description: string): TableSpec {
  return { name, description, columns: CNN_RUN_COLUMNS };
}

/**
 * A table of learning curves: binned minibatch loss (kind=train) and periodic evaluations (kind=eval);
 * `cnn_baseline_curves` from `baselines-cnn`, `cnn_curves` (learned + copied baselines) from `eval-cnn`.
 *
 * @example
 * ```ts
 * const spec = curvesTable("cnn_baseline_curves", "learning curves of the baseline ConvNet runs");
 * ```
 */
export function curvesTable(name: string, description: string): TableSpec {
  return { name, description, columns: CNN_CURVE_COLUMNS };
}

/**
 * Resolves the models named in the params (throws on an unknown name).
 *
 * @example
 * ```ts
 * cnnModels({ ...p, models: ["convnet_mnist_relu"] }).map((s) => s.name); // ["convnet_mnist_relu"]
 * ```
 */
export function cnnModels(p: CnnParams): ConvNetSpec[] {
  return p.models.map((m) => convNetSpec(m));
}
