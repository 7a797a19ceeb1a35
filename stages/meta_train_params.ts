/**
 * The param schema of the `meta-train` stage: every param with its type, range, default (the paper's
 * settings) and description.
 *
 * @module
 */
import type { ParamSpec } from "../pipeline/stage.ts";
import { type HrnnConfig, makeHrnnConfig } from "../models/hrnn/config.ts";
import { MAX_SEED } from "../lib/rng.ts";
import { LEARNED_KINDS } from "../models/hrnn/weights_file.ts";

/** What is wrong with an `hrnn` param (an object of HrnnConfig overrides), or null. */
function checkHrnnOverrides(v: unknown): string | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return "not a JSON object";
  try {
    makeHrnnConfig(v as Partial<HrnnConfig>);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The params of `meta-train`, with their defaults (the paper's settings). */
export const META_TRAIN_PARAMS: Record<string, ParamSpec> = {
  optimizer: {
    type: "string",
    default: "hrnn",
    choices: LEARNED_KINDS,
    description:
      "learned optimizer to meta-train: hrnn (the paper's), l2l-lstm (Andrychowicz et al. 2016), " +
      "crnn (coordinatewise GRU); the weights file records which",
  },
  metaObjective: {
    type: "string",
    default: "log",
    choices: ["log", "linear"],
    description: "meta-loss: log (mean log relative loss, the paper) or linear (mean loss / initial loss: " +
      "Andrychowicz et al.'s sum of losses, normalised per problem)",
  },
  seed: {
    type: "integer",
    default: 0,
    min: 0,
    max: MAX_SEED,
    description: "seed of meta-param init, problem sampling, schedule",
  },
  estimator: {
    type: "string",
    default: "tbptt",
    choices: ["tbptt", "pes"],
    description: "gradient estimator",
  },
  pesPairs: { type: "integer", default: 4, min: 1, max: 64, description: "PES antithetic pairs" },
  pesSigma: { type: "number", default: 0.01, min: 0, max: 1, description: "PES perturbation std" },
  metaOptimizer: {
    type: "string",
    default: "rmsprop",
    choices: ["rmsprop", "adam"],
    description: "meta-optimizer (paper: RMSProp)",
  },
  metaLr: {
    type: "number",
    default: 1e-6,
    min: 1e-12,
    max: 1,
    description: "meta learning rate (paper: 1e-6)",
  },
  maxMetaSteps: {
    type: "integer",
    default: 1000,
    min: 0,
    max: 1_000_000,
    description: "meta-steps (meta-updates) in total",
  },
  maxSeconds: {
    type: "number",
    default: 0,
    min: 0,
    max: 604_800,
    description: "training-time budget in seconds (0: none; at most a week)",
  },
  metaBatch: {
    type: "integer",
    default: 1,
    min: 1,
    max: 64,
    description: "problems per meta-step (gradients averaged)",
  },
  instances: {
    type: "integer",
    default: 1,
    min: 1,
    max: 64,
    description: "independent instances of each sampled problem trained together in one batched unroll " +
      "(meta-gradient averaged over them; tbptt only)",
  },
  numMetaIterations: {
    type: "integer",
    default: 5,
    min: 1,
    max: 1000,
    description: "meta-iterations per sampled problem",
  },
  numUnrollScale: {
    type: "number",
    default: 40,
    min: 0,
    max: 1000,
    description: "mean of Exp part of #unrolls",
  },
  minNumUnrolls: { type: "integer", default: 1, min: 1, max: 1000, description: "minimum #unrolls" },
  unrollLengthScale: {
    type: "number",
    default: 200,
    min: 0,
    max: 10_000,
    description: "mean of Exp part of unroll length",
  },
  minUnrollLength: {
    type: "integer",
    default: 50,
    min: 1,
    max: 10_000,
    description: "minimum unroll length (at most maxUnrollLength when that is set)",
  },
  maxUnrollLength: {
    type: "integer",
    default: 0,
    min: 0,
    max: 10_000,
    description: "cap on unroll length (0: none)",
  },
  secondDerivatives: { type: "boolean", default: true, description: "backprop through problem gradients" },
  objTrainMaxMultiplier: {
    type: "number",
    default: -1,
    min: -1,
    max: 1e6,
    key: "omit-default",
    description:
      "end a trajectory (its meta-iteration) when its full loss reaches F0 + (m − 1)·|F0|, F0 its first " +
      "value; the next meta-iteration starts from fresh parameters (≤ 0: never, as in the paper)",
  },
  globalNormClip: {
    type: "number",
    default: 0,
    min: 0,
    max: 1e6,
    description:
      "clip each meta-gradient to this global norm (0: off, the paper; the default profile uses 1)",
  },
  clipPerInstance: {
    type: "boolean",
    default: false,
    description:
      "with instances > 1: clean and clip each instance's meta-gradient on its own before averaging (as separate slots are)",
  },
  maxTaskDims: {
    type: "integer",
    default: 0,
    min: 0,
    max: 100_000_000,
    description: "train only on problems with at most this many parameters (0: all)",
  },
  hrnn: {
    type: "json",
    default: {},
    range: "an object of HrnnConfig options, see models/hrnn/config.ts",
    check: checkHrnnOverrides,
    description: 'HRNN config overrides, e.g. {"useAttention": true}',
  },
  kernel: {
    type: "string",
    default: "auto",
    choices: ["auto", "ops"],
    description:
      "taped HRNN update: auto = differentiable fused kernel (wasm backend, no attention), ops = tfjs ops",
  },
  checkpointEvery: {
    type: "integer",
    default: 20,
    min: 1,
    max: 1_000_000,
    description: "checkpoint every N meta-steps",
  },
  workers: {
    type: "integer",
    default: 0,
    min: 0,
    max: 64,
    key: "omit",
    description:
      "meta-training worker processes started by the stage (0: slots run in the stage's process); " +
      "they talk over pipes, or through NATS with --nats / LOPT_NATS_URL (then `deno task worker` processes " +
      "on other machines join too). Not in the artifact key: synchronous workers give the same weights",
  },
  workerMode: {
    type: "string",
    default: "sync",
    choices: ["sync", "async"],
    key: "omit-default",
    description: "sync: a meta-step waits for every slot (equals in-process bit for bit); async: every " +
      "accepted estimate is one meta-update, estimates older than `staleness` versions are rejected (needs " +
      "workers or --nats)",
  },
  staleness: {
    type: "integer",
    default: 1,
    min: 0,
    max: 1000,
    key: "omit-default",
    description: "async: the most meta-updates an applied estimate's meta-params may be behind",
  },
  workerTimeout: {
    type: "number",
    default: 600,
    min: 1,
    max: 86_400,
    key: "omit",
    description: "seconds a worker may take for one slot's unroll before its slot is reassigned",
  },
};
