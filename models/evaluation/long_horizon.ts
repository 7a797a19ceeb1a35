/**
 * Long-horizon evaluation: does an optimizer keep making progress far past the horizon it was tuned (or
 * meta-trained) for? One run of `longSteps` steps records the full loss at the evaluation horizon and at the
 * end, and (through {@link monitorUpdates}) the RMS of the updates it applies, so that an optimizer whose steps
 * collapse to rounding noise shows up as such.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer, OptState } from "../../lib/optimizer.ts";
import { type FullLossPoint, trainProblem } from "../inner_loop.ts";
import type { Problem } from "../../tasks/problem.ts";
import type { Rng } from "../../lib/rng.ts";

/**
 * Update statistics gathered by {@link monitorUpdates}.
 *
 * @example
 * ```ts
 * const { stats } = monitorUpdates(adam(1e-2), 100); stats.minUpdateRms;
 * ```
 */
export interface UpdateStats {
  /** Steps sampled. */
  samples: number;
  /** RMS of the whole update (all tensors) at the last sample. */
  lastUpdateRms: number;
  /** RMS of the parameters at the last sample. */
  lastParamRms: number;
  /** Smallest update RMS over the samples. */
  minUpdateRms: number;
}

/**
 * Wraps `opt` so that every `every`-th update also measures the RMS of the update and of the parameters (one
 * small readback per sample). The wrapped optimizer computes exactly what `opt` computes.
 *
 * @example
 * ```ts
 * const { optimizer, stats } = monitorUpdates(adam(1e-2), 100);
 * // ... train with `optimizer`, then read stats.lastUpdateRms
 * ```
 */
export function monitorUpdates<S extends OptState>(
  opt: Optimizer<S>,
  every: number,
): { optimizer: Optimizer<S>; stats: UpdateStats } {
  if (!Number.isInteger(every) || every < 1) {
    throw new Error(`monitorUpdates: every must be >= 1, got ${every}`);
  }
  const stats: UpdateStats = { samples: 0, lastUpdateRms: NaN, lastParamRms: NaN, minUpdateRms: Infinity };
  let calls = 0;
  const rms = (ts: tf.Tensor[]) =>
    tf.tidy(() => {
      const n = ts.reduce((a, t) => a + t.size, 0);
      const sq = tf.addN(ts.map((t) => tf.sum(tf.square(t))));
      return Math.sqrt(sq.dataSync()[0] / Math.max(1, n));
    });
  const optimizer: Optimizer<S> = {
    ...opt,
    update(grads, state, params) {
      const res = opt.update(grads, state, params);
      if (++calls % every === 0) {
        stats.samples++;
        stats.lastUpdateRms = rms(res.updates);
        stats.lastParamRms = rms(params);
        stats.minUpdateRms = Math.min(stats.minUpdateRms, stats.lastUpdateRms);
      }
      return res;
    },
  };
  return { optimizer, stats };
}

/**
 * Result of {@link longHorizonRun}.
 *
 * @example
 * ```ts
 * const r: LongHorizonResult = await longHorizonRun(opts); r.improvement;
 * ```
 */
export interface LongHorizonResult {
  /** Full loss after `horizon` steps (NaN: diverged before). */
  lossAtHorizon: number;
  /** Full loss after `longSteps` steps (NaN: diverged). */
  finalLoss: number;
  /** lossAtHorizon / finalLoss: how many times the loss shrank after the horizon (NaN unless both finite > 0). */
  improvement: number;
  /** Whether a non-finite loss stopped the run. */
  diverged: boolean;
  /** Step at which a non-finite loss appeared (absent when the run did not diverge). */
  divergedAtStep?: number;
  /** Update statistics sampled along the run. */
  updates: UpdateStats;
  /** The full loss at step 0, every `horizon` steps, at `curveSteps`, and at the end (the learning curve). */
  curve: FullLossPoint[];
  /** Wall-clock seconds of the run, evaluations included. */
  wallSeconds: number;
  /** Seconds of each step taken (gradient + update, evaluations excluded). */
  stepSeconds: Float64Array;
}

/**
 * About `points` steps in [1, last], spaced evenly on a log scale, plus `extra` (e.g. a meta-training
 * horizon), sorted and unique: where to sample a long learning curve drawn on a log step axis.
 *
 * @example
 * ```ts
 * logSpacedSteps(10_000, 5); // [1, 10, 100, 1000, 10000]
 * ```
 */
export function logSpacedSteps(last: number, points: number, extra: number[] = []): number[] {
  const out = new Set<number>(extra.filter((s) => s >= 1 && s <= last).map(Math.round));
  for (let i = 0; i < points; i++) {
    out.add(Math.round(Math.exp((Math.log(last) * i) / Math.max(1, points - 1))));
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Trains `optimizer` on `problem` for `longSteps` steps (full loss every `horizon` steps and at `curveSteps`)
 * and reports the loss at `horizon` and at the end, with update RMS samples every `horizon / 10` steps.
 *
 * @example
 * ```ts
 * const r = await longHorizonRun({ problem, optimizer: adam(1e-2), horizon: 300, longSteps: 3000, rng });
 * ```
 */
export async function longHorizonRun(opts: {
  problem: Problem;
  optimizer: Optimizer;
  horizon: number;
  longSteps: number;
  rng: Rng;
  /** More steps at which to record the full loss in `curve` (see {@link logSpacedSteps}). */
  curveSteps?: readonly number[];
  signal?: AbortSignal;
}): Promise<LongHorizonResult> {
  if (!(opts.longSteps > opts.horizon)) {
    throw new Error(`long-horizon run: longSteps (${opts.longSteps}) must exceed horizon (${opts.horizon})`);
  }
  const { optimizer, stats } = monitorUpdates(opts.optimizer, Math.max(1, Math.floor(opts.horizon / 10)));
  const rec = await trainProblem({
    problem: opts.problem,
    optimizer,
    steps: opts.longSteps,
    rng: opts.rng,
    fullEvery: opts.horizon,
    fullSteps: opts.curveSteps,
    signal: opts.signal,
  });
  const at = rec.fullLoss.find((f) => f.step === opts.horizon)?.value ?? NaN;
  const final = rec.diverged ? NaN : rec.finalFullLoss;
  const improvement = Number.isFinite(at) && Number.isFinite(final) && at > 0 && final > 0 ? at / final : NaN;
  return {
    lossAtHorizon: at,
    finalLoss: final,
    improvement,
    diverged: rec.diverged,
    ...(rec.divergedAtStep === undefined ? {} : { divergedAtStep: rec.divergedAtStep }),
    updates: stats,
    curve: rec.fullLoss,
    wallSeconds: rec.wallSeconds,
    stepSeconds: rec.stepSeconds,
  };
}
