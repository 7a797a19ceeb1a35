/**
 * Shared plumbing of the evaluation stages (`tune-baselines`, `eval-problems`, `eval-horizon`): which held-out
 * problems to run, the `tuned.json` artifact format that carries the chosen learning rates from one stage to
 * the next, and the sink an experiment writes through. The run set-up they share (seeds, generators,
 * baselines, datasets) lives in `models/evaluation/run_setup.ts` and is re-exported here.
 *
 * @module
 */
import { join } from "node:path";
import type { NotRunProblem } from "../models/evaluation/run_setup.ts";
import type { StageContext } from "../pipeline/stage.ts";
import type { ExperimentSink } from "../models/evaluation/sink.ts";
import type { TaskRecord } from "./task_set.ts";

export {
  baselineAt,
  DatasetCache,
  errorMessage,
  learnedSeed,
  meanSeconds,
  type NotRunProblem,
  runRng,
  runSeeds,
} from "../models/evaluation/run_setup.ts";

/**
 * Params that pick the held-out problems a stage runs.
 *
 * @example
 * ```ts
 * const sel: ProblemSelection = { maxProblems: 0, maxDims: 0, skipFamilies: [], tasks: [] };
 * ```
 */
export interface ProblemSelection {
  /** Which split to evaluate: `test` (the held-out set, default) or `valid` (the validation split). */
  split?: "test" | "valid";
  /** Run at most this many problems (0: all), taken in task-set order after the filters. */
  maxProblems: number;
  /** Skip problems with more parameters than this (0: no limit). */
  maxDims: number;
  /** Skip problems whose outer family is one of these. */
  skipFamilies: string[];
  /** Only these task ids (empty: all). */
  tasks: string[];
}

/**
 * A problem left out by the selection params, with why.
 *
 * @example
 * ```ts
 * const e: ExcludedProblem = { taskId: "test/big", family: "fully_connected", reason: "over maxDims" };
 * ```
 */
export interface ExcludedProblem {
  taskId: string;
  family: string;
  reason: string;
}

/**
 * Reads the `dims` column of the `tasks` rows that `generate-tasks` keeps inside its artifact
 * (`rows/tasks.ndjson`). Returns an empty map when the file is absent (the caller then measures dims itself).
 *
 * @example
 * ```ts
 * const dims = await readTaskDims(ctx.inputs["generate-tasks"].dir);
 * ```
 */
export async function readTaskDims(generateTasksDir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let text: string;
  try {
    text = await Deno.readTextFile(join(generateTasksDir, "rows", "tasks.ndjson"));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { task_id?: unknown; dims?: unknown };
    if (typeof r.task_id === "string" && typeof r.dims === "number") out.set(r.task_id, r.dims);
  }
  return out;
}

/**
 * The problems of split `sel.split` (default `test`, the held-out set) a stage runs, in task-set order: filtered by `tasks`, `skipFamilies`
 * and `maxDims` (using `dims` where known), then capped at `maxProblems`. Unknown ids in `tasks` throw.
 *
 * @example
 * ```ts
 * const { selected, excluded } = selectProblems(set.tasks, sel, dims);
 * ```
 */
