/**
 * The rows `eval-horizon` records for one long run: its learning curve at the wanted steps, with the
 * cumulative seconds of the optimizer's steps, and its summary (loss at the meta-training horizon, at the
 * end, the best, and whether it kept improving).
 *
 * @module
 */

/** What {@link horizonRows} reads of a long run (a `longHorizonRun` result). */
export interface HorizonRun {
  /** The full loss at the recorded steps. */
  curve: { step: number; value: number }[];
  /** Seconds of every optimizer step. */
  stepSeconds: Float64Array;
  /** A non-finite loss stopped the run. */
  diverged: boolean;
  /** The step it diverged at. */
  divergedAtStep?: number;
  /** Update statistics. */
  updates: { lastUpdateRms?: number };
}

/** Who ran: the problem and the optimizer, as the rows name them. */
export interface HorizonRunName {
  /** Task id. */
  taskId: string;
  /** Outer problem family. */
  family: string;
  /** Optimizer name. */
  optimizer: string;
  /** A learned optimizer (else a tuned baseline). */
  learned: boolean;
  /** The meta-training stage of a learned optimizer, or null. */
  metaStage: string | null;
  /** The horizon it was meta-trained (or tuned) on. */
  trainHorizon: number;
  /** Evaluation seed. */
  seed: number;
  /** Steps of the run. */
  steps: number;
}

/**
 * The summary of one run: loss at a reference step and at the end, best loss, and whether the loss still fell
 * after the reference step (`improvement` = loss at the reference / final loss; > 1: it kept improving).
 *
 * @example
 * ```ts
 * summarizeCurve([{ step: 0, value: 4 }, { step: 20, value: 2 }, { step: 200, value: 1 }], 20);
 * // { lossAtRef: 2, finalLoss: 1, bestLoss: 1, improvement: 2 }
 * ```
 */
export function summarizeCurve(
  curve: { step: number; value: number }[],
  ref: number,
): {
  lossAtRef: number | null;
  finalLoss: number | null;
  bestLoss: number | null;
  improvement: number | null;
} {
  const at = finite(curve.filter((c) => c.step <= ref).at(-1)?.value);
  const last = curve.at(-1);
  const final = finite(last?.value);
  const values = curve.map((c) => c.value).filter(Number.isFinite);
  const best = values.length ? Math.min(...values) : null;
  const improvement = at !== null && final !== null && at > 0 && final > 0 ? at / final : null;
  return { lossAtRef: at, finalLoss: final, bestLoss: best, improvement };
}

function finite(x: number | undefined): number | null {
  return x !== undefined && Number.isFinite(x) ? x : null;
}

/**
 * The `horizon_curves` rows (at `curveSteps`, step 0 and the last step) and the `horizon_summary` row of a run.
 *
 * @example
 * ```ts
 * const { curves, summary } = horizonRows(name, run, curveSteps);
 * ```
 */
export function horizonRows(
  name: HorizonRunName,
  res: HorizonRun,
  curveSteps: number[],
): {
  curves: Record<string, unknown>[];
  summary: Record<string, unknown>;
  s: ReturnType<typeof summarizeCurve>;
} {
  // Cumulative step seconds at each curve point (evaluations excluded).
  const cum = new Float64Array(res.stepSeconds.length + 1);
  res.stepSeconds.forEach((x, i) => (cum[i + 1] = cum[i] + x));
  const wanted = new Set([...curveSteps, 0, res.curve.at(-1)!.step]);
  const curves = res.curve.filter((c) => wanted.has(c.step)).map((c) => ({
    task_id: name.taskId,
    family: name.family,
    optimizer: name.optimizer,
    learned: name.learned,
    seed: name.seed,
    step: c.step,
    loss: finite(c.value),
    seconds: cum[Math.min(c.step, cum.length - 1)],
  }));
  const s = summarizeCurve(res.curve, name.trainHorizon);
  const summary = {
    task_id: name.taskId,
    family: name.family,
    optimizer: name.optimizer,
    learned: name.learned,
    meta_stage: name.metaStage,
    train_horizon: name.trainHorizon,
    steps: name.steps,
    loss_at_train_horizon: s.lossAtRef,
    final_loss: res.diverged ? null : s.finalLoss,
    best_loss: s.bestLoss,
    improvement: res.diverged ? null : s.improvement,
    diverged: res.diverged,
    diverged_at_step: res.divergedAtStep ?? null,
    final_update_rms: finite(res.updates.lastUpdateRms),
    seconds_per_step: res.stepSeconds.length ? cum[cum.length - 1] / res.stepSeconds.length : null,
  };
  return { curves, summary, s };
}
