/**
 * One meta-batch slot's step of meta-training: "run the next partial unroll of slot `i` with the
 * meta-parameters of version `v` and return its gradient estimate". The in-process meta-training loop and
 * the meta-training workers (`models/metatrain/distributed/`) both call {@link stepSlot}, so an estimate is the
 * same computation wherever it runs. A slot's state (schedule cursor, carried inner trajectories, the states
 * saved for `saved` resets) has a bit-exact JSON form ({@link encodeSlot}), used by checkpoints and by the
 * coordinator, which hands slots to workers and takes them back.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Problem, ProblemSpec } from "../../tasks/problem.ts";
import type { OptState } from "../../lib/optimizer.ts";
import { Rng } from "../../lib/rng.ts";
import type { LearnedOptimizer } from "../optimizers/learned.ts";
import { startTrajectories, type UnrollConfig } from "./unroll.ts";
import { type BatchedProblem, instanceSpec, stackInstances } from "../../tasks/batched.ts";
import { disposeCarry, type EstimatorCarry, type GradientEstimator, makeEstimator } from "./estimators.ts";
import { deriveSeed, MetaSchedule, type ScheduleConfig, type SlotCursor } from "./schedule.ts";
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
} from "../../lib/state_tree.ts";
import type { EstimatorConfig } from "./estimators.ts";

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

/** Runtime state of one slot. */
export interface Slot {
  /** Where the slot is in the schedule. */
  cursor: SlotCursor;
  /** The built problem of `problemIndex` (null: build it on the next step). */
  problem: BatchedProblem | null;
  /** Problem index `problem` belongs to. */
  problemIndex: number;
  /** Carried inner trajectories (null: start fresh ones). */
  carry: EstimatorCarry | null;
  /** Optimizer states saved for `saved` resets (one per particle). */
  saved: (OptState | null)[] | null;
}

/** JSON form of a {@link Slot} (without its built problem, which is rebuilt from the spec). */
export interface EncodedSlot {
  /** Schedule cursor. */
  cursor: SlotCursor;
  /** Carried trajectories and PES accumulators. */
  carry: {
    trajectories: { params: EncodedTensor[]; optState: EncodedTree | null; f0: number | string }[];
    pesAccum: Record<string, EncodedTensor>[] | null;
  } | null;
  /** States saved for `saved` resets. */
  saved: (EncodedTree | null)[] | null;
}

/** Everything a slot step needs besides the slot and the meta-parameters. */
export interface SlotStepper {
  /** The learned-optimizer family. */
  learned: LearnedOptimizer;
  /** The gradient estimator. */
  estimator: GradientEstimator;
  /** The schedule shared by every slot. */
  schedule: MetaSchedule;
  /** Unroll and meta-loss options. */
  unroll: UnrollConfig;
  /** Problem instances per slot. */
  instances: number;
  /** Builds the batch of `instances` instances of a spec. */
  buildBatch(spec: ProblemSpec): Promise<BatchedProblem>;
}

/** One slot's gradient estimate. */
export interface SlotEstimate {
  /** Slot index. */
  slot: number;
  /** Meta-loss of the unroll (NaN when it diverged). */
  loss: number;
  /** Cleaned meta-gradient (caller disposes). */
  grads: Record<string, tf.Tensor>;
  /** Inner optimizer steps run. */
  innerSteps: number;
  /** Problem family of the slot. */
  family: string;
  /** Planned length of the unroll. */
  unrollLen: number;
  /** Who computed it (`in-process`, or a worker id). */
  worker: string;
  /** Meta-parameter versions applied between the version it was computed with and the one it updates. */
  staleness: number;
}

/**
 * The stepper of a meta-training run: its schedule (seeded from `seed`), estimator and problem builder.
 *
 * @example
 * ```ts
 * import { makeToyLearnedOptimizer } from "../optimizers/learned.ts";
 * const stepper = makeSlotStepper({
 *   learned: makeToyLearnedOptimizer(),
 *   problems: { specs, build },
 *   schedule, estimator, unroll, seed: 0, instances: 1,
 * });
 * const slot = newSlot(stepper, 0);
 * ```
 */
