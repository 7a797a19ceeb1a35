/**
 * The differentiable partial unroll of meta-training (design §6.1) and its meta-loss (§6.2).
 *
 * One call runs up to T optimizer steps on a {@link Problem}, starting from a carried state, and returns the
 * meta-loss as a tensor (differentiable w.r.t. the meta-parameters the optimizer was built from, when called
 * inside a gradient function) plus the final carry, detached and kept alive for the next partial unroll
 * (truncation: the carry enters the next unroll as constants).
 *
 * Mapping of the reference's loop variables to the {@link Optimizer} interface: `carry.params` is the point the
 * optimizer moves and where the minibatch gradient is taken, i.e. the *attended* parameters φ when the optimizer
 * has attention; the *true* parameters θ̄ (where the full-dataset objective for the meta-loss is taken) are
 * `optimizer.evalParams(state, params)`, or `params` itself without attention. So the reference's
 * (params, attend_params, states) triple is (evalParams(state, params), params, state) here.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer, OptState } from "../../lib/optimizer.ts";
import type { Problem } from "../../tasks/problem.ts";
import { type BatchedProblem, stackInstances } from "../../tasks/batched.ts";
import type { Rng } from "../../lib/rng.ts";
import { keepTree, treeTensors } from "../../lib/state_tree.ts";
import { detach, onFreshTape, withAliasedSaves } from "./tape.ts";

/** ε of the meta-loss (§6.2). */
export const META_LOSS_EPS = 1e-6;

/** Options of the unroll and of its meta-loss. */
export interface UnrollConfig {
  /** Log meta-objective (paper: true); false = linear objective Σ w_t f_t / (F0 + ε) with w_t = 1/T. */
  logObjective: boolean;
  /** The use_numerator_epsilon variant of the log objective: ln((f + ε)/(F0 + ε)). Paper: false. */
  numeratorEpsilon: boolean;
  /** Backpropagate through the problem gradient (Hessian-vector products). Paper: true. */
  secondDerivatives: boolean;
  /** obj_train_max_multiplier: stop when the last objective ≥ F0 + (mult − 1)|F0|; ≤ 0 disables (paper: −1). */
  objTrainMaxMultiplier: number;
}

/** The paper configuration (metarun defaults). */
export const PAPER_UNROLL_CONFIG: UnrollConfig = {
  logObjective: true,
  numeratorEpsilon: false,
  secondDerivatives: true,
  objTrainMaxMultiplier: -1,
};

/** State carried from one partial unroll to the next. Tensors are owned by whoever holds the carry. */
export interface UnrollCarry {
  /** The optimizer's current point (attended params with attention, the iterate otherwise). */
  params: tf.Tensor[];
  /**
   * Optimizer state, or null to reset: a fresh state is then made by `optimizer.init(params)` *inside* the
   * unroll, so that learned initial states (the HRNN's init vectors) receive meta-gradients.
   */
  optState: OptState | null;
  /** F0: the full-dataset objective at the start of the whole sequence of partial unrolls. */
  f0: number;
}

/** Why an unroll ended. */
export type UnrollStop = "length" | "nonfinite" | "multiplier";

/** Result of {@link unroll}. */
export interface UnrollResult {
  /** The meta-loss (a tensor in the caller's scope). */
  loss: tf.Scalar;
  /** All recorded objective values o_0..o_T' (o_0 = f at the start of this unroll, o_1 its duplicate). */
  objectives: number[];
  /** Number of completed optimizer steps T'. */
  steps: number;
  /** Why the loop ended. */
  stop: UnrollStop;
  /** Final carry: cloned, `tf.keep`-ed tensors that survive the caller's tidy / gradient scope. */
  carry: UnrollCarry;
}

/** Per-call options of {@link unroll} that the estimators set. */
export interface UnrollOptions {
  /**
   * Whether a gradient tape is recording (TBPTT). When false (forward-only, e.g. PES), the stop-gradient of
   * `secondDerivatives: false` is skipped since nothing is differentiated.
   */
  taped: boolean;
  /**
   * Whether the optimizers of a batch share their meta-parameters, so that `opts[0].updateInstances` may
   * update every instance at once (default true). False: each instance is updated by its own optimizer.
   */
  sharedUpdate?: boolean;
}

