/**
 * The outer meta-training loop (reference §6.3–6.5): schedule → gradient estimator → meta-optimizer, with a
 * meta-batch of slots, a learning curve, periodic atomic checkpoints and deterministic resume.
 *
 * One meta-step runs the next partial unroll of every slot (each slot follows its own {@link MetaSchedule}
 * cursor over its own sampled problem), averages the slots' cleaned meta-gradients and applies one
 * meta-optimizer update. With `metaBatch: 1` this is exactly the paper's one-meta-update-per-partial-unroll
 * loop (single worker). All randomness is derived from `seed` and the schedule counters, so a run resumed from
 * a checkpoint produces the same meta-parameters as an uninterrupted one (for problems whose `sampleBatch`
 * depends only on the Rng it is given).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { LearnedOptimizer } from "../optimizers/learned.ts";
import { PAPER_UNROLL_CONFIG, type UnrollConfig } from "./unroll.ts";
import { DEFAULT_ESTIMATOR, type EstimatorConfig } from "./estimators.ts";
import {
  disposeMetaOptState,
  type MetaOptimizerConfig,
  metaOptInit,
  type MetaOptState,
  metaOptUpdate,
  PAPER_META_OPTIMIZER,
} from "./meta_optimizer.ts";
import { deriveSeed, PAPER_SCHEDULE, type ScheduleConfig } from "./schedule.ts";
import {
  decodeTensorMap,
  decodeTree,
  type EncodedTensor,
  type EncodedTree,
  encodeTensorMap,
  encodeTree,
} from "../../lib/state_tree.ts";
import { configHash, loadLatestCheckpoint, writeCheckpoint } from "./checkpoint.ts";
import {
  decodeSlot,
  disposeSlot,
  type EncodedSlot,
  encodeSlot,
  makeSlotStepper,
  newSlot,
  type ProblemSource,
  type Slot,
  type SlotEstimate,
  type SlotStepper,
  stepSlot,
} from "./slot_step.ts";

export type { ProblemSource } from "./slot_step.ts";

/** Everything that defines a meta-training run's maths (hashed into checkpoints). */
export interface MetaTrainConfig {
  /** Schedule (§6.3/6.4). */
  schedule: ScheduleConfig;
  /** Unroll and meta-loss options (§6.1/6.2). */
  unroll: UnrollConfig;
  /** Gradient estimator and meta-gradient hygiene. */
  estimator: EstimatorConfig;
  /** Meta-optimizer (§6.5). */
  metaOptimizer: MetaOptimizerConfig;
}

/** The paper's configuration (TBPTT, RMSProp 1e-6, paper schedule). */
export const PAPER_META_TRAIN: MetaTrainConfig = {
  schedule: PAPER_SCHEDULE,
  unroll: PAPER_UNROLL_CONFIG,
  estimator: DEFAULT_ESTIMATOR,
  metaOptimizer: PAPER_META_OPTIMIZER,
};

/** A partial override of {@link MetaTrainConfig} (each section merged over the paper values). */
export type MetaTrainConfigInput = { [K in keyof MetaTrainConfig]?: Partial<MetaTrainConfig[K]> };

/** Merges an override over {@link PAPER_META_TRAIN}. */
export function resolveMetaTrainConfig(input: MetaTrainConfigInput = {}): MetaTrainConfig {
  return {
    schedule: { ...PAPER_META_TRAIN.schedule, ...input.schedule },
    unroll: { ...PAPER_META_TRAIN.unroll, ...input.unroll },
    estimator: { ...PAPER_META_TRAIN.estimator, ...input.estimator },
    metaOptimizer: { ...PAPER_META_TRAIN.metaOptimizer, ...input.metaOptimizer },
  };
}

/** One learning-curve row: one slot's partial unroll within a meta-step. */
export interface CurveRow {
  /** Meta-step (1-based: the meta-update this unroll contributed to). */
  meta_step: number;
  /** Meta-loss of the unroll (NaN when it diverged). */
  meta_loss: number;
  /** Problem family of the slot. */
  family: string;
  /** Planned length of the unroll. */
  unroll_len: number;
  /** Training seconds since the start of the run (including time before a resume) at the end of the step. */
  seconds: number;
  /** Meta-batch slot index. */
  slot: number;
  /** Who computed the estimate: `in-process`, or the id of a meta-training worker. */
  worker: string;
  /** Meta-updates applied between the meta-params the estimate was computed with and the one it fed (0: fresh). */
  staleness: number;
}

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

