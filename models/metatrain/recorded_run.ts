/**
 * A meta-training run as the `meta-train` stage records it: the curve rows go to a small sink in order (in
 * batches, without holding up the run), progress and notes go to the sink, and the finished run is
 * summarised for the weights file's provenance.
 *
 * @module
 */
import type { JsonValue } from "../hrnn/weights_file.ts";
import type { CurveRow } from "./curve.ts";
import { metaTrain, type MetaTrainArgs, type MetaTrainResult } from "./meta_train.ts";

/** Where a recorded run reports: notes, curve rows and progress. */
export interface MetaTrainSink {
  /** A human-readable note. */
  log(msg: string): void;
  /** Appends curve rows (called in order; the next call waits for the previous one). */
  rows(rows: CurveRow[]): Promise<void>;
  /** Progress after a meta-step. */
  progress(done: number, total: number, msg: string): void;
}

/** Curve rows buffered before they are handed to the sink. */
const FLUSH_ROWS = 20;

/**
 * Runs {@link metaTrain} with its curve, progress and notes going to `sink`. Every curve row reaches the sink
 * before this returns.
 *
 * @example
 * ```ts
 * const result = await metaTrainRecorded({ learned, problems, seed: 0, maxMetaSteps: 10 }, {
 *   log: console.log, rows: async (rs) => console.log(rs.length), progress: () => {} });
 * ```
 */
export async function metaTrainRecorded(
  args: Omit<MetaTrainArgs, "onCurve" | "onProgress" | "onLog">,
  sink: MetaTrainSink,
): Promise<MetaTrainResult> {
  let buffer: CurveRow[] = [];
  let pending: Promise<void> = Promise.resolve();
  /** Queues the buffered curve rows for writing, in order. */
  const flush = (): Promise<void> => {
    const rows = buffer;
    buffer = [];
    if (rows.length > 0) pending = pending.then(() => sink.rows(rows));
    return pending;
  };
  const result = await metaTrain({
    ...args,
    onCurve: (row) => buffer.push(row),
    onProgress: (pr) => {
      sink.progress(pr.metaStep, pr.maxMetaSteps, `meta-loss ${pr.metaLoss.toFixed(3)}`);
      if (buffer.length >= FLUSH_ROWS) void flush();
    },
    onLog: (m) => sink.log(m),
  });
  await flush();
  if (result.resumedFrom !== null) sink.log(`resumed from checkpoint at meta-step ${result.resumedFrom}`);
  return result;
}

/** Mean meta-loss of the first and the last tenth of a run's finite curve rows. */
function tenths(curve: CurveRow[]): { first: number; last: number; finite: number } {
  const finite = curve.filter((r) => Number.isFinite(r.meta_loss));
  const n = Math.max(1, Math.floor(finite.length / 10));
  const mean = (rs: CurveRow[]) => rs.reduce((s, r) => s + r.meta_loss, 0) / Math.max(1, rs.length);
  return { first: mean(finite.slice(0, n)), last: mean(finite.slice(-n)), finite: finite.length };
}

/**
 * The `metaTraining` block of the weights file's provenance: counts, the first and last tenth's mean
 * meta-loss and the curve thinned to at most 200 points.
 *
 * @example
 * ```ts
 * const provenance = { metaTraining: trainingRecord(result, specs.length) };
 * ```
 */
export function trainingRecord(result: MetaTrainResult, problems: number): { [key: string]: JsonValue } {
  const t = tenths(result.curve);
  const stride = Math.max(1, Math.ceil(result.curve.length / 200));
  return {
    metaSteps: result.metaSteps,
    stoppedBy: result.stoppedBy,
    innerSteps: result.innerSteps,
    wallSeconds: result.seconds,
    problems,
    metaLossFirstTenth: t.finite ? t.first : null,
    metaLossLastTenth: t.finite ? t.last : null,
    curve: result.curve.filter((_, i) => i % stride === 0).map((r) => [r.meta_step, r.meta_loss]),
  };
}

/**
 * One line for the log: meta-steps, why it stopped, inner steps, seconds, first and last tenth's meta-loss.
 *
 * @example
 * ```ts
 * console.log(trainingSummary(result));
 * ```
 */
export function trainingSummary(result: MetaTrainResult): string {
  const t = tenths(result.curve);
  return `meta-trained ${result.metaSteps} meta-steps (${result.stoppedBy}), ${result.innerSteps} inner steps in ` +
    `${result.seconds.toFixed(1)} s; meta-loss first tenth ${t.first.toFixed(3)}, last tenth ${
      t.last.toFixed(3)
    }`;
}
