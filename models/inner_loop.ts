/**
 * The shared inner-loop runner: trains one {@link Problem} with one {@link Optimizer} for a number of steps and
 * records the learning curve.
 *
 * Semantics (as `metaopt.test_optimizer` of the paper's code, see design §10):
 * - parameters start at `problem.init(rng.fork("init"))`; minibatches come from `rng.fork("batch")` and the
 *   problem's gradient noise from `rng.fork("noise")`, so a seed fixes the whole run;
 * - step t draws a minibatch, computes the (noisy) gradient at the current parameters, records the minibatch
 *   objective at the evaluation point (the optimizer's `evalParams` when defined, else the parameters; for
 *   optimizers without attention that is the loss the gradient came with) and applies the update;
 * - the full-dataset objective is recorded at the evaluation point before steps 0, fullEvery, 2·fullEvery, …
 *   and once more after the last step (`finalFullLoss`);
 * - a non-finite loss (minibatch or full) stops the run and is recorded as divergence, never an exception.
 *
 * The evaluation protocol of an experiment is given as options, so every problem trains on this one loop
 * (learned_optimization `single_task_training_curves`): `initRng` and `batches` (an init stream and a
 * minibatch order shared by every optimizer of a seed), `evaluate` (e.g. training-subset and test loss and
 * accuracy; null: none), `lossAt` (record the loss the gradient came with), `divergenceFactor` (a loss far
 * above the first also counts as divergence) and `evaluateAfterDivergence`. A problem whose parameters are
 * variables it owns (`applyUpdates`, a `tf.LayersModel`) is updated in place and keeps its variables.
 *
 * Every step runs inside `tf.tidy`; tensors a problem creates in `sampleBatch` / `gradients` are freed after
 * the step (problems must `tf.keep` anything they cache). Old parameters and optimizer state are disposed when
 * replaced, so the tensor count stays flat over any number of steps.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../lib/rng.ts";
import type { Batch, Problem } from "../tasks/problem.ts";
import type { Optimizer, OptState } from "../lib/optimizer.ts";
import { disposeReplaced } from "../lib/state_tree.ts";

/** One recorded full-dataset objective value. */
export interface FullLossPoint {
  /** Number of updates applied before the evaluation (0 = initial parameters). */
  step: number;
  /** Full-dataset objective at the evaluation point. */
  value: number;
}

/** What {@link trainProblem} passes to `onStep` after each step. */
export interface StepInfo {
  /** 0-based index of the step just taken. */
  step: number;
  /** Minibatch objective recorded for this step. */
  minibatchLoss: number;
  /** Full objective, when it was evaluated before this step. */
  fullLoss?: number;
  /** Seconds this step took (gradient + update). */
  seconds: number;
  /** Whether this step's loss stopped the run (its update was dropped; no step follows). */
  diverged: boolean;
}

/**
 * The evaluation protocol of a run: the objective at the evaluation point `params` after `step` updates. A
 * non-finite value stops the run as divergence. Tensors it creates must be freed before it resolves.
 */
export type Evaluate = (params: tf.Tensor[], step: number) => Promise<number>;

