/**
 * Shared plumbing of the `tune-baselines` and `eval-problems` stages: which held-out problems to run, the
 * run seeds, dataset resolution with a clear "not run" reason, baseline hyperparameters, and the `tuned.json`
 * artifact format that carries the chosen learning rates from one stage to the other.
 *
 * @module
 */
import { join } from "node:path";
import { hashString, Rng } from "../lib/rng.ts";
import { makeBaseline } from "../models/optimizers/baselines.ts";
import type { Optimizer, OptState } from "../lib/optimizer.ts";
import type { DatasetResolver } from "../tasks/datasets.ts";
import { externalDatasets, preloadDatasets } from "../tasks/external.ts";
import { needsExternalData } from "../tasks/heldout.ts";
import type { ProblemSpec } from "../tasks/problem.ts";
import type { TaskRecord } from "./task_set.ts";

/** Params that pick the held-out problems a stage runs. */
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

/** A problem left out by the selection params, with why. */
export interface ExcludedProblem {
  taskId: string;
  family: string;
  reason: string;
}

/** A selected problem that could not be run, with why (e.g. its external dataset is unavailable). */
export interface NotRunProblem {
  taskId: string;
  family: string;
  reason: string;
}

/**
 * Reads the `dims` column of the `tasks` rows that `generate-tasks` keeps inside its artifact
 * (`rows/tasks.ndjson`). Returns an empty map when the file is absent (the caller then measures dims itself).
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

/** The `count` run seeds `seed, seed + 1, …`. */
export function runSeeds(seed: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => seed + i);
}

/**
 * The generator of one run: a function of (task, purpose, seed) only — never of the optimizer — so every
 * optimizer of a seed starts from the same initial point and sees the same minibatches and gradient noise.
 * It mixes the held-out entry's `initSeed` (the task id's hash for entries without one) with the seed;
 * tuning and evaluation use different purposes so the evaluation seeds are not the tuning seeds.
 */
export function runRng(task: TaskRecord, purpose: "tune" | "eval", seed: number): Rng {
  const base = task.initSeed ?? hashString(task.id);
  return new Rng(base).fork(`${purpose}|${seed}`);
}

/** Seed of the learned optimizer's random initial learning rates for one evaluation run. */
export function learnedSeed(task: TaskRecord, seed: number): number {
  return runRng(task, "eval", seed).fork("learned-optimizer").seed();
}

/** Builds baseline `name` at `learningRate` (momentum/nesterov take `momentum`, the others their defaults). */
export function baselineAt(name: string, learningRate: number, momentum: number): Optimizer<OptState> {
  const h: Record<string, unknown> = { learningRate };
  if (name === "momentum" || name === "nesterov") h.momentum = momentum;
  return makeBaseline(name, h);
}

/**
 * Loads external datasets once per distinct set of dataset specs and remembers failures, so a missing dataset
 * turns into a "not run" reason instead of an exception.
 */
export class DatasetCache {
  #memo = new Map<string, Promise<{ resolver?: DatasetResolver; error?: string }>>();

  /** A resolver for the spec's external datasets (undefined when it needs none), or the reason it has none. */
  resolverFor(spec: ProblemSpec): Promise<{ resolver?: DatasetResolver; error?: string }> {
    if (!needsExternalData(spec)) return Promise.resolve({});
    const key = JSON.stringify(externalDatasets(spec));
    let hit = this.#memo.get(key);
    if (!hit) {
      hit = preloadDatasets([spec]).then(
        (resolver) => ({ resolver }),
        (e) => ({ error: `external dataset unavailable: ${e instanceof Error ? e.message : String(e)}` }),
      );
      this.#memo.set(key, hit);
    }
    return hit;
  }
}

/** File name of the `tune-baselines` artifact. */
export const TUNED_FILE = "tuned.json";

/** Tuning result for one problem. */
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

/** The `tuned.json` artifact of `tune-baselines`. */
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

/** Reads `tuned.json` from a `tune-baselines` artifact directory. */
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

/** Mean of a list of seconds, or null when empty. */
export function meanSeconds(xs: ArrayLike<number>): number | null {
  if (xs.length === 0) return null;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Message of an unknown thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
