/**
 * Stage `meta-train`: meta-trains the hierarchical RNN optimizer on the ensemble of `generate-tasks` (split
 * train) and publishes its weights file. Checkpoints live outside the staging directory
 * (`<results>/checkpoints/meta-train/<key>/`), so a run that is killed resumes from its last intact checkpoint
 * (each carries a checksum; a damaged or edited one is skipped, and with none left the run starts from scratch).
 * A meta-step that makes the meta-parameters non-finite fails the stage before it is checkpointed, and the
 * weights file is never written with non-finite values, so nothing non-finite is ever published.
 *
 * @module
 */
import { join } from "node:path";
import { defineStage } from "../pipeline/stage.ts";
import { gitCommit } from "../pipeline/git.ts";
import type { CurveRow } from "../models/metatrain/curve.ts";
import type { MetaTrainConfigInput } from "../models/metatrain/config.ts";
import { type HrnnConfig, makeHrnnConfig } from "../models/hrnn/config.ts";
import { MAX_SEED } from "../lib/rng.ts";
import { readTaskSet } from "./task_set.ts";
import { WEIGHTS_FILE } from "../models/optimizers/learned_artifact.ts";
import { LEARNED_KINDS, type LearnedConfig, type LearnedKind } from "../models/hrnn/weights_file.ts";
import type { MetaTrainSetupArgs } from "./meta_train_setup.ts";
import { withGpuProfile } from "./profiles.ts";

/** Params of {@link metaTrainStage}. */
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
      unroll: { secondDerivatives: p.secondDerivatives, logObjective: p.metaObjective !== "linear" },
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