/**
 * Draws fresh parameters for a new trajectory and computes F0 on the full dataset (the `first_unroll` branch
 * of §6.1). Returns a carry with a null optimizer state (reset inside the next unroll).
 *
 * @example
 * ```ts
 * const carry = startTrajectory(problem, new Rng(0).fork("init"));
 * carry.f0; // full-dataset objective at the fresh parameters
 * ```
 */
export function startTrajectory(problem: Problem, rng: Rng): UnrollCarry {
  return startTrajectories(stackInstances([problem]), [rng])[0];
}

/**
 * {@link startTrajectory} for every instance of a batch, instance b drawn from `rngs[b]`.
 *
 * @example
 * ```ts
 * const carries = startTrajectories(stackInstances(problems), problems.map((_, b) => new Rng(b)));
 * ```
 */
export function startTrajectories(problem: BatchedProblem, rngs: Rng[]): UnrollCarry[] {
  const params = problem.init(rngs);
  const f = problem.fullObjectives(params);
  const f0s = Array.from(f.dataSync());
  f.dispose();
  f0s.forEach((f0, b) => {
    if (f0 < 0) throw negativeObjectiveError(problem.specs[b].family, f0);
  });
  return params.map((ps, b) => ({ params: ps, optState: null, f0: f0s[b] }));
}

/**
 * The meta-loss of §6.2 from all recorded objectives (a rank-1 tensor o_0..o_T').
 * Log: mean_j ln(o_j/(F0+ε) + ε) (or ln((o_j+ε)/(F0+ε)) with `numeratorEpsilon`);
 * linear: Σ_{j≥1} o_j / T / (F0 + ε), T the planned unroll length (o_0, the pre-loop value, is not in the
 * accumulator).
 *
 * @example
 * ```ts
 * const loss = metaLoss(tf.tensor1d([2, 2, 1.5, 1]), 2, 3, PAPER_UNROLL_CONFIG); // mean log ratio, < 0
 * ```
 */
export function metaLoss(objectives: tf.Tensor1D, f0: number, length: number, cfg: UnrollConfig): tf.Scalar {
  return tf.tidy(() => metaLossBatch(tf.reshape(objectives, [-1, 1]) as tf.Tensor2D, [f0], length, cfg));
}

/**
 * {@link metaLoss} of a batch: `objectives` [T'+1, B] (column b: instance b, normalised by its own F0), the
 * mean over instances of their meta-losses.
 *
 * @example
 * ```ts
 * const objectives = tf.tensor2d([[2, 4], [2, 4], [1, 3]]); // [T'+1, B] with B = 2 instances
 * const loss = metaLossBatch(objectives, [2, 4], 2, PAPER_UNROLL_CONFIG);
 * ```
 */
export function metaLossBatch(
  objectives: tf.Tensor2D,
  f0s: number[],
  length: number,
  cfg: UnrollConfig,
): tf.Scalar {
  return tf.tidy(() => {
    const denom = tf.tensor1d(f0s.map((f0) => f0 + META_LOSS_EPS));
    if (cfg.logObjective) {
      const ratio = cfg.numeratorEpsilon
        ? tf.div(tf.add(objectives, META_LOSS_EPS), denom)
        : tf.add(tf.div(objectives, denom), META_LOSS_EPS);
      return tf.mean(tf.log(ratio)) as tf.Scalar;
    }
    const n = objectives.shape[0];
    if (n <= 1) return tf.scalar(0);
    const accumulated = tf.sum(tf.slice(objectives, [1, 0], [n - 1, -1]), 0);
    return tf.mean(tf.div(accumulated, tf.mul(denom, length))) as tf.Scalar;
  });
}

