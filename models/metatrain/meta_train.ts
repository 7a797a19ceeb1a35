/**
 * The outer meta-training loop (design §6.3–6.5): schedule → gradient estimator → outer trainer, with a
 * meta-batch of slots, a learning curve, periodic atomic checkpoints and deterministic resume.
 *
 * One meta-step asks the {@link EstimateSource} for the next partial unroll of every slot (each slot follows
 * its own `MetaSchedule` cursor over its own sampled problem); the {@link OuterTrainer} averages the slots'
 * cleaned meta-gradients and applies one meta-optimizer update. With `metaBatch: 1` this is exactly the
 * paper's one-meta-update-per-partial-unroll loop (single worker). All randomness is derived from `seed` and
 * the schedule counters, so a run resumed from a checkpoint produces the same meta-parameters as an
 * uninterrupted one (for problems whose `sampleBatch` depends only on the Rng it is given).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { LearnedOptimizer } from "../optimizers/learned.ts";
import {
  type MetaTrainConfig,
  metaTrainConfigHash,
  type MetaTrainConfigInput,
  resolveMetaTrainConfig,
} from "./config.ts";
import { deriveSeed } from "./schedule.ts";
import { encodeTensorMap } from "../../lib/state_tree.ts";
import { writeCheckpoint } from "./checkpoint.ts";
import {
  decodeSlot,
  type EncodedSlot,
  encodeSlot,
  makeSlotStepper,
  newSlot,
  type ProblemSource,
  type SlotStepper,
} from "./slot_step.ts";
import { type CurveRow, curveRows } from "./curve.ts";
import { checkpointOf, restoreRun, type RunStart } from "./resume.ts";
import { type DistributeInit, type EstimateSource, inProcessSource } from "./estimate_source.ts";
import {
  applyEstimates,
  disposeOuterTrainer,
  releaseMetaParams,
  startOuterTrainer,
} from "./outer_trainer.ts";

export type { ProblemSource } from "./slot_step.ts";
export type { CurveRow } from "./curve.ts";

/** Progress report after every meta-step. */
export interface MetaTrainProgress {
  /** Meta-steps completed. */
  metaStep: number;
  /** The configured maximum. */
  maxMetaSteps: number;
  /** Training seconds so far. */
  seconds: number;
  /** Inner optimizer steps so far (all slots and particles). */
  innerSteps: number;
  /** Mean meta-loss of this meta-step over the slots with a finite loss. */
  metaLoss: number;
}

/** Arguments of {@link metaTrain}. */
export interface MetaTrainArgs {
  /** The learned-optimizer family being meta-trained. */
  learned: LearnedOptimizer;
  /** The problem ensemble. */
  problems: ProblemSource;
  /** Configuration overrides (merged over the paper's). */
  config?: MetaTrainConfigInput;
  /** Seed of everything random (meta-param init, problem choice, schedule, batches, perturbations). */
  seed: number;
  /** Stop after this many meta-steps in total (counting steps before a resume). */
  maxMetaSteps: number;
  /** Stop once this many training seconds have passed (counting time before a resume); 0 / absent: none. */
  maxSeconds?: number;
  /** Slots per meta-step whose meta-gradients are averaged (default 1: the paper). */
  metaBatch?: number;
  /**
   * Independent instances of its problem each slot trains on at once (default 1), as one batched unroll
   * (`tasks/batched.ts`); the slot's meta-gradient is the mean over them. TBPTT only.
   */
  instances?: number;
  /** Starting meta-parameters instead of `learned.init(seed)` (not disposed; hashed into the config). */
  initialMetaParams?: Record<string, tf.Tensor>;
  /** Called for every curve row (also for the rows restored from a checkpoint, unless `replayCurve` false). */
  onCurve?: (row: CurveRow) => void;
  /** Re-emit the restored curve rows through `onCurve` on resume (default true). */
  replayCurve?: boolean;
  /** Called after every meta-step. */
  onProgress?: (p: MetaTrainProgress) => void;
  /** Called with human-readable notes (resume, skipped checkpoints). */
  onLog?: (msg: string) => void;
  /** Directory for checkpoints; absent: no checkpoints, no resume. */
  checkpointDir?: string;
  /** Write a checkpoint every N meta-steps (default 50), and always at the end. */
  checkpointEvery?: number;
  /** Number of checkpoints kept (default 2). */
  checkpointKeep?: number;
  /** Stops the run at the next meta-step boundary (a final checkpoint is written). */
  signal?: AbortSignal;
  /**
   * Hands the slots to meta-training workers instead of running them in this process (see
   * `models/metatrain/distributed/coordinator.ts`); absent: in-process. Synchronous workers give the in-process
   * result bit for bit.
   */
  distribute?: (init: DistributeInit) => Promise<EstimateSource>;
  /**
   * Asynchronous meta-training (needs `distribute`): the slots run concurrently, each accepted estimate is one
   * meta-update, and an estimate computed with meta-params more than this many updates old is rejected.
   * Absent: synchronous.
   */
  asyncStaleness?: number;
}