/**
 * Where a meta-step's gradient estimates come from: the in-process loop over the slots, or a coordinator
 * handing the slots to meta-training workers (`models/metatrain/distributed/`).
 */
export interface EstimateSource {
  /**
   * The estimates that make the next meta-update, computed with `metaParams` of `version` (the number of
   * meta-updates applied so far) or, in asynchronous mode, of a version at most the staleness bound older.
   * Synchronous sources return one estimate per slot, in slot order. The caller disposes the gradients.
   */
  next(metaParams: Record<string, tf.Tensor>, version: number): Promise<SlotEstimate[]>;
  /** The slots' states as a checkpoint holds them. */
  encodeSlots(): EncodedSlot[];
  /** Releases what the source holds (workers, problems, tensors). */
  close(): Promise<void>;
}

/** What {@link MetaTrainArgs.distribute} is handed to open a source of estimates. */
export interface DistributeInit {
  /** The run's configuration hash (workers refuse a job whose hash their code does not reproduce). */
  configHash: string;
  /** The slots' states: fresh, or restored from a checkpoint. */
  slots: EncodedSlot[];
  /** The resolved configuration. */
  config: MetaTrainConfig;
  /** Notes for the log. */
  log: (msg: string) => void;
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

const CHECKPOINT_VERSION = 2;

interface MetaCheckpoint {
  version: number;
  configHash: string;
  metaStep: number;
  seconds: number;
  innerSteps: number;
  learned: string;
  metaParams: Record<string, EncodedTensor>;
  metaOpt: EncodedTree;
  slots: EncodedSlot[];
  curve: (Omit<CurveRow, "worker" | "staleness"> & Partial<CurveRow>)[];
}

/**
 * Meta-trains `learned` on the ensemble. Resumes from the newest valid checkpoint in `checkpointDir` (same
 * configuration hash) when there is one. Returns when `maxMetaSteps` or `maxSeconds` is reached or `signal`
 * aborts; exceptions (e.g. a failing `onCurve`) propagate without writing a checkpoint, like a kill.
 */
export async function metaTrain(args: MetaTrainArgs): Promise<MetaTrainResult> {
  const config = resolveMetaTrainConfig(args.config);
  const metaBatch = args.metaBatch ?? 1;
  if (!Number.isInteger(metaBatch) || metaBatch < 1) {
    throw new Error(`metaBatch must be an integer >= 1 (got ${metaBatch})`);
  }
  if (!Number.isInteger(args.maxMetaSteps) || args.maxMetaSteps < 0) {
    throw new Error(`maxMetaSteps must be an integer >= 0 (got ${args.maxMetaSteps})`);
  }
  const every = args.checkpointEvery ?? 50;
  if (!Number.isInteger(every) || every < 1) {
    throw new Error(`checkpointEvery must be an integer >= 1 (got ${every})`);
  }
  const instances = args.instances ?? 1;
  if (!Number.isInteger(instances) || instances < 1) {
    throw new Error(`instances must be an integer >= 1 (got ${instances})`);
  }
  const log = args.onLog ?? (() => {});
  const staleness = args.asyncStaleness;
  if (staleness !== undefined) {
    if (!args.distribute) throw new Error("asynchronous meta-training needs workers (distribute)");
    if (!Number.isInteger(staleness) || staleness < 0) {
      throw new Error(`asyncStaleness must be an integer >= 0 (got ${staleness})`);
    }
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

  // ---- state: fresh or restored ----
  let metaParams: Record<string, tf.Tensor>;
  let metaOpt: MetaOptState;
  let encodedSlots: EncodedSlot[] | null = null;
  let metaStep = 0, secondsBefore = 0, innerSteps = 0;
  let curve: CurveRow[] = [];
  let resumedFrom: number | null = null;
  const ckpt = args.checkpointDir
    ? await loadLatestCheckpoint<MetaCheckpoint>(
      args.checkpointDir,
      hash,
      CHECKPOINT_VERSION,
      (n, why) => log(`skipping checkpoint ${n}: ${why}`),
    )
    : null;
  if (ckpt) {
    metaParams = decodeTensorMap(ckpt.metaParams);
    metaOpt = decodeTree(ckpt.metaOpt);
    encodedSlots = ckpt.slots;
    metaStep = ckpt.metaStep;
    secondsBefore = ckpt.seconds;
    innerSteps = ckpt.innerSteps;
    // Rows of checkpoints written before the curve named its workers were all computed in-process.
    curve = ckpt.curve.map((r) => ({ ...r, worker: r.worker ?? "in-process", staleness: r.staleness ?? 0 }));
    resumedFrom = ckpt.metaStep;
    log(`resumed meta-training from the checkpoint of meta-step ${metaStep} in ${args.checkpointDir}`);
    if (args.replayCurve ?? true) { for (const r of curve) args.onCurve?.(r); }
  } else {
    metaParams = args.initialMetaParams
      ? Object.fromEntries(Object.entries(args.initialMetaParams).map(([k, v]) => [k, v.clone()]))
      : args.learned.init(deriveSeed(args.seed, "meta-params"));
    metaOpt = metaOptInit(config.metaOptimizer, metaParams);
  }
  let source: EstimateSource;
  try {
    source = args.distribute
      ? await args.distribute({
        configHash: hash,
        slots: encodedSlots ??
          Array.from({ length: metaBatch }, (_, s) => encodeSlot(newSlot(stepper, s))),
        config,
        log,
      })
      : inProcessSource(
        stepper,
        encodedSlots
          ? encodedSlots.map(decodeSlot)
          : Array.from({ length: metaBatch }, (_, s) => newSlot(stepper, s)),
      );
  } catch (e) {
    tf.dispose(Object.values(metaParams));
    disposeMetaOptState(metaOpt);
    throw e;
  }

  const t0 = performance.now();
  const seconds = () => secondsBefore + (performance.now() - t0) / 1000;
  let stoppedBy: MetaTrainStop = "max_steps";
  let lastCheckpoint = metaStep;

  const save = async () => {
    if (!args.checkpointDir) return;
    const data: MetaCheckpoint = {
      version: CHECKPOINT_VERSION,
      configHash: hash,
      metaStep,
      seconds: seconds(),
      innerSteps,
      learned: args.learned.name,
      metaParams: encodeTensorMap(metaParams),
      metaOpt: encodeTree(metaOpt),
      slots: source.encodeSlots(),
      curve,
    };
    await writeCheckpoint(args.checkpointDir, data, args.checkpointKeep ?? 2);
    lastCheckpoint = metaStep;
  };

  try {
    while (true) {
      if (metaStep >= args.maxMetaSteps) {
        stoppedBy = "max_steps";
        break;
      }
      if (args.maxSeconds && args.maxSeconds > 0 && seconds() >= args.maxSeconds) {
        stoppedBy = "time";
        break;
      }
      if (args.signal?.aborted) {
        stoppedBy = "signal";
        break;
      }
      const stepRows: CurveRow[] = [];
      const sum: Record<string, tf.Tensor> = {};
      for (const n of Object.keys(metaParams)) sum[n] = tf.zerosLike(metaParams[n]);
      const losses: number[] = [];
      const estimates = await source.next(metaParams, metaStep);
      for (const est of estimates) {
        innerSteps += est.innerSteps;
        for (const n of Object.keys(sum)) {
          const next = tf.add(sum[n], est.grads[n]);
          sum[n].dispose();
          sum[n] = next;
        }
        tf.dispose(Object.values(est.grads));
        if (Number.isFinite(est.loss)) losses.push(est.loss);
        stepRows.push({
          meta_step: metaStep + 1,
          meta_loss: est.loss,
          family: est.family,
          unroll_len: est.unrollLen,
          seconds: 0,
          slot: est.slot,
          worker: est.worker,
          staleness: est.staleness,
        });
      }
      const mean: Record<string, tf.Tensor> = {};
      for (const n of Object.keys(sum)) mean[n] = tf.div(sum[n], estimates.length);
      tf.dispose(Object.values(sum));
      const upd = metaOptUpdate(config.metaOptimizer, metaParams, mean, metaOpt);
      tf.dispose(Object.values(mean));
      tf.dispose(Object.values(metaParams));
      disposeMetaOptState(metaOpt);
      metaParams = upd.params;
      metaOpt = upd.state;
      assertFiniteMetaParams(metaParams, metaStep + 1, config.metaOptimizer);
      metaStep++;
      const sec = seconds();
      for (const r of stepRows) {
        r.seconds = sec;
        curve.push(r);
        args.onCurve?.(r);
      }
      args.onProgress?.({
        metaStep,
        maxMetaSteps: args.maxMetaSteps,
        seconds: sec,
        innerSteps,
        metaLoss: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : NaN,
      });
      if (metaStep % every === 0) await save();
      // Let timers and signal handlers run between meta-steps.
      await new Promise((r) => setTimeout(r, 0));
    }
    if (lastCheckpoint !== metaStep) await save();
    disposeMetaOptState(metaOpt);
    return {
      metaParams,
      metaSteps: metaStep,
      curve,
      stoppedBy,
      resumedFrom,
      seconds: seconds(),
      innerSteps,
      configHash: hash,
    };
  } catch (e) {
    tf.dispose(Object.values(metaParams));
    disposeMetaOptState(metaOpt);
    throw e;
  } finally {
    await source.close();
  }
}

/** What identifies a meta-training run's maths: {@link metaTrainConfigHash}'s input. */
export interface MetaTrainIdentity {
  /** The learned-optimizer family (its name and config are hashed). */
  learned: LearnedOptimizer;
  /** The resolved configuration. */
  config: MetaTrainConfig;
  /** The run's seed. */
  seed: number;
  /** Slots. */
  metaBatch: number;
  /** Instances per slot. */
  instances: number;
  /** The ensemble. */
  specs: ProblemSource["specs"];
  /** Starting meta-parameters, encoded, or null. */
  initialMetaParams: Record<string, EncodedTensor> | null;
  /** Asynchronous staleness bound, or undefined (synchronous). */
  asyncStaleness?: number;
}

/**
 * The configuration hash of a meta-training run (names its checkpoints; a worker recomputes it with its own
 * code and refuses a job whose hash differs).
 *
 * @example
 * ```ts
 * const hash = await metaTrainConfigHash({ learned, config: resolveMetaTrainConfig(), seed: 0, metaBatch: 1,
 *   instances: 1, specs, initialMetaParams: null });
 * ```
 */
export function metaTrainConfigHash(id: MetaTrainIdentity): Promise<string> {
  return configHash({
    version: CHECKPOINT_VERSION,
    learned: { name: id.learned.name, config: id.learned.config ?? null },
    config: id.config,
    seed: id.seed,
    metaBatch: id.metaBatch,
    ...(id.instances > 1 ? { instances: id.instances } : {}),
    specs: id.specs,
    initialMetaParams: id.initialMetaParams,
    ...(id.asyncStaleness !== undefined ? { async: { staleness: id.asyncStaleness } } : {}),
  });
}

/** The in-process source: runs every slot's next unroll here, in slot order. */
function inProcessSource(stepper: SlotStepper, slots: Slot[]): EstimateSource {
  return {
    async next(metaParams) {
      const out: SlotEstimate[] = [];
      for (const slot of slots) out.push(await stepSlot(stepper, slot, metaParams));
      return out;
    },
    encodeSlots: () => slots.map(encodeSlot),
    close() {
      slots.forEach(disposeSlot);
      return Promise.resolve();
    },
  };
}

/** Thrown when a meta-step leaves non-finite meta-parameters (nothing is checkpointed or returned). */
export class NonFiniteMetaParamsError extends Error {
  override name = "NonFiniteMetaParamsError";
}

/**
 * Throws {@link NonFiniteMetaParamsError} when any meta-parameter is NaN or infinite after meta-step `step`.
 * Non-finite meta-gradient entries are already zeroed (`cleanGradients`), so this catches an update that
 * overflows by itself (a meta learning rate far too large): the run fails before its state is checkpointed,
 * so neither a checkpoint nor the published weights ever hold non-finite values.
 */
export function assertFiniteMetaParams(
  metaParams: Record<string, tf.Tensor>,
  step: number,
  metaOptimizer: { kind: string; lr: number },
): void {
  const bad = Object.keys(metaParams).sort().filter((n) => !metaParams[n].dataSync().every(Number.isFinite));
  if (bad.length === 0) return;
  throw new NonFiniteMetaParamsError(
    `meta-step ${step}: the ${metaOptimizer.kind} update with learning rate ${metaOptimizer.lr} made ` +
      `${bad.length} meta-parameter tensor(s) non-finite (${bad.slice(0, 3).join(", ")}${
        bad.length > 3 ? ", …" : ""
      }); nothing was checkpointed or published. Lower metaLr, or set globalNormClip.`,
  );
}
