/**
 * The `meta-train` stage's params as types and profiles: {@link MetaTrainParams}, the profiles, the check
 * between params, and the meta-training settings they select (shared with the meta-training benchmarks and
 * the ablations).
 *
 * @module
 */
import { NATS_URL_ENV } from "../lib/nats_env.ts";
import type { MetaTrainConfigInput } from "../models/metatrain/config.ts";
import type { LearnedKind } from "../models/hrnn/weights_file.ts";
import { withGpuProfile } from "./profiles.ts";

/** Params of the `meta-train` stage. */
export interface MetaTrainParams extends Record<string, unknown> {
  optimizer: LearnedKind;
  metaObjective: "log" | "linear";
  seed: number;
  estimator: "tbptt" | "pes";
  pesPairs: number;
  pesSigma: number;
  metaOptimizer: "rmsprop" | "adam";
  metaLr: number;
  maxMetaSteps: number;
  maxSeconds: number;
  metaBatch: number;
  instances: number;
  numMetaIterations: number;
  numUnrollScale: number;
  minNumUnrolls: number;
  unrollLengthScale: number;
  minUnrollLength: number;
  maxUnrollLength: number;
  secondDerivatives: boolean;
  objTrainMaxMultiplier: number;
  globalNormClip: number;
  clipPerInstance: boolean;
  maxTaskDims: number;
  hrnn: Record<string, unknown>;
  kernel: string;
  checkpointEvery: number;
  workers: number;
  workerMode: "sync" | "async";
  staleness: number;
  workerTimeout: number;
}

/**
 * The meta-training settings that `meta-train`'s params select (everything `metaTrain` takes besides the
 * optimizer family, the problems, the seed and the budget), shared with the meta-training benchmarks.
 *
 * @example
 * ```ts
 * import { resolveParams } from "../pipeline/params.ts";
 * const p = resolveParams(metaTrainStage, "default", []) as MetaTrainParams;
 * const { config, metaBatch, instances } = metaTrainSettings(p);
 * ```
 */
export function metaTrainSettings(
  p: MetaTrainParams,
): { config: MetaTrainConfigInput; metaBatch: number; instances: number } {
  return {
    config: {
      schedule: {
        numMetaIterations: p.numMetaIterations,
        numUnrollScale: p.numUnrollScale,
        minNumUnrolls: p.minNumUnrolls,
        unrollLengthScale: p.unrollLengthScale,
        minUnrollLength: p.minUnrollLength,
        maxUnrollLength: p.maxUnrollLength,
      },
      unroll: {
        secondDerivatives: p.secondDerivatives,
        logObjective: p.metaObjective !== "linear",
        objTrainMaxMultiplier: p.objTrainMaxMultiplier ?? -1,
      },
      estimator: {
        kind: p.estimator,
        pesPairs: p.pesPairs,
        pesSigma: p.pesSigma,
        globalNormClip: p.globalNormClip,
        clipPerInstance: p.clipPerInstance,
      },
      metaOptimizer: { kind: p.metaOptimizer, lr: p.metaLr },
    },
    metaBatch: p.metaBatch,
    instances: p.instances,
  };
}

/** The profiles of `meta-train`: `smoke` for tests, `default` for a run of minutes on 2 cores, `paper`. */
export const META_TRAIN_PROFILES: Partial<Record<string, Partial<MetaTrainParams>>> = withGpuProfile({
  smoke: {
    metaOptimizer: "adam",
    metaLr: 1e-3,
    globalNormClip: 1,
    hrnn: { initLrRange: [0.0001, 0.01] },
    maxMetaSteps: 6,
    metaBatch: 1,
    numMetaIterations: 1,
    numUnrollScale: 1,
    unrollLengthScale: 5,
    minUnrollLength: 8,
    maxUnrollLength: 16,
    maxTaskDims: 200,
    checkpointEvery: 2,
  },
  // Sized for a run of minutes on 2 cores; every value was chosen on the validation split (docs/meta-training.md
  // gives the measurements): Adam at 1e-3 with a global-norm clip, 2,400 meta-steps, long trajectories
  // (1+Exp(20) unrolls per problem, 2 meta-iterations), one instance per slot, and trajectories abandoned when
  // their loss reaches 10x its start (the median over three meta-training seeds, not one seed's luck). The
  // HRNN's absolute log-learning-rate feature (useLrShortcut) stays off: it wins more small validation problems
  // but trains the validation ConvNet worse for the median seed, and not at all in one run.
  default: {
    metaOptimizer: "adam",
    metaLr: 1e-3,
    globalNormClip: 1,
    hrnn: { initLrRange: [0.0001, 0.01] },
    // No time cap: a cap makes the number of meta-steps (and so the weights) depend on the machine's load.
    maxMetaSteps: 2400,
    metaBatch: 2,
    numMetaIterations: 2,
    numUnrollScale: 20,
    unrollLengthScale: 20,
    minUnrollLength: 20,
    maxUnrollLength: 60,
    maxTaskDims: 2000,
    objTrainMaxMultiplier: 10,
  },
  // The paper's configuration: no early stop on blow-up (the reference's obj_train_max_multiplier -1).
  paper: { maxMetaSteps: 100000, objTrainMaxMultiplier: -1 },
});

/**
 * Checks between `meta-train` params: the minimum unroll length is at most the cap, and an early-stop multiplier
 * is either off (≤ 0) or above 1.
 *
 * @example
 * ```ts
 * validateMetaTrainParams({ ...p, minUnrollLength: 20, maxUnrollLength: 60 }); // ok
 * ```
 */
export function validateMetaTrainParams(p: MetaTrainParams): void {
  if (p.maxUnrollLength > 0 && p.minUnrollLength > p.maxUnrollLength) {
    throw new Error(
      `minUnrollLength=${p.minUnrollLength} must be at most maxUnrollLength=${p.maxUnrollLength} ` +
        "(or set maxUnrollLength=0: no cap)",
    );
  }
  const m = p.objTrainMaxMultiplier ?? -1;
  if (m > 0 && m <= 1) {
    throw new Error(
      `objTrainMaxMultiplier=${m} would end every trajectory at its first step: use a value above 1, ` +
        "or -1 for no early stop",
    );
  }
  assertAsyncHasWorkers(p, Deno.env.get(NATS_URL_ENV) ?? "");
}

/**
 * Throws when `workerMode=async` has neither local workers nor a NATS server (`natsUrl`, "" for none) to
 * serve it. Called when the run is planned and again where the workers open (a stage worker's environment
 * may differ from the planner's).
 *
 * @example
 * ```ts
 * assertAsyncHasWorkers({ ...p, workerMode: "async", workers: 2 }, ""); // ok
 * ```
 */
export function assertAsyncHasWorkers(
  p: Pick<MetaTrainParams, "workerMode" | "workers">,
  natsUrl: string,
): void {
  if (p.workerMode === "async" && p.workers === 0 && natsUrl === "") {
    throw new Error("workerMode=async needs workers: set meta-train.workers=N, or pass --nats URL");
  }
}