export function selectProblems(
  tasks: readonly TaskRecord[],
  sel: ProblemSelection,
  dims: ReadonlyMap<string, number> = new Map(),
): { selected: TaskRecord[]; excluded: ExcludedProblem[] } {
  const split = sel.split ?? "test";
  const heldout = tasks.filter((t) => t.split === split);
  if (sel.tasks.length > 0) {
    const ids = new Set(heldout.map((t) => t.id));
    const unknown = sel.tasks.filter((id) => !ids.has(id));
    if (unknown.length > 0) {
      throw new Error(
        `tasks: unknown ${split === "test" ? "held-out" : "validation"} task id(s) ${unknown.join(", ")}; ` +
          `query them with: SELECT task_id FROM tasks WHERE split = '${split}'`,
      );
    }
  }
  const selected: TaskRecord[] = [];
  const excluded: ExcludedProblem[] = [];
  for (const t of heldout) {
    const ex = (reason: string) => excluded.push({ taskId: t.id, family: t.spec.family, reason });
    const d = dims.get(t.id);
    if (sel.tasks.length > 0 && !sel.tasks.includes(t.id)) ex("not in tasks");
    else if (sel.skipFamilies.includes(t.spec.family)) ex(`family ${t.spec.family} in skipFamilies`);
    else if (sel.maxDims > 0 && d !== undefined && d > sel.maxDims) ex(`${d} dims > maxDims ${sel.maxDims}`);
    else if (sel.maxProblems > 0 && selected.length >= sel.maxProblems) {
      ex(`over maxProblems ${sel.maxProblems}`);
    } else selected.push(t);
  }
  return { selected, excluded };
}

/**
 * File name of the `tune-baselines` artifact.
 *
 * @example
 * ```ts
 * const path = join(artifactDir, TUNED_FILE);
 * ```
 */
export const TUNED_FILE = "tuned.json";

/**
 * Tuning result for one problem.
 *
 * @example
 * ```ts
 * const t: TunedProblem = { taskId, family, learningRate: { adam: 1e-3 }, medianFinalLoss: { adam: 0.1 }, allDiverged: [] };
 * ```
 */
export interface TunedProblem {
  taskId: string;
  family: string;
  /** Chosen learning rate per baseline. */
  learningRate: Record<string, number>;
  /** Median final full loss at the chosen rate per baseline (null: +Infinity, every seed diverged). */
  medianFinalLoss: Record<string, number | null>;
  /** Baselines for which every grid point diverged (the smallest rate was kept). */
  allDiverged: string[];
}

/**
 * The `tuned.json` artifact of `tune-baselines`.
 *
 * @example
 * ```ts
 * const tuned: TunedFile = await readTuned(dir);
 * ```
 */
export interface TunedFile {
  version: 1;
  /** Baselines tuned, in order. */
  optimizers: string[];
  /** Fixed hyperparameters other than the learning rate (momentum coefficient). */
  momentum: number;
  /** The learning-rate grid swept. */
  grid: number[];
  /** Steps per tuning run. */
  horizon: number;
  /** Seeds per grid point. */
  seeds: number[];
  problems: TunedProblem[];
  notRun: NotRunProblem[];
  excluded: ExcludedProblem[];
}

/**
 * Reads `tuned.json` from a `tune-baselines` artifact directory.
 *
 * @example
 * ```ts
 * const tuned = await readTuned(ctx.inputs["tune-baselines"].dir);
 * ```
 */
export async function readTuned(dir: string): Promise<TunedFile> {
  const path = join(dir, TUNED_FILE);
  let t: TunedFile;
  try {
    t = JSON.parse(await Deno.readTextFile(path)) as TunedFile;
  } catch (e) {
    throw new Error(`cannot read ${path} (${e instanceof Error ? e.message : e}); rerun tune-baselines`);
  }
  if (t.version !== 1 || !Array.isArray(t.problems) || !Array.isArray(t.optimizers)) {
    throw new Error(`${path} is not a tune-baselines result (version 1); rerun tune-baselines`);
  }
  return t;
}

/**
 * The sink of an experiment function that writes through a stage's context: its log, result tables,
 * progress and cancellation signal.
 *
 * @example
 * ```ts
 * const summary = await evaluateHeldout(inputs, ctx.params, stageSink(ctx));
 * ```
 */
export function stageSink(
  ctx: Pick<StageContext, "log" | "writeRows" | "progress" | "signal">,
): ExperimentSink {
  return {
    log: (message) => ctx.log(message),
    rows: (table, rows) => ctx.writeRows(table, rows),
    progress: (done, total, label) => ctx.progress(done, total, label),
    signal: ctx.signal,
  };
}
