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
import type { Problem, ProblemSpec } from "../../tasks/problem.ts";
import type { OptState } from "../optimizer.ts";
import { Rng } from "../../lib/rng.ts";
import type { LearnedOptimizer } from "./learned.ts";
import { PAPER_UNROLL_CONFIG, startTrajectories, type UnrollConfig } from "./unroll.ts";
import { type BatchedProblem, instanceSpec, stackInstances } from "../../tasks/batched.ts";
import {
  DEFAULT_ESTIMATOR,
  disposeCarry,
  type EstimatorCarry,
  type EstimatorConfig,
  makeEstimator,
} from "./estimators.ts";
import {
  disposeMetaOptState,
  type MetaOptimizerConfig,
  metaOptInit,
  type MetaOptState,
  metaOptUpdate,
  PAPER_META_OPTIMIZER,
} from "./meta_optimizer.ts";
import {
  deriveSeed,
  MetaSchedule,
  PAPER_SCHEDULE,
  type ScheduleConfig,
  type SlotCursor,
} from "./schedule.ts";
import {
  decodeTensorMap,
  decodeTree,
  disposeTree,
  type EncodedTensor,
  type EncodedTree,
  encodeTensorMap,
  encodeTree,
  keepTree,
  mapTree,
  zeroTree,
} from "./state_tree.ts";
import { configHash, loadLatestCheckpoint, writeCheckpoint } from "./checkpoint.ts";

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

/** The problem ensemble: specs to sample from and how to build one. */
export interface ProblemSource {
  /** Ensemble entries (sampled uniformly with replacement). */
  specs: ProblemSpec[];
  /** Builds a problem (e.g. `buildProblem` of `tasks/registry.ts`). */
  build(spec: ProblemSpec): Problem | Promise<Problem>;
  /**
   * Builds `size` instances of a spec as one batch (e.g. `buildBatched` of `tasks/registry.ts`, vectorized
   * where the family allows); absent: the instances are built with `build` and evaluated one after another.
   */
  buildBatched?(spec: ProblemSpec, size: number): BatchedProblem | Promise<BatchedProblem>;
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

const CHECKPOINT_VERSION = 1;

interface EncodedTrajectory {
  params: EncodedTensor[];
  optState: EncodedTree | null;
  f0: number | string;
}

interface EncodedSlot {
  cursor: SlotCursor;
  carry: { trajectories: EncodedTrajectory[]; pesAccum: Record<string, EncodedTensor>[] | null } | null;
  saved: (EncodedTree | null)[] | null;
}

interface MetaCheckpoint {
  version: number;
  configHash: string;
  metaStep: number;
  seconds: number;
  innerSteps: number;
  learned: string;
  metaParams: Record<string, EncodedTensor>;
  metaOpt: { step: number; slots: Record<string, Record<string, EncodedTensor>> };
  slots: EncodedSlot[];
  curve: CurveRow[];
}

/** Runtime state of one slot. */
interface Slot {
  cursor: SlotCursor;
  problem: BatchedProblem | null;
  /** Problem index `problem` belongs to. */
  problemIndex: number;
  carry: EstimatorCarry | null;
  /** Optimizer states saved for `saved` resets (one per particle). */
  saved: (OptState | null)[] | null;
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
  const estimator = makeEstimator(config.estimator);
  const trajectories = estimator.trajectoriesFor(instances);
  const buildBatch = async (spec: ProblemSpec): Promise<BatchedProblem> => {
    if (args.problems.buildBatched) return await args.problems.buildBatched(spec, instances);
    const built: Problem[] = [];
    for (let b = 0; b < instances; b++) built.push(await args.problems.build(instanceSpec(spec, b)));
    return stackInstances(built);
  };
  const schedule = new MetaSchedule(args.problems.specs, config.schedule, deriveSeed(args.seed, "schedule"));
  const hash = await configHash({
    version: CHECKPOINT_VERSION,
    learned: { name: args.learned.name, config: args.learned.config ?? null },
    config,
    seed: args.seed,
    metaBatch,
    ...(instances > 1 ? { instances } : {}),
    specs: args.problems.specs,
    initialMetaParams: args.initialMetaParams ? encodeTensorMap(args.initialMetaParams) : null,
  });