export function makeSlotStepper(o: {
  learned: LearnedOptimizer;
  problems: ProblemSource;
  schedule: ScheduleConfig;
  estimator: EstimatorConfig;
  unroll: UnrollConfig;
  seed: number;
  instances: number;
}): SlotStepper {
  const buildBatch = async (spec: ProblemSpec): Promise<BatchedProblem> => {
    if (o.problems.buildBatched) return await o.problems.buildBatched(spec, o.instances);
    const built: Problem[] = [];
    for (let b = 0; b < o.instances; b++) built.push(await o.problems.build(instanceSpec(spec, b)));
    return stackInstances(built);
  };
  return {
    learned: o.learned,
    estimator: makeEstimator(o.estimator),
    schedule: new MetaSchedule(o.problems.specs, o.schedule, deriveSeed(o.seed, "schedule")),
    unroll: o.unroll,
    instances: o.instances,
    buildBatch,
  };
}

/**
 * A fresh slot `index` (at the start of its schedule, nothing carried).
 *
 * @example
 * ```ts
 * const slots = [0, 1].map((i) => newSlot(stepper, i));
 * ```
 */
export function newSlot(stepper: SlotStepper, index: number): Slot {
  return {
    cursor: stepper.schedule.newCursor(index),
    problem: null,
    problemIndex: -1,
    carry: null,
    saved: null,
  };
}

/**
 * Runs the next partial unroll of `slot` with `metaParams` and advances the slot (its cursor, carry, saved
 * states and built problem are updated in place). Returns the slot's estimate, tagged `in-process` with
 * staleness 0 (a caller that knows better overwrites both).
 *
 * @example
 * ```ts
 * const est = await stepSlot(stepper, slot, metaParams);
 * tf.dispose(Object.values(est.grads));
 * ```
 */
export async function stepSlot(
  stepper: SlotStepper,
  slot: Slot,
  metaParams: Record<string, tf.Tensor>,
): Promise<SlotEstimate> {
  const { schedule, estimator, learned } = stepper;
  const trajectories = estimator.trajectoriesFor(stepper.instances);
  const plan = schedule.plan(slot.cursor);
  if (plan.newProblem || slot.problem === null || slot.problemIndex !== plan.problem) {
    slot.problem?.dispose();
    slot.problem = null;
    if (plan.newProblem) {
      for (const s of slot.saved ?? []) disposeTree(s);
      slot.saved = null;
    }
    slot.problem = await stepper.buildBatch(plan.spec);
    slot.problemIndex = plan.problem;
  }
  const problem = slot.problem;
  if (plan.freshParams || !slot.carry) {
    disposeCarry(slot.carry);
    slot.carry = null;
    const initRngs = Array.from(
      { length: stepper.instances },
      (_, b) => new Rng(b === 0 ? plan.initSeed : deriveSeed(plan.initSeed, "instance", b)),
    );
    const starts = startTrajectories(problem, initRngs);
    const states = initialStates(
      plan.stateSource,
      slot,
      trajectories,
      learned,
      metaParams,
      starts[0],
      plan.unrollSeed,
    );
    slot.carry = estimator.initCarry(starts, states, metaParams);
    tf.dispose(starts.flatMap((s) => s.params));
  }
  const est = estimator.estimate(
    learned,
    metaParams,
    problem,
    slot.carry,
    plan.length,
    plan.unrollSeed,
    stepper.unroll,
  );
  disposeCarry(slot.carry);
  slot.carry = est.carry;
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
  return {
    slot: slot.cursor.slot,
    loss: est.loss,
    grads: est.grads,
    innerSteps: est.innerSteps,
    family: plan.spec.family,
    unrollLen: plan.length,
    worker: "in-process",
    staleness: 0,
  };
}

/**
 * Disposes a slot's tensors and built problem.
 *
 * @example
 * ```ts
 * slots.forEach(disposeSlot);
 * ```
 */
export function disposeSlot(s: Slot): void {
  s.problem?.dispose();
  s.problem = null;
  disposeCarry(s.carry);
  s.carry = null;
  for (const st of s.saved ?? []) disposeTree(st);
  s.saved = null;
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

/**
 * The bit-exact JSON form of a slot (the built problem is left out).
 *
 * @example
 * ```ts
 * const copy = decodeSlot(JSON.parse(JSON.stringify(encodeSlot(slot))));
 * ```
 */
export function encodeSlot(s: Slot): EncodedSlot {
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

/**
 * A slot from its JSON form (new tensors; the problem is built on its next step).
 *
 * @example
 * ```ts
 * const slots = checkpoint.slots.map(decodeSlot);
 * ```
 */
export function decodeSlot(e: EncodedSlot): Slot {
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
