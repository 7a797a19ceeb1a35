/**
 * The learned step size over a run: the HRNN keeps a per-coordinate log learning rate ℓ in its state (clipped
 * below at {@link MIN_LOG_LR}), and a learned optimizer that stops learning far past its meta-training horizon
 * does so by driving ℓ to that floor. {@link traceLogLearningRate} trains one problem and samples, at chosen
 * steps, the mean ℓ over all coordinates and the fraction of coordinates at the floor, next to the full loss.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Optimizer, OptState } from "../../lib/optimizer.ts";
import type { Problem } from "../../tasks/problem.ts";
import type { Rng } from "../../lib/rng.ts";
import { MIN_LOG_LR } from "../hrnn/config.ts";
import { trainProblem } from "../inner_loop.ts";

/** One sample of {@link traceLogLearningRate}. */
export interface LogLrSample {
  /** Updates applied before the sample (the state after update `step − 1`; 0: the initial state). */
  step: number;
  /** Mean of ℓ over every coordinate of every tensor. */
  meanLogLr: number;
  /** Fraction of coordinates whose ℓ is at the lower clip (within 1e-3 of {@link MIN_LOG_LR}). */
  atFloor: number;
}

/** Result of {@link traceLogLearningRate}. */
export interface LogLrTrace {
  samples: LogLrSample[];
  /** Full loss before the first step and at each sampled step (same order as `samples`; NaN where missing). */
  fullLoss: number[];
  /** Full loss after the last step. */
  finalLoss: number;
}

/** The per-coordinate log learning rates of an HRNN-like state, or null when the state has none. */
function logLearningRates(state: OptState): tf.Tensor[] | null {
  const tensors = (state as { tensors?: unknown }).tensors;
  if (!Array.isArray(tensors) || tensors.length === 0) return null;
  const out: tf.Tensor[] = [];
  for (const t of tensors) {
    const lr = (t as { log_learning_rate?: tf.Tensor }).log_learning_rate;
    if (!lr) return null;
    out.push(lr);
  }
  return out;
}

/**
 * Summarises per-coordinate log learning rates: their mean and the fraction at the lower clip.
 *
 * @example
 * ```ts
 * summariseLogLr(new Float32Array([-33, -5])); // { meanLogLr: -19, atFloor: 0.5 }
 * ```
 */
export function summariseLogLr(values: ArrayLike<number>): { meanLogLr: number; atFloor: number } {
  let sum = 0, floor = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (values[i] <= MIN_LOG_LR + 1e-3) floor++;
  }
  const n = Math.max(1, values.length);
  return { meanLogLr: sum / n, atFloor: floor / n };
}

/**
 * Trains `problem` for `steps` steps with `optimizer` (whose state must carry per-coordinate log learning
 * rates, as the HRNN's does with its default `dynamicOutputScale`) and samples ℓ at `at` (step counts in
 * [0, steps]) together with the full loss there. Throws a one-line error for an optimizer without them.
 *
 * @example
 * ```ts
 * const trace = await traceLogLearningRate({ optimizer, problem, steps: 1500, at: [0, 300, 1500], rng: new Rng(0) });
 * trace.samples.at(-1)?.atFloor; // 1: every coordinate's step size sits at the floor
 * ```
 */
export async function traceLogLearningRate(opts: {
  optimizer: Optimizer;
  problem: Problem;
  steps: number;
  at: readonly number[];
  rng: Rng;
}): Promise<LogLrTrace> {
  const { optimizer, problem, steps } = opts;
  const at = [...new Set(opts.at)].filter((s) => s >= 0 && s <= steps).sort((a, b) => a - b);
  const wanted = new Set(at);
  const samples: LogLrSample[] = [];
  const sample = (step: number, state: OptState) => {
    const lrs = logLearningRates(state);
    if (!lrs) {
      throw new Error(
        `optimizer '${optimizer.name}' has no per-coordinate log learning rate in its state (an HRNN with ` +
          "dynamicOutputScale has one)",
      );
    }
    const values = lrs.flatMap((t) => Array.from(t.dataSync()));
    samples.push({ step, ...summariseLogLr(values) });
  };
  let calls = 0;
  const traced: Optimizer = {
    ...optimizer,
    init(params) {
      const state = optimizer.init(params);
      if (wanted.has(0)) sample(0, state);
      return state;
    },
    update(grads, state, params) {
      const res = optimizer.update(grads, state, params);
      calls++;
      if (wanted.has(calls)) sample(calls, res.state);
      return res;
    },
  };
  const rec = await trainProblem({ problem, optimizer: traced, steps, rng: opts.rng, fullSteps: at });
  const lossAt = new Map(rec.fullLoss.map((p) => [p.step, p.value]));
  return {
    samples,
    fullLoss: samples.map((s) => lossAt.get(s.step) ?? NaN),
    finalLoss: rec.finalFullLoss,
  };
}