/** Why {@link metaTrain} returned. */
export type MetaTrainStop = "max_steps" | "time" | "signal";

/** Result of {@link metaTrain}. */
export interface MetaTrainResult {
  /** Final meta-parameters (owned by the caller). */
  metaParams: Record<string, tf.Tensor>;
  /** Meta-steps completed in total. */
  metaSteps: number;
  /** The whole learning curve, including rows restored from a checkpoint. */
  curve: CurveRow[];
  /** Why it stopped. */
  stoppedBy: MetaTrainStop;
  /** Meta-step of the checkpoint the run resumed from, or null. */
  resumedFrom: number | null;
  /** Training seconds in total. */
  seconds: number;
  /** Inner optimizer steps in total (all slots and particles). */
  innerSteps: number;
  /** Hash of the configuration (names the checkpoints' run). */
  configHash: string;
}

/** The checked, resolved inputs of a run. */
interface RunPlan {
  config: MetaTrainConfig;
  metaBatch: number;
  every: number;
  stepper: SlotStepper;
  hash: string;
  log: (msg: string) => void;
}

/**
 * Meta-trains `learned` on the ensemble. Resumes from the newest valid checkpoint in `checkpointDir` (same
 * configuration hash) when there is one. Returns when `maxMetaSteps` or `maxSeconds` is reached or `signal`
 * aborts; exceptions (e.g. a failing `onCurve`) propagate without writing a checkpoint, like a kill.
 *
 * @example
 * ```ts
 * const { metaParams, curve } = await metaTrain({ learned, problems, seed: 0, maxMetaSteps: 100 });
 * ```
 */
export async function metaTrain(args: MetaTrainArgs): Promise<MetaTrainResult> {
  const plan = await planRun(args);
  const start = await restoreOrInit(args, plan);
  const { trainer, curve } = start;
  let innerSteps = start.innerSteps;
  let source: EstimateSource;
  try {
    source = await openSource(args, plan, start.encodedSlots);
  } catch (e) {
    disposeOuterTrainer(trainer);
    throw e;
  }
  const t0 = performance.now();
  const seconds = () => start.secondsBefore + (performance.now() - t0) / 1000;
  let lastCheckpoint = trainer.step;
  const save = async () => {
    if (!args.checkpointDir) return;
    const data = checkpointOf({
      configHash: plan.hash,
      learned: args.learned.name,
      trainer,
      seconds: seconds(),
      innerSteps,
      curve,
      slots: source.encodeSlots(),
    });
    await writeCheckpoint(args.checkpointDir, data, args.checkpointKeep ?? 2);
    lastCheckpoint = trainer.step;
  };
  try {
    let stoppedBy: MetaTrainStop | null;
    while ((stoppedBy = stopReason(args, trainer.step, seconds())) === null) {
      const estimates = await source.next(trainer.metaParams, trainer.step);
      const rows = curveRows(estimates, trainer.step + 1);
      innerSteps += estimates.reduce((s, e) => s + e.innerSteps, 0);
      const losses = estimates.map((e) => e.loss).filter(Number.isFinite);
      applyEstimates(trainer, estimates);
      const sec = seconds();
      for (const r of rows) {
        r.seconds = sec;
        curve.push(r);
        args.onCurve?.(r);
      }
      args.onProgress?.({
        metaStep: trainer.step,
        maxMetaSteps: args.maxMetaSteps,
        seconds: sec,
        innerSteps,
        metaLoss: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : NaN,
      });
      if (trainer.step % plan.every === 0) await save();
      // Let timers and signal handlers run between meta-steps.
      await new Promise((r) => setTimeout(r, 0));
    }
    if (lastCheckpoint !== trainer.step) await save();
    const metaSteps = trainer.step;
    return {
      metaParams: releaseMetaParams(trainer),
      metaSteps,
      curve,
      stoppedBy,
      resumedFrom: start.resumedFrom,
      seconds: seconds(),
      innerSteps,
      configHash: plan.hash,
    };
  } catch (e) {
    disposeOuterTrainer(trainer);
    throw e;
  } finally {
    await source.close();
  }
}

