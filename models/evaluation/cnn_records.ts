/**
 * The records of ConvNet runs as result rows and stored runs: the run and curve rows, the stored form a later
 * stage reads back, and the medians over seeds that pick the tuned learning rate.
 *
 * @module
 */
import { join } from "node:path";
import { median } from "../../lib/stats.ts";
import type { CnnRunRecord } from "./cnn_run.ts";
import type { ResultSink } from "./result_sink.ts";

/** File in the `baselines-cnn` artifact listing every run (read by `eval-cnn`). */
export const RUNS_FILE = "cnn_runs.json";

/**
 * Bins `values` (value i belongs to step i) into at most `maxPoints` consecutive bins and returns each bin's
 * mean of finite values, labelled with the bin's last step. With `values.length ≤ maxPoints` it is the identity.
 *
 * @example
 * ```ts
 * downsampleCurve([4, 3, 2, 1], 2); // [{step: 1, value: 3.5}, {step: 3, value: 1.5}]
 * ```
 */
export function downsampleCurve(values: number[], maxPoints: number): { step: number; value: number }[] {
  const n = values.length;
  if (n === 0) return [];
  const bins = Math.min(n, Math.max(1, maxPoints));
  const out: { step: number; value: number }[] = [];
  for (let b = 0; b < bins; b++) {
    const lo = Math.floor(b * n / bins), hi = Math.floor((b + 1) * n / bins);
    let sum = 0, k = 0;
    for (let i = lo; i < hi; i++) {
      if (Number.isFinite(values[i])) {
        sum += values[i];
        k++;
      }
    }
    out.push({ step: hi - 1, value: k > 0 ? sum / k : NaN });
  }
  return out;
}

/**
 * The row of a runs table for a record.
 *
 * @example
 * ```ts
 * await sink.writeRows("cnn_runs", [runRow(record)]);
 * ```
 */
export function runRow(r: Omit<CnnRunRecord, "minibatchLoss" | "evals">): Record<string, unknown> {
  return {
    model: r.model,
    dataset: r.dataset,
    optimizer: r.optimizer,
    learning_rate: r.learningRate,
    seed: r.seed < 0 ? null : r.seed,
    steps: r.steps,
    steps_run: r.stepsRun,
    final_train_loss: r.finalTrainLoss,
    test_loss: r.testLoss,
    test_accuracy: r.testAccuracy,
    seconds_per_step: r.secondsPerStep,
    diverged: r.diverged,
    status: r.status,
    note: r.note,
  };
}

/**
 * The rows of `cnn_curves` for a record (at most `maxPoints` train rows plus one per evaluation).
 *
 * @example
 * ```ts
 * await sink.writeRows("cnn_curves", curveRows(record, 300));
 * ```
 */
export function curveRows(r: CnnRunRecord, maxPoints: number): Record<string, unknown>[] {
  const base = {
    model: r.model,
    dataset: r.dataset,
    optimizer: r.optimizer,
    learning_rate: r.learningRate,
    seed: r.seed,
  };
  return [
    ...downsampleCurve(r.minibatchLoss, maxPoints).map((pt) => ({
      ...base,
      kind: "train",
      step: pt.step,
      train_loss: pt.value,
      test_loss: null,
      test_accuracy: null,
    })),
    ...r.evals.map((e) => ({
      ...base,
      kind: "eval",
      step: e.step,
      train_loss: e.trainLoss,
      test_loss: e.testLoss,
      test_accuracy: e.testAccuracy,
    })),
  ];
}

/** A run as stored in {@link RUNS_FILE}: the record without per-step losses, with its curve-table rows. */
export type StoredRun = Omit<CnnRunRecord, "minibatchLoss" | "evals"> & { curve: Record<string, unknown>[] };

/**
 * The stored form of a record (curve downsampled to `maxPoints`).
 *
 * @example
 * ```ts
 * const stored = storedRun(record, 300);
 * ```
 */
export function storedRun(r: CnnRunRecord, maxPoints: number): StoredRun {
  const { minibatchLoss: _m, evals: _e, ...rest } = r;
  return { ...rest, curve: curveRows(r, maxPoints) };
}