/**
 * Runs one partial unroll (loop body of §6.1). Call it inside `tf.tidy` or a gradient function: the loss and
 * all intermediates belong to the caller's scope, except `carry` which is kept.
 *
 * Loop body at step t: minibatch from `rng`; o = f(true params; full dataset); gradients at the optimizer's
 * point via `problem.gradients` (with the problem's noise/sparsity, from `rng`); stop-gradient when second
 * derivatives are off; record o; optimizer update. The loop also stops (after recording it) when the
 * accumulator Σ o/T is non-finite, and, when enabled, on objective blow-up (obj_train_max_multiplier).
 *
 * @example
 * ```ts
 * const r = scoped(() => unroll(opt, problem, carry, 20, rng, PAPER_UNROLL_CONFIG, { taped: false }));
 * r.stop; // "length" when all 20 steps ran; r.carry starts the following partial unroll
 * ```
 */
export function unroll(
  opt: Optimizer,
  problem: Problem,
  carry: UnrollCarry,
  length: number,
  rng: Rng,
  cfg: UnrollConfig,
  opts: UnrollOptions = { taped: true },
): UnrollResult {
  const r = unrollBatch([opt], stackInstances([problem]), [carry], length, [rng], cfg, opts);
  return { loss: r.loss, objectives: r.objectives[0], steps: r.steps, stop: r.stop, carry: r.carries[0] };
}

/** Result of {@link unrollBatch}. */
export interface BatchUnrollResult {
  /** The meta-loss: the mean over instances of their meta-losses (a tensor in the caller's scope). */
  loss: tf.Scalar;
  /** Per instance, all recorded objective values o_0..o_T'. */
  objectives: number[][];
  /** Number of completed optimizer steps T' (the same for every instance). */
  steps: number;
  /** Why the loop ended: the first instance to stop stops the batch. */
  stop: UnrollStop;
  /** Final carry of every instance (cloned, kept tensors). */
  carries: UnrollCarry[];
}

/**
 * {@link unroll} for a batch of instances: instance b runs `opts[b]` from `carries[b]` with its own random
 * stream `rngs[b]` (the optimizers may differ only in their `init` randomness: when they implement
 * `updateInstances`, `opts[0]` updates every instance at once), the problem evaluates all instances in one set of ops, and the meta-loss is the mean of the
 * instances' meta-losses, so it gives the same meta-gradient as B separate unrolls averaged. The batch stops at
 * the first step where any instance would stop its own unroll (non-finite accumulator, objective blow-up).
 *
 * @example
 * ```ts
 * const r = scoped(() => unrollBatch(opts, batched, carries, 20, rngs, PAPER_UNROLL_CONFIG, { taped: false }));
 * r.carries; // kept tensors: the next partial unroll starts from them
 * ```
 */
export function unrollBatch(
  opts: Optimizer[],
  problem: BatchedProblem,
  carries: UnrollCarry[],
  length: number,
  rngs: Rng[],
  cfg: UnrollConfig,
  options: UnrollOptions = { taped: true },
): BatchUnrollResult {
  if (!Number.isInteger(length) || length < 1) {
    throw new Error(`unroll length must be an integer >= 1, got ${length}`);
  }
  const size = problem.size;
  if (opts.length !== size || carries.length !== size || rngs.length !== size) {
    throw new Error(
      `a batch of ${size} instances needs ${size} optimizers, carries and random streams ` +
        `(got ${opts.length}, ${carries.length}, ${rngs.length})`,
    );
  }
  return options.taped
    ? withAliasedSaves(() => unrollImpl(opts, problem, carries, length, rngs, cfg, options))
    : unrollImpl(opts, problem, carries, length, rngs, cfg, options);
}

