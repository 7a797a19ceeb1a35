/**
 * The meta-training schedule of design §6.3–6.4, as a pure, JSON-serialisable state machine.
 *
 * Per slot (one slot per meta-batch entry): sample a problem uniformly (with replacement) from the ensemble;
 * run `numMetaIterations` meta-iterations on it; each meta-iteration draws fresh parameters and a heavy-tailed
 * number of partial unrolls U = minNumUnrolls + round(Exp(numUnrollScale)) with lengths
 * T_u = minUnrollLength + round(Exp(unrollLengthScale)); one meta-step per partial unroll.
 *
 * Optimizer-state semantics (`reset_rnn_params`, §6.3):
 * - u > 0: continue from the previous unroll's final state (`carry`).
 * - u = 0, k = 0 (or resetRnnParams = false): fresh state (`reset`).
 * - u = 0, k ≥ 1, resetRnnParams = true: the state saved after the most recent non-last, non-early-stopped
 *   unroll of this problem (`saved`).
 * - Deliberate choice: when nothing was saved yet (every earlier meta-iteration of this problem had a single
 *   unroll or stopped early), the reference would start from all-zero state (zero hidden states, log LR 0,
 *   i.e. LR 1). We reset to a fresh state instead (`reset`); `missingSavedState: "zero"` reproduces the
 *   reference's quirk (`zero`).
 * - An unroll that stops early (objective blow-up, or — our choice — a non-finite meta-loss accumulator) ends
 *   its meta-iteration and is not saved.
 *
 * Every random draw is derived from (seed, slot, problem index, meta-iteration, unroll) by hashing, so a plan
 * depends only on the small {@link SlotCursor}: checkpoints store the cursor, and resume is exact.
 *
 * @module
 */
import { hashString, Rng } from "../../lib/rng.ts";
import type { ProblemSpec } from "../../tasks/problem.ts";
import { reseed } from "../../tasks/ensemble.ts";

/** Schedule parameters (paper values in {@link PAPER_SCHEDULE}; profiles shrink them). */
export interface ScheduleConfig {
  /** Meta-iterations per sampled problem (paper 5). */
  numMetaIterations: number;
  /** Mean of the exponential part of the number of unrolls (paper 40). */
  numUnrollScale: number;
  /** Minimum number of unrolls (paper 1). */
  minNumUnrolls: number;
  /** Mean of the exponential part of an unroll's length (paper 200). */
  unrollLengthScale: number;
  /** Minimum unroll length (paper 50). */
  minUnrollLength: number;
  /** Upper cap on an unroll's length (0: none; the paper has none). Useful to bound memory. */
  maxUnrollLength: number;
  /** reset_rnn_params (paper true): reset the optimizer state only once per problem. */
  resetRnnParams: boolean;
  /** What to do when a `saved` state is needed but none exists: `fresh` (ours) or `zero` (the reference). */
  missingSavedState: "fresh" | "zero";
  /**
   * Give each sampled problem fresh instance seeds (fresh W, y, ...; the reference's default): every seed in the
   * spec, nested ones included, is re-derived (`reseed` of `tasks/ensemble.ts`).
   */
  reseedProblems: boolean;
}

/** The paper / metarun schedule. */
export const PAPER_SCHEDULE: ScheduleConfig = {
  numMetaIterations: 5,
  numUnrollScale: 40,
  minNumUnrolls: 1,
  unrollLengthScale: 200,
  minUnrollLength: 50,
  maxUnrollLength: 0,
  resetRnnParams: true,
  missingSavedState: "fresh",
  reseedProblems: true,
};

/** Where the optimizer state of an unroll comes from. */
export type StateSource = "carry" | "reset" | "saved" | "zero";

/** The position of one slot in the schedule (JSON; all a plan depends on besides seed and config). */
export interface SlotCursor {
  /** Slot index (meta-batch entry). */
  slot: number;
  /** Index of the current problem of this slot (−1 before the first). */
  problem: number;
  /** Current meta-iteration k within the problem. */
  metaIteration: number;
  /** Next unroll u within the meta-iteration. */
  unroll: number;
  /** Whether an optimizer state has been saved for this problem (§6.3 copy-back happened). */
  hasSaved: boolean;
}

/** What to run next on a slot. */
export interface UnrollPlan {
  /** Problem index of the slot (counts sampled problems). */
  problem: number;
  /** True when this plan starts a new problem (build it; drop saved states). */
  newProblem: boolean;
  /** Index of the chosen ensemble entry. */
  specIndex: number;
  /** The spec to build (with the instance seed). */
  spec: ProblemSpec;
  /** Meta-iteration k. */
  metaIteration: number;
  /** Unroll index u. */
  unroll: number;
  /** Number of unrolls U of this meta-iteration. */
  numUnrolls: number;
  /** Steps of this unroll. */
  length: number;
  /** Draw fresh problem parameters and F0 (u = 0). */
  freshParams: boolean;
  /** Where the optimizer state comes from. */
  stateSource: StateSource;
  /** Last unroll of the meta-iteration (its state is not saved). */
  isLast: boolean;
  /** Seed of the fresh parameter draw (used when `freshParams`). */
  initSeed: number;
  /** Seed of this unroll's minibatches, gradient noise, optimizer init and perturbations. */
  unrollSeed: number;
}

/**
 * Number of partial unrolls: min + round(Exp(scale)).
 *
 * @example
 * ```ts
 * const n = sampleNumUnrolls(new Rng(7), PAPER_SCHEDULE); // >= 1, mean about 41
 * ```
 */
export function sampleNumUnrolls(rng: Rng, cfg: ScheduleConfig): number {
  return cfg.minNumUnrolls + Math.round(rng.exponential(cfg.numUnrollScale));
}