/**
 * Writes a run's rows to a runs table and a curves table.
 *
 * @example
 * ```ts
 * await writeRun(ctx, { runs: "cnn_runs", curves: "cnn_curves" }, storedRun(record, 300));
 * ```
 */
export async function writeRun(
  sink: Pick<ResultSink, "writeRows">,
  tables: { runs: string; curves: string },
  r: StoredRun,
): Promise<void> {
  await sink.writeRows(tables.runs, [runRow(r)]);
  if (r.curve.length > 0) await sink.writeRows(tables.curves, r.curve);
}

/**
 * Writes {@link RUNS_FILE} (non-finite numbers as null).
 *
 * @example
 * ```ts
 * await saveRuns(ctx.outDir, stored);
 * ```
 */
export async function saveRuns(dir: string, stored: StoredRun[]): Promise<void> {
  const text = JSON.stringify(
    stored,
    (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
    1,
  );
  await Deno.writeTextFile(join(dir, RUNS_FILE), text);
}

/**
 * Reads {@link RUNS_FILE} from an artifact directory (nulls back to NaN).
 *
 * @example
 * ```ts
 * const baselineRuns = await loadRuns(ctx.inputs["baselines-cnn"].dir);
 * ```
 */
export async function loadRuns(dir: string): Promise<StoredRun[]> {
  const raw = JSON.parse(await Deno.readTextFile(join(dir, RUNS_FILE))) as Record<string, unknown>[];
  return raw.map((r) => ({
    ...r,
    secondsPerStep: (r.secondsPerStep as number | null) ?? NaN,
    finalTrainLoss: (r.finalTrainLoss as number | null) ?? NaN,
    testLoss: (r.testLoss as number | null) ?? NaN,
    testAccuracy: (r.testAccuracy as number | null) ?? NaN,
  })) as StoredRun[];
}

/** Median over seeds of one (model, optimizer, learning rate) cell of the sweep. */
export interface SweepCell {
  model: string;
  dataset: string;
  optimizer: string;
  learningRate: number | null;
  /** Median final training loss; +Infinity when any seed diverged (a diverged run counts as the worst). */
  medianFinalTrainLoss: number;
  medianTestAccuracy: number;
  medianSecondsPerStep: number;
  seeds: number;
  divergedSeeds: number;
}

/**
 * Groups "ok" runs by (model, optimizer, learning rate) and takes medians over seeds.
 *
 * @example
 * ```ts
 * const cells = sweepCells(await loadRuns(dir));
 * ```
 */
export function sweepCells(runs: StoredRun[]): SweepCell[] {
  const groups = new Map<string, StoredRun[]>();
  for (const r of runs) {
    if (r.status !== "ok") continue;
    const k = JSON.stringify([r.model, r.optimizer, r.learningRate]);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const losses = rs.map((
      r,
    ) => (r.diverged || !Number.isFinite(r.finalTrainLoss) ? Infinity : r.finalTrainLoss));
    return {
      model: rs[0].model,
      dataset: rs[0].dataset,
      optimizer: rs[0].optimizer,
      learningRate: rs[0].learningRate,
      medianFinalTrainLoss: median(losses),
      medianTestAccuracy: median(rs.map((r) => r.testAccuracy).filter(Number.isFinite)),
      medianSecondsPerStep: median(rs.map((r) => r.secondsPerStep).filter(Number.isFinite)),
      seeds: rs.length,
      divergedSeeds: rs.filter((r) => r.diverged).length,
    };
  });
}

/**
 * The tuned cell per (model, optimizer): lowest median final training loss (ties: smaller learning rate).
 *
 * @example
 * ```ts
 * const tuned = bestCells(sweepCells(runs)).get(`convnet_mnist_relu\u0000adam`);
 * ```
 */
export function bestCells(cells: SweepCell[]): Map<string, SweepCell> {
  const best = new Map<string, SweepCell>();
  for (const c of cells) {
    const k = `${c.model}\u0000${c.optimizer}`;
    const b = best.get(k);
    if (
      !b || c.medianFinalTrainLoss < b.medianFinalTrainLoss ||
      (c.medianFinalTrainLoss === b.medianFinalTrainLoss && (c.learningRate ?? 0) < (b.learningRate ?? 0))
    ) best.set(k, c);
  }
  return best;
}