function unrollImpl(
  opts: Optimizer[],
  problem: BatchedProblem,
  carries: UnrollCarry[],
  length: number,
  rngs: Rng[],
  cfg: UnrollConfig,
  options: UnrollOptions,
): BatchUnrollResult {
  const size = problem.size;
  const f0s = carries.map((c) => c.f0);
  let params = carries.map((c) => c.params);
  let states: OptState[] = carries.map((c, b) => c.optState ?? opts[b].init(c.params));
  const trueParams = (st: OptState[], p: tf.Tensor[][]) =>
    p.map((ps, b) => (opts[b].evalParams ? opts[b].evalParams!(st[b], ps) : ps));
  const objs: tf.Tensor1D[] = [];
  const values: number[][] = Array.from({ length: size }, () => []);
  const record = (o: tf.Tensor1D) => {
    const v = o.dataSync();
    v.forEach((x, b) => {
      if (x < 0) throw negativeObjectiveError(problem.specs[b].family, x);
      values[b].push(x);
    });
    objs.push(o);
    return v;
  };
  // all_obj starts with f at the start of this unroll; the loop's first objective is the same iterate again.
  const o0 = problem.fullObjectives(trueParams(states, params));
  record(o0);
  const w = 1 / length;
  // Never freed here: the caller's carries, and the initial states (they live in the caller's scope).
  const protectedTensors = options.taped ? [] : [...params.flat(), ...states.flatMap((s) => treeTensors(s))];
  const limits = f0s.map((f0) =>
    cfg.objTrainMaxMultiplier > 0 ? f0 + (cfg.objTrainMaxMultiplier - 1) * Math.abs(f0) : Infinity
  );
  const acc = new Array<number>(size).fill(0);
  let steps = 0;
  let stop: UnrollStop = "length";
  for (let itr = 0; itr < length; itr++) {
    if (!acc.every(Number.isFinite)) {
      stop = "nonfinite";
      break;
    }
    if (values.some((v, b) => v[v.length - 1] >= limits[b])) {
      stop = "multiplier";
      break;
    }
    const prevParams = params, prevStates = states;
    const body = () => {
      const batch = problem.sampleBatch(rngs);
      const o = itr === 0 ? o0 : problem.fullObjectives(trueParams(prevStates, prevParams));
      // Without second derivatives the gradient is a constant of the meta-graph: taking it at a detached copy
      // of the point cuts every path through it (cheaper than a zero-gradient op, which still backprops).
      const at = cfg.secondDerivatives || !options.taped
        ? prevParams
        : prevParams.map((ps) => ps.map(detach));
      const { grads } = options.taped
        ? onFreshTape(() => problem.gradients(at, batch, rngs), cfg.secondDerivatives)
        : problem.gradients(at, batch, rngs);
      const next = size > 1 && opts[0].updateInstances && options.sharedUpdate !== false
        ? opts[0].updateInstances(grads, prevStates, prevParams)
        : prevParams.map((ps, b) => opts[b].update(grads[b], prevStates[b], ps));
      return {
        o,
        params: prevParams.map((ps, b) => ps.map((p, i) => tf.add(p, next[b].updates[i]))),
        states: next.map((r) => r.state),
      };
    };
    let out: { o: tf.Tensor1D; params: tf.Tensor[][]; states: OptState[] };
    if (options.taped) {
      out = body();
    } else {
      // Forward only: free each step's intermediates (and the previous step's params/states) right away.
      out = tf.tidy(() => {
        const r = body();
        return { o: r.o, params: r.params, states: r.states as tf.TensorContainer[] };
      }) as typeof out;
      releaseReplaced([...prevParams.flat(), ...prevStates.flatMap((s) => treeTensors(s))], [
        ...out.params.flat(),
        ...out.states.flatMap((s) => treeTensors(s)),
        ...protectedTensors,
      ]);
    }
    record(out.o).forEach((v, b) => (acc[b] += w * v));
    params = out.params;
    states = out.states;
    steps++;
  }
  if (stop === "length" && !acc.every(Number.isFinite)) stop = "nonfinite";
  const loss = metaLossBatch(tf.stack(objs) as tf.Tensor2D, f0s, length, cfg);
  return {
    loss,
    objectives: values,
    steps,
    stop,
    carries: params.map((ps, b) => ({
      params: ps.map((p) => tf.keep(p.clone())),
      optState: keepTree(states[b]),
      f0: f0s[b],
    })),
  };
}

/** Disposes the tensors of `old` that are not (by identity) in `kept`. */
function releaseReplaced(old: tf.Tensor[], kept: tf.Tensor[]): void {
  const keep = new Set(kept);
  for (const t of old) if (!keep.has(t)) t.dispose();
}

function negativeObjectiveError(family: string, v: number): Error {
  return new Error(
    `problem '${family}' returned a negative objective (${v}); the meta-loss divides by the initial ` +
      `objective and needs objectives >= 0. Shift the problem's objective or use a non-negative family.`,
  );
}