/** Options of {@link trainProblem}. */
export interface TrainOptions {
  /** The problem to train. The caller keeps ownership (it is not disposed). */
  problem: Problem;
  /** The optimizer (pure; may be shared between runs). */
  optimizer: Optimizer;
  /** Number of update steps (integer ≥ 0). */
  steps: number;
  /** Seeds initial parameters, minibatches and gradient noise (through forks). */
  rng: Rng;
  /** Draws the initial parameters instead of `rng.fork("init")` (a stream shared with other code). */
  initRng?: Rng;
  /**
   * The minibatch of each step, instead of `problem.sampleBatch(rng.fork("batch"))` (a fixed order shared by
   * every optimizer of a seed, or data decoded asynchronously). Its tensors are freed after the step.
   */
  batches?: (step: number) => Batch | Promise<Batch>;
  /** Evaluate the full objective every this many steps; 0 or omitted: only before step 0 and after the end. */
  fullEvery?: number;
  /** Also evaluate the full objective before each of these steps (e.g. log-spaced points of a long run). */
  fullSteps?: readonly number[];
  /** The evaluation protocol (default: `problem.fullObjective`); null: no evaluation at all. */
  evaluate?: Evaluate | null;
  /** Evaluate once more after a run that diverged on a minibatch loss (default true). */
  evaluateAfterDivergence?: boolean;
  /**
   * Where the minibatch loss is recorded: at the optimizer's evaluation point (default; for optimizers
   * without `evalParams` that is the loss the gradient came with) or at the parameters the gradient was taken at.
   */
  lossAt?: "evalPoint" | "params";
  /** A minibatch loss above this multiple of max(first loss, 1) also counts as divergence (default: none). */
  divergenceFactor?: number;
  /** Called after every step taken (the diverged one included) with numbers only (no tensors). */
  onStep?: (info: StepInfo) => void;
  /** Cancels the run: it stops before the next step and the returned promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The record of one inner-loop run. */
export interface TrainRecord {
  /** Optimizer name. */
  optimizer: string;
  /** Steps requested. */
  steps: number;
  /** Steps actually taken (less than `steps` after divergence). */
  stepsRun: number;
  /** Minibatch objective per step taken (length `stepsRun`, or `stepsRun + 1` ending with the non-finite value). */
  minibatchLoss: Float32Array;
  /** Full-dataset objective at step 0, every `fullEvery` steps, at `fullSteps`, and after the last step. */
  fullLoss: FullLossPoint[];
  /** Seconds per entry of `minibatchLoss` (gradient + update, excluding full-objective evaluations). */
  stepSeconds: Float64Array;
  /** Wall-clock seconds of the whole run, evaluations included. */
  wallSeconds: number;
  /** Whether a non-finite loss stopped the run. */
  diverged: boolean;
  /** Step at which the non-finite loss appeared (as `FullLossPoint.step` / minibatch index). */
  divergedAtStep?: number;
  /** Full objective after the last step taken (NaN or ±Infinity when the run diverged there). */
  finalFullLoss: number;
}

/** Checks the step counts of {@link TrainOptions}; throws a message naming the bad one. */
function checkCounts(steps: number, fullEvery: number): void {
  if (!Number.isInteger(steps) || steps < 0) {
    throw new Error(`trainProblem: steps must be an integer ≥ 0, got ${steps}.`);
  }
  if (!Number.isInteger(fullEvery) || fullEvery < 0) {
    throw new Error(
      `trainProblem: fullEvery must be an integer ≥ 0 (0 = only at start and end), got ${fullEvery}.`,
    );
  }
}

/**
 * Trains `problem` with `optimizer` and records the learning curve; see the module documentation.
 *
 * @example
 * ```ts
 * const rec = await trainProblem({ problem, optimizer: adam({ learningRate: 1e-3 }), steps: 100, rng: new Rng(0) });
 * rec.finalFullLoss; // full objective after the last step (NaN or ±Infinity when it diverged there)
 * ```
 */
export async function trainProblem(opts: TrainOptions): Promise<TrainRecord> {
  const { problem, optimizer, steps, rng } = opts;
  const fullEvery = opts.fullEvery ?? 0;
  const fullSteps = new Set(opts.fullSteps ?? []);
  checkCounts(steps, fullEvery);
  opts.signal?.throwIfAborted();
  const initRng = opts.initRng ?? rng.fork("init");
  const batchRng = rng.fork("batch");
  const noiseRng = rng.fork("noise");
  const inPlace = problem.applyUpdates?.bind(problem);
  const recordAtEvalPoint = (opts.lossAt ?? "evalPoint") === "evalPoint" &&
    optimizer.evalParams !== undefined;

  const t0 = performance.now();
  const mb: number[] = [];
  const secs: number[] = [];
  const fullLoss: FullLossPoint[] = [];
  let diverged = false;
  let divergedAtStep: number | undefined;
  let finalFullLoss = NaN;

  let params: tf.Tensor[] = tf.tidy(() => problem.init(initRng));
  let state: OptState = tf.tidy(() => optimizer.init(params));
  const evalPoint = (): tf.Tensor[] => optimizer.evalParams ? optimizer.evalParams(state, params) : params;
  const evaluate: Evaluate | null = opts.evaluate === undefined
    ? async (at) => {
      const v = tf.tidy(() => problem.fullObjective(at));
      const x = (await v.data())[0];
      v.dispose();
      return x;
    }
    : opts.evaluate;
  const fullAt = async (run: Evaluate, step: number): Promise<number> => {
    const at = optimizer.evalParams ? tf.tidy(() => evalPoint()) : params;
    try {
      return await run(at, step);
    } finally {
      if (at !== params) disposeReplaced(at, params);
    }
  };
  const limit = (first: number): number => (opts.divergenceFactor ?? Infinity) * Math.max(first, 1);

  try {
    let step = 0;
    for (; step < steps; step++) {
      opts.signal?.throwIfAborted();
      let full: number | undefined;
      if (evaluate && (step === 0 || (fullEvery > 0 && step % fullEvery === 0) || fullSteps.has(step))) {
        full = await fullAt(evaluate, step);
        fullLoss.push({ step, value: full });
        if (!Number.isFinite(full)) {
          diverged = true;
          divergedAtStep = step;
          finalFullLoss = full;
          break;
        }
      }
      const given = opts.batches ? await opts.batches(step) : undefined;
      const s0 = performance.now();
      const out = tf.tidy(() => {
        const batch = given ?? problem.sampleBatch(batchRng);
        const { loss, grads } = problem.gradients(params, batch, noiseRng);
        const recorded = recordAtEvalPoint ? problem.objective(evalPoint(), batch) : loss;
        const { updates, state: newState } = optimizer.update(grads, state, params);
        return { recorded, updates, newState };
      });
      if (given) tf.dispose([given.x, given.y]);
      const lossValue = (await out.recorded.data())[0];
      out.recorded.dispose();
      mb.push(lossValue);
      const report = () =>
        opts.onStep?.({
          step,
          minibatchLoss: lossValue,
          fullLoss: full,
          seconds: secs[secs.length - 1],
          diverged,
        });
      if (!Number.isFinite(lossValue) || lossValue > limit(mb[0])) {
        // Keep the parameters the loss was measured at; drop the update.
        secs.push((performance.now() - s0) / 1000);
        disposeReplaced([out.updates, out.newState], params, state);
        diverged = true;
        divergedAtStep = step;
        report();
        break;
      }
      const newParams = tf.tidy(() =>
        inPlace ? inPlace(params, out.updates) : params.map((p, i) => tf.add(p, out.updates[i]))
      );
      // Synchronise on the last parameter written so the step time covers the update on asynchronous backends.
      if (newParams.length > 0) await newParams[newParams.length - 1].data();
      secs.push((performance.now() - s0) / 1000);
      disposeReplaced([params, state, out.updates], newParams, out.newState);
      params = newParams;
      state = out.newState;
      report();
    }
    const last = fullLoss.at(-1);
    if (evaluate === null || (diverged && opts.evaluateAfterDivergence === false && last?.step !== step)) {
      finalFullLoss = NaN;
    } else if (last !== undefined && last.step === step) {
      // Already evaluated at these parameters (full-loss divergence, or a minibatch divergence at a step
      // whose full loss had been recorded).
      finalFullLoss = last.value;
    } else {
      finalFullLoss = await fullAt(evaluate, step);
      fullLoss.push({ step, value: finalFullLoss });
      if (!Number.isFinite(finalFullLoss) && !diverged) {
        diverged = true;
        divergedAtStep = step;
      }
    }
    return {
      optimizer: optimizer.name,
      steps,
      stepsRun: step,
      minibatchLoss: Float32Array.from(mb),
      fullLoss,
      stepSeconds: Float64Array.from(secs),
      wallSeconds: (performance.now() - t0) / 1000,
      diverged,
      divergedAtStep,
      finalFullLoss,
    };
  } finally {
    disposeReplaced(inPlace ? [state] : [params, state]);
  }
}

/** Options of {@link trainSeeds}: those of {@link trainProblem} with a list of seeds instead of one Rng. */
export interface TrainSeedsOptions extends Omit<TrainOptions, "rng" | "onStep"> {
  /** One run per seed, each with `new Rng(seed)`. */
  seeds: number[];
  /** Called after every step of every run. */
  onStep?: (seed: number, info: StepInfo) => void;
}

/**
 * Runs {@link trainProblem} once per seed (sequentially) on the same problem and returns the records in order.
 *
 * @example
 * ```ts
 * const recs = await trainSeeds({ problem, optimizer: adam(), steps: 200, fullEvery: 50, seeds: [0, 1, 2] });
 * recs.map((r) => r.finalFullLoss); // one final loss per seed
 * ```
 */
export async function trainSeeds(opts: TrainSeedsOptions): Promise<TrainRecord[]> {
  const { seeds, onStep, ...rest } = opts;
  if (seeds.length === 0) throw new Error("trainSeeds: give at least one seed.");
  const out: TrainRecord[] = [];
  for (const seed of seeds) {
    out.push(
      await trainProblem({
        ...rest,
        rng: new Rng(seed),
        onStep: onStep ? (info) => onStep(seed, info) : undefined,
      }),
    );
  }
  return out;
}
