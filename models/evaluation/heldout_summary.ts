/**
 * The summary of a held-out evaluation (`summary.json` of `eval-problems`): win fractions of the learned
 * optimizer against each tuned baseline, median loss ratios, a per-family win table and the long-horizon
 * comparison, built from per-problem comparisons, and its text table for the log.
 *
 * @example
 * ```ts
 * import { formatSummary, summarize } from "./heldout_summary.ts";
 * const summary = summarize(comparisons, base);
 * for (const line of formatSummary(summary)) console.log(line);
 * ```
 *
 * @module
 */
import type { WeightsProvenance } from "../hrnn/weights_file.ts";
import type { NotRunProblem } from "./run_setup.ts";
import { medianOfDefined, type ProblemComparison } from "./stats.ts";

/**
 * Per-family win counts of {@link EvalSummary}.
 *
 * @example
 * ```ts
 * const wins: FamilyWins = { problems: 2, wins: { adam: 1 }, winsVsBest: 1 };
 * ```
 */
export interface FamilyWins {
  problems: number;
  /** Problems where the learned median beats the baseline's, per baseline. */
  wins: Record<string, number>;
  /** Problems where the learned median beats every baseline. */
  winsVsBest: number;
}

/**
 * The `summary.json` artifact of `eval-problems`.
 *
 * @example
 * ```ts
 * const s = JSON.parse(await Deno.readTextFile("summary.json")) as EvalSummary;
 * s.winFractionVsBest; // e.g. 0.5
 * ```
 */
export interface EvalSummary {
  version: 1;
  /** True when the learned optimizer's weights say they are a stand-in (e.g. untrained). */
  learnedStandIn: boolean;
  learnedProvenance: WeightsProvenance;
  /** Which problems were evaluated: `test` (the held-out set) or `valid` (the validation split). */
  split?: "test" | "valid";
  baselines: string[];
  seeds: number[];
  horizon: number;
  tuneHorizon: number;
  /** Problems evaluated. */
  problems: number;
  notRun: NotRunProblem[];
  /** Fraction of evaluated problems where learned beats each tuned baseline (median final loss). */
  winFraction: Record<string, number>;
  /** Fraction where learned beats the best tuned baseline of the problem. */
  winFractionVsBest: number;
  /**
   * Median over problems of learned / baseline median final loss, per baseline and vs the best baseline
   * (`best`); problems where either loss is not finite and > 0 are left out (null: none left).
   */
  medianRatio: Record<string, number | null>;
  perFamily: Record<string, FamilyWins>;
  /**
   * Long-horizon runs (learned vs tuned Adam, first seed, `steps` steps): problems run, and the fraction whose
   * loss improved from the horizon to the end by at least as much with learned as with Adam. Null when off.
   */
  longHorizon?:
    | { steps: number; problems: number; fractionAtLeastAdam: number; medianRatio: number | null }
    | null;
}

/**
 * A loss or ratio as the evaluation log prints it: `inf`, `-` (null, NaN, -Infinity), exponent notation for
 * very large or small magnitudes, else three decimals.
 *
 * @example
 * ```ts
 * formatLoss(0.12345); // "0.123"
 * formatLoss(Infinity); // "inf"
 * ```
 */
export function formatLoss(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return x === Infinity ? "inf" : "-";
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : x.toFixed(3);
}

/**
 * Text table of the summary for the log.
 *
 * @example
 * ```ts
 * for (const line of formatSummary(summary)) console.log(line);
 * ```
 */
export function formatSummary(s: EvalSummary): string[] {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const lines = [
    `learned optimizer${
      s.learnedStandIn ? " (STAND-IN weights: " + (s.learnedProvenance.notes ?? "") + ")" : ""
    }` +
    ` vs tuned baselines on ${s.problems} ${s.split === "valid" ? "validation" : "held-out"} problems, ` +
    `${s.seeds.length} seed(s) × ${s.horizon} steps`,
    `  wins (median final loss): ` +
    s.baselines.map((b) => `vs ${b} ${pct(s.winFraction[b])}`).join(", ") +
    `, vs best baseline ${pct(s.winFractionVsBest)}`,
    `  median loss ratio learned/baseline: ` +
    [...s.baselines, "best"].map((b) => `${b} ${formatLoss(s.medianRatio[b])}`).join(", "),
    `  per family (learned wins / problems):`,
  ];
  const fams = Object.keys(s.perFamily).sort();
  const w = Math.max(6, ...fams.map((f) => f.length));
  lines.push(`    ${"family".padEnd(w)}  n  ${s.baselines.map((b) => b.padStart(8)).join(" ")}      best`);
  for (const f of fams) {
    const r = s.perFamily[f];
    lines.push(
      `    ${f.padEnd(w)} ${String(r.problems).padStart(2)}  ` +
        s.baselines.map((b) => String(r.wins[b]).padStart(8)).join(" ") +
        `  ${String(r.winsVsBest).padStart(8)}`,
    );
  }
  if (s.longHorizon) {
    lines.push(
      `  long horizon (${s.longHorizon.steps} steps, ${s.longHorizon.problems} problems): learned improves ` +
        `from step ${s.horizon} at least as much as tuned Adam on ${
          pct(s.longHorizon.fractionAtLeastAdam)
        }; ` +
        `median improvement ratio learned/adam ${formatLoss(s.longHorizon.medianRatio)}`,
    );
  }
  if (s.notRun.length > 0) {
    lines.push(`  not run: ${s.notRun.map((n) => `${n.taskId} (${n.reason})`).join("; ")}`);
  }
  return lines;
}

/**
 * Builds the summary from per-problem comparisons.
 *
 * @example
 * ```ts
 * const summary = summarize([{ family: "quadratic", cmp: compareOnProblem(medians, "learned") }], base);
 * ```
 */
export function summarize(
  comparisons: { family: string; cmp: ProblemComparison }[],
  base: Omit<EvalSummary, "problems" | "winFraction" | "winFractionVsBest" | "medianRatio" | "perFamily">,
): EvalSummary {
  const n = comparisons.length;
  const frac = (k: number) => (n === 0 ? 0 : k / n);
  const winFraction: Record<string, number> = {};
  const medianRatio: Record<string, number | null> = {};
  for (const b of base.baselines) {
    winFraction[b] = frac(comparisons.filter((c) => c.cmp.wins[b]).length);
    medianRatio[b] = medianOfDefined(comparisons.map((c) => c.cmp.ratios[b]));
  }
  const beatsAll = (c: ProblemComparison) => base.baselines.every((b) => c.wins[b]);
  medianRatio.best = medianOfDefined(comparisons.map((c) => c.cmp.ratio));
  const perFamily: Record<string, FamilyWins> = {};
  for (const { family, cmp } of comparisons) {
    const f = perFamily[family] ??= {
      problems: 0,
      wins: Object.fromEntries(base.baselines.map((b) => [b, 0])),
      winsVsBest: 0,
    };
    f.problems++;
    for (const b of base.baselines) if (cmp.wins[b]) f.wins[b]++;
    if (beatsAll(cmp)) f.winsVsBest++;
  }
  return {
    ...base,
    problems: n,
    winFraction,
    winFractionVsBest: frac(comparisons.filter((c) => beatsAll(c.cmp)).length),
    medianRatio,
    perFamily,
  };
}