  // ---- state: fresh or restored ----
  let metaParams: Record<string, tf.Tensor>;
  let metaOpt: MetaOptState;
  let slots: Slot[];
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
    metaOpt = {
      step: ckpt.metaOpt.step,
      slots: Object.fromEntries(Object.entries(ckpt.metaOpt.slots).map(([k, v]) => [k, decodeTensorMap(v)])),
    };
    slots = ckpt.slots.map(decodeSlot);
    metaStep = ckpt.metaStep;
    secondsBefore = ckpt.seconds;
    innerSteps = ckpt.innerSteps;
    curve = ckpt.curve;
    resumedFrom = ckpt.metaStep;
    log(`resumed meta-training from the checkpoint of meta-step ${metaStep} in ${args.checkpointDir}`);
    if (args.replayCurve ?? true) { for (const r of curve) args.onCurve?.(r); }
  } else {
    metaParams = args.initialMetaParams
      ? Object.fromEntries(Object.entries(args.initialMetaParams).map(([k, v]) => [k, v.clone()]))
      : args.learned.init(deriveSeed(args.seed, "meta-params"));
    metaOpt = metaOptInit(config.metaOptimizer, metaParams);
    slots = Array.from({ length: metaBatch }, (_, s) => ({
      cursor: schedule.newCursor(s),
      problem: null,
      problemIndex: -1,
      carry: null,
      saved: null,
    }));
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
      metaOpt: {
        step: metaOpt.step,
        slots: Object.fromEntries(Object.entries(metaOpt.slots).map(([k, v]) => [k, encodeTensorMap(v)])),
      },
      slots: slots.map(encodeSlot),
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
      for (const slot of slots) {
        const plan = schedule.plan(slot.cursor);
        if (plan.newProblem || slot.problem === null || slot.problemIndex !== plan.problem) {
          slot.problem?.dispose();
          slot.problem = null;
          if (plan.newProblem) {
            for (const s of slot.saved ?? []) disposeTree(s);
            slot.saved = null;
          }
          slot.problem = await buildBatch(plan.spec);
          slot.problemIndex = plan.problem;
        }
        const problem = slot.problem;
        if (plan.freshParams || !slot.carry) {
          disposeCarry(slot.carry);
          slot.carry = null;
          const initRngs = Array.from(
            { length: instances },
            (_, b) => new Rng(b === 0 ? plan.initSeed : deriveSeed(plan.initSeed, "instance", b)),
          );
          const starts = startTrajectories(problem, initRngs);
          const states = initialStates(
            plan.stateSource,
            slot,
            trajectories,
            args.learned,
            metaParams,
            starts[0],
            plan.unrollSeed,
          );
          slot.carry = estimator.initCarry(starts, states, metaParams);
          tf.dispose(starts.flatMap((s) => s.params));
        }
        const est = estimator.estimate(
          args.learned,
          metaParams,
          problem,
          slot.carry,
          plan.length,
          plan.unrollSeed,
          config.unroll,
        );
        disposeCarry(slot.carry);
        slot.carry = est.carry;
        innerSteps += est.innerSteps;
        const stoppedEarly = est.stop !== "length";
        if (!plan.isLast && !stoppedEarly) {
          // §6.3 copy-back: the state after this unroll is what a later meta-iteration's first unroll reuses.
          for (const s of slot.saved ?? []) disposeTree(s);
          slot.saved = est.carry.trajectories.map((t) => (t.optState ? keepTree(t.optState) : null));
        }
        if (plan.isLast || stoppedEarly) {
          disposeCarry(slot.carry);
          slot.carry = null;
        }
        slot.cursor = schedule.advance(slot.cursor, plan, stoppedEarly);
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
          family: plan.spec.family,
          unroll_len: plan.length,
          seconds: 0,
          slot: slot.cursor.slot,
        });
      }
      const mean: Record<string, tf.Tensor> = {};
      for (const n of Object.keys(sum)) mean[n] = tf.div(sum[n], slots.length);
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
    for (const s of slots) {
      s.problem?.dispose();
      disposeCarry(s.carry);
      for (const st of s.saved ?? []) disposeTree(st);
    }
  }
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

/** Optimizer states (one per particle) for the first unroll of a trajectory, per the plan's state source. */
function initialStates(
  source: string,
  slot: Slot,
  particles: number,
  learned: LearnedOptimizer,
  metaParams: Record<string, tf.Tensor>,
  start: { params: tf.Tensor[] },
  seed: number,
): (OptState | null)[] {
  if (source === "saved" && slot.saved && slot.saved.length === particles) {
    return slot.saved.map((s) => (s ? mapTree(s, (t) => t.clone()) : null));
  }
  if (source === "zero") {
    const zero = tf.tidy(() => {
      const opt = learned.optimizer(metaParams, { rng: new Rng(seed).fork("zero-state") });
      return keepTree(zeroTree(opt.init(start.params)));
    });
    const out = Array.from({ length: particles }, () => mapTree(zero, (t) => t.clone()));
    disposeTree(zero);
    return out;
  }
  // reset (or a missing saved state): a fresh state is made inside the unroll, differentiably.
  return Array.from({ length: particles }, () => null);
}

function encodeSlot(s: Slot): EncodedSlot {
  return {
    cursor: s.cursor,
    carry: s.carry
      ? {
        trajectories: s.carry.trajectories.map((t) => ({
          params: t.params.map((p) => encodeTensorMap({ p }).p),
          optState: t.optState ? encodeTree(t.optState) : null,
          f0: Number.isFinite(t.f0) ? t.f0 : String(t.f0),
        })),
        pesAccum: s.carry.pesAccum ? s.carry.pesAccum.map(encodeTensorMap) : null,
      }
      : null,
    saved: s.saved ? s.saved.map((t) => (t ? encodeTree(t) : null)) : null,
  };
}

function decodeSlot(e: EncodedSlot): Slot {
  return {
    cursor: e.cursor,
    problem: null,
    problemIndex: -1,
    carry: e.carry
      ? {
        trajectories: e.carry.trajectories.map((t) => ({
          params: t.params.map((p) => decodeTensorMap({ p }).p),
          optState: t.optState ? decodeTree(t.optState) : null,
          f0: Number(t.f0),
        })),
        pesAccum: e.carry.pesAccum ? e.carry.pesAccum.map(decodeTensorMap) : null,
      }
      : null,
    saved: e.saved ? e.saved.map((t) => (t ? decodeTree(t) : null)) : null,
  };
}
