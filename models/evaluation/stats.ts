/**
 * Pure helpers for comparing optimizers on a problem set: divergence-aware medians,
 * the lr pick of a sweep, curve downsampling and the win/ratio summary of an evaluation. No tensors, no I/O.
 *
 * Conventions: a run whose final loss is not finite (NaN, ±Infinity) or that diverged counts as +Infinity, so
 * it loses to any finite run and a median over runs is +Infinity as soon as half of them diverged.
 *
 * @module
 */
import { median } from "../../lib/stats.ts";

/**
 * A final loss as a ranking value: non-finite or diverged becomes +Infinity.
 *
 * @example
 * ```ts
 * rankValue(NaN); // Infinity
 * ```
 */
export function rankValue(finalLoss: number, diverged = false): number {
  return diverged || !Number.isFinite(finalLoss) ? Infinity : finalLoss;
}

/**
 * Median of ranking values (NaN counted as +Infinity, so a median over runs is +Infinity as soon as half of
 * them diverged); throws on an empty list.
 *
 * @example
 * ```ts
 * medianLoss([0.5, Infinity, 0.2]); // 0.5
 * medianLoss([0.5, Infinity]); // Infinity
 * ```
 */
export function medianLoss(values: readonly number[]): number {
  if (values.length === 0) throw new Error("medianLoss: no values");
  return median(values.map((x) => (Number.isNaN(x) ? Infinity : x)));
}

/**
 * One candidate of a learning-rate sweep: a learning rate and the final losses of its seeds.
 *
 * @example
 * ```ts
 * const p: SweepPoint = { learningRate: 0.01, losses: [0.3, 0.2] };
 * ```
 */
export interface SweepPoint {
  learningRate: number;
  /** Ranking values per seed (see {@link rankValue}). */
  losses: number[];
}

/**
 * The pick of {@link pickLearningRate}.
 *
 * @example
 * ```ts
 * const { learningRate, allDiverged }: SweepPick = pickLearningRate(points);
 * ```
 */
export interface SweepPick {
  learningRate: number;
  /** Median ranking value at that learning rate (+Infinity when every candidate diverged). */
  medianLoss: number;
  /** True when every candidate's median is +Infinity (the smallest learning rate is returned). */
  allDiverged: boolean;
  /** Median per candidate, in the order given. */
  medians: number[];
}

/**
 * The learning rate with the lowest median final loss. Ties (including all-diverged) go to the smallest
 * learning rate, the conservative choice.
 *
 * @example
 * ```ts
 * pickLearningRate([{ learningRate: 0.1, losses: [Infinity] }, { learningRate: 0.01, losses: [0.2] }]).learningRate; // 0.01
 * ```
 */
export function pickLearningRate(points: readonly SweepPoint[]): SweepPick {
  if (points.length === 0) throw new Error("pickLearningRate: empty sweep");
  const medians = points.map((p) => medianLoss(p.losses));
  let best = -1;
  for (let i = 0; i < points.length; i++) {
    if (
      best < 0 || medians[i] < medians[best] ||
      (medians[i] === medians[best] && points[i].learningRate < points[best].learningRate)
    ) best = i;
  }
  return {
    learningRate: points[best].learningRate,
    medianLoss: medians[best],
    allDiverged: medians[best] === Infinity,
    medians,
  };
}

/**
 * Which minibatch steps of a run of `n` steps to keep so that at most about `maxPoints` remain: every k-th
 * step from 0 and always the last one. `maxPoints` ≤ 0 keeps all.
 *
 * @example
 * ```ts
 * downsampleSteps(10, 4); // [0, 4, 8, 9]
 * ```
 */
export function downsampleSteps(n: number, maxPoints: number): number[] {
  if (n <= 0) return [];
  if (maxPoints <= 0 || n <= maxPoints) return Array.from({ length: n }, (_, i) => i);
  const stride = Math.ceil(n / Math.max(1, maxPoints - 1));
  const out: number[] = [];
  for (let i = 0; i < n; i += stride) out.push(i);
  if (out[out.length - 1] !== n - 1) out.push(n - 1);
  return out;
}

/**
 * Learned-vs-baselines comparison of one problem from median final losses per optimizer.
 *
 * @example
 * ```ts
 * const c: ProblemComparison = compareOnProblem({ learned: 0.1, adam: 0.2 }, "learned"); c.wins.adam; // true
 * ```
 */
export interface ProblemComparison {
  /** Optimizer with the lowest median (learned included; ties go to the learned optimizer, then list order). */
  bestOptimizer: string;
  learnedMedian: number;
  bestBaseline: string;
  bestBaselineMedian: number;
  /**
   * learned / best baseline median; null unless both are finite and > 0 (a ratio of negative or zero losses,
   * which some test functions reach, has no meaning).
   */
  ratio: number | null;
  /** Per baseline: whether the learned median is strictly lower. */
  wins: Record<string, boolean>;
  /** Per baseline: learned / baseline median under the same rule as `ratio`. */
  ratios: Record<string, number | null>;
}

/**
 * Ratio a / b when both are finite and > 0, else null.
 *
 * @example
 * ```ts
 * lossRatio(0.1, 0.2); // 0.5
 * ```
 */
export function lossRatio(a: number, b: number): number | null {
  return Number.isFinite(a) && Number.isFinite(b) && a > 0 && b > 0 ? a / b : null;
}

/**
 * Compares the learned optimizer with each baseline on one problem. `medians` maps optimizer name to median
 * ranking value; `learned` names the learned optimizer's entry; the others are baselines (at least one).
 *
 * @example
 * ```ts
 * compareOnProblem({ learned: 0.1, adam: 0.2, rmsprop: 0.05 }, "learned").bestOptimizer; // "rmsprop"
 * ```
 */
export function compareOnProblem(medians: Record<string, number>, learned: string): ProblemComparison {
  if (!(learned in medians)) throw new Error(`compareOnProblem: no median for '${learned}'`);
  const baselines = Object.keys(medians).filter((k) => k !== learned);
  if (baselines.length === 0) throw new Error("compareOnProblem: no baseline to compare with");
  const l = medians[learned];
  let bestBaseline = baselines[0];
  for (const b of baselines) if (medians[b] < medians[bestBaseline]) bestBaseline = b;
  const bb = medians[bestBaseline];
  const wins: Record<string, boolean> = {};
  const ratios: Record<string, number | null> = {};
  for (const b of baselines) {
    wins[b] = l < medians[b];
    ratios[b] = lossRatio(l, medians[b]);
  }
  return {
    bestOptimizer: l <= bb ? learned : bestBaseline,
    learnedMedian: l,
    bestBaseline,
    bestBaselineMedian: bb,
    ratio: lossRatio(l, bb),
    wins,
    ratios,
  };
}

/**
 * Median of the non-null entries, or null when there are none.
 *
 * @example
 * ```ts
 * medianOfDefined([null, 2, 4]); // 3
 * ```
 */
export function medianOfDefined(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length === 0 ? null : medianLoss(v);
}