/** The `meta-train` stage. */
export const metaTrainStage = defineStage<MetaTrainParams>({
  name: "meta-train",
  description:
    "Meta-trains the hierarchical RNN (or the learned optimizer `optimizer` names) on the training ensemble (weights file)",
  deps: ["generate-tasks"],
  // 2: on wasm, tf.sign was wrong below 1.19e-7 (lib/kernels/sign.ts), which broke the first-step rule of the
  // mean squares (§2.3) for small gradients during meta-training; weights trained before the fix differ.
  // 3: the taped HRNN updates run on the differentiable fused kernel (param `kernel`, default "auto"); its
  // float32 rounding differs from the ops path's, so the trained weights differ.
  version: "3",
  params: {
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
      description:
        "meta-loss: log (mean log relative loss, the paper) or linear (mean loss / initial loss: " +
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
  },
  profiles: withGpuProfile({
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
    // Sized for a run of minutes on 2 cores; every value was chosen on the validation split (README
    // "Meta-training profiles" gives the measurements): Adam at 1e-3 with a global-norm clip, 2,400 meta-steps,
    // long trajectories (1+Exp(20) unrolls per problem, 2 meta-iterations), one instance per slot.
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
    },
    paper: { maxMetaSteps: 100000 },
  }),
  validate(p) {
    if (p.maxUnrollLength > 0 && p.minUnrollLength > p.maxUnrollLength) {
      throw new Error(
        `minUnrollLength=${p.minUnrollLength} must be at most maxUnrollLength=${p.maxUnrollLength} ` +
          "(or set maxUnrollLength=0: no cap)",
      );
    }
  },
  tables: [{
    name: "meta_train_curve",
    description: "meta-training curve: one row per partial unroll (meta-batch slot) per meta-step (async " +
      "workers: one row per meta-step)",
    columns: [
      { name: "meta_step", type: "INTEGER", description: "meta-update the unroll contributed to (1-based)" },
      { name: "slot", type: "INTEGER", description: "meta-batch slot" },
      {
        name: "meta_loss",
        type: "DOUBLE",
        description: "mean log relative loss of the unroll (NaN: diverged)",
      },
      { name: "family", type: "VARCHAR", description: "problem family" },
      { name: "unroll_len", type: "INTEGER", description: "planned unroll length" },
      { name: "seconds", type: "DOUBLE", description: "training seconds since the start" },
      {
        name: "worker",
        type: "VARCHAR",
        description:
          "who computed the estimate: in-process, local-N (a local worker) or a NATS worker's id " +
          "(null in artifacts that do not record it)",
      },
      {
        name: "staleness",
        type: "INTEGER",
        description:
          "meta-updates between the meta-params the estimate was computed with and the update it fed " +
          "(0 unless async)",
      },
    ],
  }],
  async run(ctx) {
    const p = ctx.params;
    // Heavy modules (TensorFlow.js) load only when the stage runs, so cached runs and --help stay fast.
    const { initBackend, requireSyncReads } = await import("../lib/backend.ts");
    const { buildProblem } = await import("../tasks/registry.ts");
    const { preloadDatasets } = await import("../tasks/external.ts");
    const { workerSetup, META_TRAIN_SETUP_MODULE } = await import("./meta_train_setup.ts");
    const { openWorkers } = await import("./meta_train_workers.ts");
    const { metaTrain } = await import("../models/metatrain/meta_train.ts");
    const { saveWeights } = await import("../models/hrnn/weights_file.ts");
    await initBackend();
    requireSyncReads("stage meta-train");
    const set = await readTaskSet(ctx.inputs["generate-tasks"].dir);
    const all = set.tasks.filter((t) => t.split === "train");
    const resolveDataset = await preloadDatasets(all.map((t) => t.spec));
    // generate-tasks already measured every problem's size (its `tasks` rows); build only unknown ones.
    const { readTaskDims } = await import("./eval_common.ts");
    const known = await readTaskDims(ctx.inputs["generate-tasks"].dir);
    const dimsOf = (t: (typeof all)[number]): number => {
      const d = known.get(t.id);
      if (d !== undefined) return d;
      const prob = buildProblem(t.spec, { resolveDataset });
      const n = prob.paramShapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
      prob.dispose();
      return n;
    };
    const train = p.maxTaskDims > 0 ? all.filter((t) => dimsOf(t) <= p.maxTaskDims) : all;
    if (train.length === 0) {
      throw new Error(
        `meta-train: no training problems left (maxTaskDims=${p.maxTaskDims}); raise maxTaskDims`,
      );
    }
    ctx.log(`meta-training on ${train.length} of ${all.length} training problems`);
    const { describeFusedEngine } = await import("../models/hrnn/native.ts");
    ctx.log(
      p.optimizer !== "hrnn"
        ? `meta-training ${p.optimizer} (tfjs ops; params hrnn and kernel do not apply)`
        : p.kernel === "ops" || (p.hrnn as Partial<HrnnConfig>).useAttention
        ? "taped HRNN updates: tfjs ops path"
        : `taped HRNN updates: differentiable fused kernel (${describeFusedEngine()})`,
    );
    const recipeArgs: MetaTrainSetupArgs = {
      optimizer: p.optimizer,
      hrnn: p.hrnn as Partial<HrnnConfig>,
      kernel: p.kernel as "auto" | "ops",
      specs: train.map((t) => t.spec),
    };
    const { learned, problems } = await workerSetup(recipeArgs, { resolveDataset });
    const settings = metaTrainSettings(p);
    const workers = await openWorkers(p, {
      recipe: { module: META_TRAIN_SETUP_MODULE, args: recipeArgs },
      seed: p.seed,
      metaBatch: settings.metaBatch,
      instances: settings.instances,
      log: (m) => ctx.log(m),
    });
    const checkpointDir = join(ctx.resultsDir, "checkpoints", "meta-train", ctx.key);
    await Deno.mkdir(checkpointDir, { recursive: true });

    let buffer: CurveRow[] = [];
    let pending: Promise<void> = Promise.resolve();
    /** Queues the buffered curve rows for writing, in order. */
    const flush = (): Promise<void> => {
      const rows = buffer;
      buffer = [];
      if (rows.length > 0) {
        pending = pending.then(() => ctx.writeRows("meta_train_curve", rows.map((r) => ({ ...r }))));
      }
      return pending;
    };
    const result = await metaTrain({
      learned,
      problems,
      ...settings,
      ...workers,
      seed: p.seed,
      maxMetaSteps: p.maxMetaSteps,
      maxSeconds: p.maxSeconds > 0 ? p.maxSeconds : undefined,
      onCurve: (row) => buffer.push(row),
      onProgress: (pr) => {
        ctx.progress(pr.metaStep, pr.maxMetaSteps, `meta-loss ${pr.metaLoss.toFixed(3)}`);
        if (buffer.length >= 20) void flush();
      },
      onLog: (m) => ctx.log(m),
      checkpointDir,
      checkpointEvery: p.checkpointEvery,
      signal: ctx.signal,
    });
    await flush();
    if (result.resumedFrom !== null) ctx.log(`resumed from checkpoint at meta-step ${result.resumedFrom}`);
    const finite = result.curve.filter((r) => Number.isFinite(r.meta_loss));
    const head = finite.slice(0, Math.max(1, Math.floor(finite.length / 10)));
    const tail = finite.slice(-Math.max(1, Math.floor(finite.length / 10)));
    const mean = (rs: CurveRow[]) => rs.reduce((s, r) => s + r.meta_loss, 0) / Math.max(1, rs.length);
    const stride = Math.max(1, Math.ceil(result.curve.length / 200));
    await saveWeights(join(ctx.outDir, WEIGHTS_FILE), result.metaParams, learned.config as LearnedConfig, {
      profile: ctx.profile,
      params: JSON.parse(JSON.stringify(p)),
      cacheKey: ctx.key,
      gitCommit: (await gitCommit()) ?? undefined,
      metaTraining: {
        metaSteps: result.metaSteps,
        stoppedBy: result.stoppedBy,
        innerSteps: result.innerSteps,
        wallSeconds: result.seconds,
        problems: train.length,
        metaLossFirstTenth: finite.length ? mean(head) : null,
        metaLossLastTenth: finite.length ? mean(tail) : null,
        curve: result.curve.filter((_, i) => i % stride === 0).map((r) => [r.meta_step, r.meta_loss]),
      },
    }, p.optimizer);
    Object.values(result.metaParams).forEach((t) => t.dispose());
    ctx.log(
      `meta-trained ${result.metaSteps} meta-steps (${result.stoppedBy}), ${result.innerSteps} inner steps in ` +
        `${result.seconds.toFixed(1)} s; meta-loss first tenth ${mean(head).toFixed(3)}, last tenth ${
          mean(tail).toFixed(3)
        }`,
    );
  },
});
