/**
 * What every evaluation run of a held-out problem is set up from: the run seeds, the per-run generator (the
 * same initial point and minibatches for every optimizer of a seed), the learned optimizer's seed, baselines
 * at a tuned learning rate, and dataset resolution that turns a missing dataset into a "not run" reason.
 *
 * @example
 * ```ts
 * import { runRng, runSeeds } from "./run_setup.ts";
 * const task = { id: "test/quadratic_10", initSeed: 7 };
 * for (const seed of runSeeds(0, 3)) runRng(task, "eval", seed); // one generator per seed
 * ```
 *
 * @module
 */
import { hashString, Rng } from "../../lib/rng.ts";
import type { Optimizer, OptState } from "../../lib/optimizer.ts";
import { makeBaseline } from "../optimizers/baselines.ts";
import type { WeightsProvenance } from "../hrnn/weights_file.ts";
import type { DatasetResolver } from "../../tasks/datasets.ts";
import { externalDatasets, preloadDatasets } from "../../tasks/external.ts";
import { needsExternalData } from "../../tasks/heldout.ts";
import type { Problem, ProblemSpec } from "../../tasks/problem.ts";
import { buildProblem } from "../../tasks/registry.ts";

/**
 * The identity of a problem that seeds its runs: its task id and, for held-out entries, its `initSeed`.
 *
 * @example
 * ```ts
 * const id: RunIdentity = { id: "test/quadratic_10", initSeed: 7 };
 * ```
 */
export interface RunIdentity {
  /** Unique task id, e.g. `test/quadratic_10`. */
  id: string;
  /** Seed of the initial point for evaluation; null where the entry has none (the id's hash is used). */
  initSeed: number | null;
}

/**
 * A selected problem that could not be run, with why (e.g. its external dataset is unavailable).
 *
 * @example
 * ```ts
 * const n: NotRunProblem = { taskId: "test/mnist_mlp", family: "fully_connected", reason: "no MNIST" };
 * ```
 */
export interface NotRunProblem {
  taskId: string;
  family: string;
  reason: string;
}

/**
 * A learned optimizer ready for one run, and how to free it.
 *
 * @example
 * ```ts
 * const l: LearnedForRun = await loadLearned(seed);
 * l.dispose();
 * ```
 */
export interface LearnedForRun {
  optimizer: Optimizer;
  provenance: WeightsProvenance;
  dispose(): void;
}

/**
 * The `count` run seeds `seed, seed + 1, …`.
 *
 * @example
 * ```ts
 * runSeeds(4, 3); // [4, 5, 6]
 * ```
 */
export function runSeeds(seed: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => seed + i);
}

/**
 * The generator of one run: a function of (task, purpose, seed) only — never of the optimizer — so every
 * optimizer of a seed starts from the same initial point and sees the same minibatches and gradient noise.
 * It mixes the held-out entry's `initSeed` (the task id's hash for entries without one) with the seed;
 * tuning and evaluation use different purposes so the evaluation seeds are not the tuning seeds.
 *
 * @example
 * ```ts
 * const rng = runRng({ id: "test/quadratic_10", initSeed: 7 }, "eval", 0);
 * ```
 */
export function runRng(task: RunIdentity, purpose: "tune" | "eval", seed: number): Rng {
  const base = task.initSeed ?? hashString(task.id);
  return new Rng(base).fork(`${purpose}|${seed}`);
}

/**
 * Seed of the learned optimizer's random initial learning rates for one evaluation run.
 *
 * @example
 * ```ts
 * const seed = learnedSeed({ id: "test/quadratic_10", initSeed: 7 }, 0);
 * ```
 */
export function learnedSeed(task: RunIdentity, seed: number): number {
  return runRng(task, "eval", seed).fork("learned-optimizer").seed();
}

/**
 * Builds baseline `name` at `learningRate` (momentum/nesterov take `momentum`, the others their defaults).
 *
 * @example
 * ```ts
 * const opt = baselineAt("momentum", 0.01, 0.9);
 * ```
 */
export function baselineAt(name: string, learningRate: number, momentum: number): Optimizer<OptState> {
  const h: Record<string, unknown> = { learningRate };
  if (name === "momentum" || name === "nesterov") h.momentum = momentum;
  return makeBaseline(name, h);
}

/**
 * Loads external datasets once per distinct set of dataset specs and remembers failures, so a missing dataset
 * turns into a "not run" reason instead of an exception.
 *
 * @example
 * ```ts
 * const cache = new DatasetCache();
 * const { resolver, error } = await cache.resolverFor(spec);
 * const built = await cache.build(spec); // { problem } or { reason }
 * ```
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

  /** Builds the problem of `spec` with its datasets, or says why it cannot be run. */
  async build(spec: ProblemSpec): Promise<{ problem: Problem; reason?: undefined } | { reason: string }> {
    const ds = await this.resolverFor(spec);
    if (ds.error) return { reason: ds.error };
    try {
      return { problem: buildProblem(spec, { resolveDataset: ds.resolver }) };
    } catch (e) {
      return { reason: `cannot build the problem: ${errorMessage(e)}` };
    }
  }
}

/**
 * Mean of a list of seconds, or null when empty.
 *
 * @example
 * ```ts
 * meanSeconds([0.1, 0.3]); // 0.2
 * ```
 */
export function meanSeconds(xs: ArrayLike<number>): number | null {
  if (xs.length === 0) return null;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/**
 * Message of an unknown thrown value.
 *
 * @example
 * ```ts
 * errorMessage(new Error("boom")); // "boom"
 * ```
 */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