/**
 * Length of one partial unroll: min + round(Exp(scale)), capped by `maxUnrollLength` when set.
 *
 * @example
 * ```ts
 * const t = sampleUnrollLength(new Rng(7), { ...PAPER_SCHEDULE, maxUnrollLength: 300 }); // in [50, 300]
 * ```
 */
export function sampleUnrollLength(rng: Rng, cfg: ScheduleConfig): number {
  const t = cfg.minUnrollLength + Math.round(rng.exponential(cfg.unrollLengthScale));
  return cfg.maxUnrollLength > 0 ? Math.min(t, cfg.maxUnrollLength) : t;
}

/**
 * A 31-bit seed derived from a base seed and a path of labels/counters.
 *
 * @example
 * ```ts
 * const seed = deriveSeed(42, "unroll", 0, 3); // the same number for the same (seed, path)
 * ```
 */
export function deriveSeed(seed: number, ...path: (string | number)[]): number {
  return new Rng(hashString(`${seed}/${path.join("/")}`) ^ (seed >>> 0)).seed();
}

/**
 * The schedule over an ensemble of problem specs.
 *
 * @example
 * ```ts
 * const schedule = new MetaSchedule(specs, { numMetaIterations: 2, maxUnrollLength: 100 }, 0);
 * const cursor = schedule.newCursor(0);
 * const plan = schedule.plan(cursor); // first unroll of slot 0: plan.spec, plan.length, plan.stateSource
 * const next = schedule.advance(cursor, plan, false);
 * ```
 */
export class MetaSchedule {
  /** Validated schedule configuration. */
  readonly config: ScheduleConfig;

  /** A schedule over `specs` (uniform choice) with the given config and seed. */
  constructor(readonly specs: ProblemSpec[], config: Partial<ScheduleConfig>, readonly seed: number) {
    if (specs.length === 0) throw new Error("meta-training needs at least one problem spec in the ensemble");
    this.config = { ...PAPER_SCHEDULE, ...config };
    const c = this.config;
    for (const k of ["numMetaIterations", "minNumUnrolls", "minUnrollLength"] as const) {
      if (!Number.isInteger(c[k]) || c[k] < 1) {
        throw new Error(`schedule: ${k} must be an integer >= 1 (got ${c[k]})`);
      }
    }
    for (const k of ["numUnrollScale", "unrollLengthScale", "maxUnrollLength"] as const) {
      if (!(c[k] >= 0)) throw new Error(`schedule: ${k} must be >= 0 (got ${c[k]})`);
    }
  }

  /** The cursor of a slot before its first problem. */
  newCursor(slot: number): SlotCursor {
    return { slot, problem: -1, metaIteration: 0, unroll: 0, hasSaved: false };
  }

  /** The problem spec chosen for a slot's p-th problem. */
  problemFor(slot: number, problem: number): { specIndex: number; spec: ProblemSpec } {
    const rng = new Rng(deriveSeed(this.seed, "problem", slot, problem));
    const specIndex = rng.int(this.specs.length);
    const base = this.specs[specIndex];
    const instance = rng.seed();
    // Fresh instance: every seed in the spec (own, nested specs', synthetic datasets') re-derived.
    const spec: ProblemSpec = this.config.reseedProblems
      ? reseed(base, (path) => deriveSeed(instance, "instance", path))
      : base;
    return { specIndex, spec };
  }

  /** Number of unrolls and their lengths for meta-iteration k of a slot's p-th problem. */
  metaIterationFor(slot: number, problem: number, k: number): number[] {
    const rng = new Rng(deriveSeed(this.seed, "meta-iteration", slot, problem, k));
    const n = sampleNumUnrolls(rng, this.config);
    return Array.from({ length: n }, () => sampleUnrollLength(rng, this.config));
  }

  /** The next unroll of a slot (pure). */
  plan(cursor: SlotCursor): UnrollPlan {
    const c = this.config;
    let { problem, metaIteration: k, unroll: u, hasSaved } = cursor;
    const newProblem = problem < 0 || k >= c.numMetaIterations;
    if (newProblem) {
      problem += 1;
      k = 0;
      u = 0;
      hasSaved = false;
    }
    const lengths = this.metaIterationFor(cursor.slot, problem, k);
    let stateSource: StateSource;
    if (u > 0) stateSource = "carry";
    else if (k === 0 || !c.resetRnnParams) stateSource = "reset";
    else if (hasSaved) stateSource = "saved";
    else stateSource = c.missingSavedState === "zero" ? "zero" : "reset";
    const { specIndex, spec } = this.problemFor(cursor.slot, problem);
    return {
      problem,
      newProblem,
      specIndex,
      spec,
      metaIteration: k,
      unroll: u,
      numUnrolls: lengths.length,
      length: lengths[u],
      freshParams: u === 0,
      stateSource,
      isLast: u === lengths.length - 1,
      initSeed: deriveSeed(this.seed, "init", cursor.slot, problem, k),
      unrollSeed: deriveSeed(this.seed, "unroll", cursor.slot, problem, k, u),
    };
  }

  /** The cursor after running `plan`; `stoppedEarly` ends the meta-iteration without saving state. */
  advance(cursor: SlotCursor, plan: UnrollPlan, stoppedEarly: boolean): SlotCursor {
    const hasSaved = (plan.newProblem ? false : cursor.hasSaved) || (!plan.isLast && !stoppedEarly);
    const endsIteration = plan.isLast || stoppedEarly;
    return {
      slot: cursor.slot,
      problem: plan.problem,
      metaIteration: endsIteration ? plan.metaIteration + 1 : plan.metaIteration,
      unroll: endsIteration ? 0 : plan.unroll + 1,
      hasSaved,
    };
  }
}
