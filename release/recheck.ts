/**
 * The short re-evaluation that ties released weights to their recorded evaluation: a few of the learned
 * optimizer's `eval-problems` runs, chosen by a fixed rule, are run again exactly as the stage ran them (same
 * problem spec, initial point, data, seed and horizon) and their final losses compared with the recorded ones.
 * `release-weights` records them in the provenance file; a test reruns them with the shipped weights.
 *
 * @module
 */
import { trainProblem } from "../models/inner_loop.ts";
import { LEARNED_OPTIMIZER_NAME, type Optimizer } from "../lib/optimizer.ts";
import { needsExternalData } from "../tasks/heldout.ts";
import { buildProblem } from "../tasks/registry.ts";
import { learnedSeed, runRng } from "../stages/eval_common.ts";
import type { TaskRecord } from "../stages/task_set.ts";

/** One recorded learned-optimizer run of `eval-problems`, to run again. */
export interface RecheckRun {
  /** The held-out task as `generate-tasks` wrote it (spec and initial-point seed). */
  task: TaskRecord;
  /** Its number of parameters. */
  dims: number;
  /** The `eval-problems` run seed. */
  seed: number;
  /** Steps (the stage's `horizon`). */
  steps: number;
  /** The stage's `fullEvery`. */
  fullEvery: number;
  /** Final full loss recorded in `eval_final`. */
  recordedFinalLoss: number;
}

/** The parts of an `eval_final` row the selection reads. */
export interface EvalFinalRow {
  task_id: string;
  optimizer: string;
  seed: number;
  final_loss: number | null;
  diverged: boolean;
}

/** Problems larger than this are not rechecked (the check must stay a few seconds). */
export const RECHECK_MAX_DIMS = 2000;

/**
 * The rule: the first `count` learned runs of `eval_final` (in its order) at the first seed whose problem needs
 * no external dataset, has at most {@link RECHECK_MAX_DIMS} parameters and did not diverge.
 *
 * @example
 * ```ts
 * const runs = pickRecheckRuns(tasks, finals, dims, { horizon: 300, fullEvery: 30 }, 3);
 * ```
 */
export function pickRecheckRuns(
  tasks: TaskRecord[],
  finals: EvalFinalRow[],
  dims: Map<string, number>,
  params: { horizon: number; fullEvery: number },
  count = 3,
): RecheckRun[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const learned = finals.filter((r) => r.optimizer === LEARNED_OPTIMIZER_NAME);
  const firstSeed = Math.min(...learned.map((r) => r.seed));
  const out: RecheckRun[] = [];
  for (const r of learned) {
    if (out.length >= count) break;
    const task = byId.get(r.task_id);
    const d = dims.get(r.task_id);
    if (!task || d === undefined || r.seed !== firstSeed || r.diverged || r.final_loss === null) continue;
    if (needsExternalData(task.spec) || d > RECHECK_MAX_DIMS) continue;
    out.push({
      task,
      dims: d,
      seed: r.seed,
      steps: params.horizon,
      fullEvery: params.fullEvery,
      recordedFinalLoss: r.final_loss,
    });
  }
  return out;
}

/**
 * Runs one recorded run again with the learned optimizer that `makeOptimizer` builds for a seed (the stage's
 * per-run seed of the initial learning rates) and returns the final full loss.
 *
 * @example
 * ```ts
 * const loss = await rerun(run, async (seed) => (await loadPretrained({ seed })).optimizer);
 * ```
 */
export async function rerun(
  run: RecheckRun,
  makeOptimizer: (seed: number) => Promise<{ optimizer: Optimizer; dispose(): void }>,
): Promise<number> {
  const problem = buildProblem(run.task.spec);
  const learned = await makeOptimizer(learnedSeed(run.task, run.seed));
  try {
    const rec = await trainProblem({
      problem,
      optimizer: learned.optimizer,
      steps: run.steps,
      rng: runRng(run.task, "eval", run.seed),
      fullEvery: run.fullEvery,
    });
    return rec.finalFullLoss;
  } finally {
    learned.dispose();
    problem.dispose();
  }
}

/** Relative tolerance of the comparison: float32 rounding differs between kernel builds (native, wasm). */
export const RECHECK_RTOL = 1e-3;

/**
 * Whether a re-evaluated loss matches the recorded one within {@link RECHECK_RTOL} (relative to the larger).
 *
 * @example
 * ```ts
 * lossesMatch(0.5, 0.50001); // true
 * ```
 */
export function lossesMatch(recorded: number, actual: number): boolean {
  if (!Number.isFinite(recorded) || !Number.isFinite(actual)) return false;
  return Math.abs(recorded - actual) <= RECHECK_RTOL * Math.max(Math.abs(recorded), Math.abs(actual), 1e-12);
}