function checkInteger(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min} (got ${v})`);
}

/** Checks the arguments, resolves the configuration and builds the slot stepper and the run's hash. */
async function planRun(args: MetaTrainArgs): Promise<RunPlan> {
  const config = resolveMetaTrainConfig(args.config);
  const metaBatch = args.metaBatch ?? 1;
  checkInteger("metaBatch", metaBatch, 1);
  checkInteger("maxMetaSteps", args.maxMetaSteps, 0);
  const every = args.checkpointEvery ?? 50;
  checkInteger("checkpointEvery", every, 1);
  const instances = args.instances ?? 1;
  checkInteger("instances", instances, 1);
  const staleness = args.asyncStaleness;
  if (staleness !== undefined) {
    if (!args.distribute) throw new Error("asynchronous meta-training needs workers (distribute)");
    checkInteger("asyncStaleness", staleness, 0);
  }
  const stepper = makeSlotStepper({
    learned: args.learned,
    problems: args.problems,
    schedule: config.schedule,
    estimator: config.estimator,
    unroll: config.unroll,
    seed: args.seed,
    instances,
  });
  stepper.estimator.trajectoriesFor(instances); // throws for an estimator that cannot batch instances
  const hash = await metaTrainConfigHash({
    learned: args.learned,
    config,
    seed: args.seed,
    metaBatch,
    instances,
    specs: args.problems.specs,
    initialMetaParams: args.initialMetaParams ? encodeTensorMap(args.initialMetaParams) : null,
    asyncStaleness: staleness,
  });
  return { config, metaBatch, every, stepper, hash, log: args.onLog ?? (() => {}) };
}

/** The newest valid checkpoint's state, or fresh meta-parameters and meta-optimizer state. */
async function restoreOrInit(args: MetaTrainArgs, plan: RunPlan): Promise<RunStart> {
  const restored = args.checkpointDir
    ? await restoreRun(args.checkpointDir, plan.hash, plan.config.metaOptimizer, plan.log)
    : null;
  if (restored) {
    if (args.replayCurve ?? true) { for (const r of restored.curve) args.onCurve?.(r); }
    return restored;
  }
  const metaParams = args.initialMetaParams
    ? Object.fromEntries(Object.entries(args.initialMetaParams).map(([k, v]) => [k, v.clone()]))
    : args.learned.init(deriveSeed(args.seed, "meta-params"));
  return {
    trainer: startOuterTrainer(plan.config.metaOptimizer, metaParams),
    encodedSlots: null,
    secondsBefore: 0,
    innerSteps: 0,
    curve: [],
    resumedFrom: null,
  };
}

/** The source of estimates: the workers of `distribute`, or the in-process loop over the slots. */
function openSource(
  args: MetaTrainArgs,
  plan: RunPlan,
  encodedSlots: EncodedSlot[] | null,
): Promise<EstimateSource> {
  const fresh = () => Array.from({ length: plan.metaBatch }, (_, s) => newSlot(plan.stepper, s));
  if (args.distribute) {
    return args.distribute({
      configHash: plan.hash,
      slots: encodedSlots ?? fresh().map(encodeSlot),
      config: plan.config,
      log: plan.log,
    });
  }
  return Promise.resolve(
    inProcessSource(plan.stepper, encodedSlots ? encodedSlots.map(decodeSlot) : fresh()),
  );
}

/** Why the run stops before meta-step `metaStep + 1`, or null to go on. */
function stopReason(args: MetaTrainArgs, metaStep: number, seconds: number): MetaTrainStop | null {
  if (metaStep >= args.maxMetaSteps) return "max_steps";
  if (args.maxSeconds && args.maxSeconds > 0 && seconds >= args.maxSeconds) return "time";
  if (args.signal?.aborted) return "signal";
  return null;
}
