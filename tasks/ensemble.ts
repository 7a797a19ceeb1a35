/**
 * The meta-training problem set (§9.2 groups, §9.3 composition).
 *
 * Every group of the reference (`ensemble_groups.ts`) is a function returning `EnsembleEntry` items; {@link ensemble} assembles
 * the groups switched on by its options, in the reference's order. With the defaults (the paper configuration's
 * metarun include flags) it has 101 entries.
 *
 * Seeds: the reference draws a fresh random instance at every build of an unseeded spec. Here every entry
 * carries an explicit seed derived from (split, base seed, group, entry, nested path) by `splitSeed`, so
 * a stored spec rebuilds exactly; {@link reseed} gives fresh instances of the same entry (use it during
 * meta-training to mimic the reference's per-build randomness reproducibly). Train seeds lie in [0, 2³⁰), test
 * seeds in [2³⁰, 2³¹), so the two splits never share an instance. The softmax groups' datasets use the
 * reference's fixed seed 123 in the train split.
 *
 * @module
 */
import type { ProblemSpec } from "./problem.ts";
import { type EnsembleEntry, GROUP_NAMES, type GroupName, GROUPS } from "./ensemble_groups.ts";
import { groupContext, type Split } from "./ensemble_seeds.ts";

/**
 * The paper configuration's include flags (§9.3). `sparse_gradient_problems_mlp` is not a flag of its own in
 * the reference: it is on when both `sparse_gradient_problems` and `fully_connected_random_2_class_problems` are.
 *
 * @example
 * ```ts
 * PAPER_INCLUDE.quadratic_problems_noisy; // true
 * ```
 */
export const PAPER_INCLUDE: Readonly<Record<Exclude<GroupName, "sparse_gradient_problems_mlp">, boolean>> = {
  sparse_softmax_2_class_sparse_problems: false,
  one_hot_sparse_softmax_2_class_sparse_problems: false,
  quadratic_problems: false,
  quadratic_problems_noisy: true,
  quadratic_problems_large: true,
  bowl_problems: true,
  bowl_problems_noisy: true,
  softmax_2_class_problems: true,
  softmax_2_class_problems_noisy: true,
  optimization_test_problems: true,
  optimization_test_problems_noisy: true,
  fully_connected_random_2_class_problems: true,
  matmul_problems: true,
  log_objective_problems: true,
  rescale_problems: true,
  norm_problems: true,
  norm_problems_noisy: true,
  sum_problems: true,
  sum_problems_noisy: true,
  sparse_gradient_problems: true,
  min_max_well_problems: false,
  sum_of_quadratics_problems: false,
  projection_quadratic_problems: false,
  outward_snake_problems: false,
  dependency_chain_problems: false,
  // Not a group of the paper's code: this project's multiclass minibatch problems (ensemble_groups.ts).
  multiclass_minibatch_problems: false,
};

/**
 * Options of {@link ensemble}.
 *
 * @example
 * ```ts
 * const opts: EnsembleOptions = { split: "test", seed: 1, include: { quadratic_problems: true } };
 * ```
 */
export interface EnsembleOptions {
  /** Seed split (default `train`). */
  split?: Split;
  /** Base seed mixed into every derived seed (default 0). */
  seed?: number;
  /** Switches groups on/off; missing keys take {@link PAPER_INCLUDE}. */
  include?: Partial<Record<GroupName, boolean>>;
  /** Wrapper noise semantics (default false: inner noise effective; true: the reference's behaviour). */
  faithfulNoise?: boolean;
}

/**
 * Whether `group` is on under `include` (defaults {@link PAPER_INCLUDE}; the sparse-MLP rule of §9.3).
 *
 * @example
 * ```ts
 * groupIncluded("sparse_gradient_problems_mlp", { sparse_gradient_problems: false }); // false
 * ```
 */
export function groupIncluded(group: GroupName, include: Partial<Record<GroupName, boolean>> = {}): boolean {
  if (include[group] !== undefined) return include[group] as boolean;
  if (group === "sparse_gradient_problems_mlp") {
    return groupIncluded("sparse_gradient_problems", include) &&
      groupIncluded("fully_connected_random_2_class_problems", include);
  }
  return PAPER_INCLUDE[group];
}

/**
 * The meta-training set: every included group's entries in the reference's order. Defaults reproduce the
 * paper configuration (101 entries). Throws on an unknown group name in `include`.
 *
 * @example
 * ```ts
 * ensemble().length; // 101
 * ```
 */
export function ensemble(options: EnsembleOptions = {}): EnsembleEntry[] {
  const include = options.include ?? {};
  for (const k of Object.keys(include)) {
    if (!(GROUP_NAMES as readonly string[]).includes(k)) {
      throw new Error(`ensemble: unknown group '${k}' in include; groups: ${GROUP_NAMES.join(", ")}`);
    }
  }
  const c = groupContext(options.split ?? "train", options.seed ?? 0, options.faithfulNoise ?? false);
  return GROUP_NAMES.filter((g) => groupIncluded(g, include)).flatMap((g) => GROUPS[g](c));
}

/**
 * A copy of `spec` with every seed (its own, nested specs', datasets') replaced by `seedOf(path)`, the path
 * naming the position (`""`, `inner`, `problems/2`, `dataset`, ...). Gives fresh instances of the same problem.
 *
 * @example
 * ```ts
 * const fresh = reseed(entry.spec, (path) => splitSeed("train", `${step}|${path}`));
 * ```
 */
export function reseed(spec: ProblemSpec, seedOf: (path: string) => number, path = ""): ProblemSpec {
  const join = (p: string) => (path === "" ? p : `${path}/${p}`);
  const params: Record<string, unknown> = { ...spec.params };
  const inner = params.inner as ProblemSpec | undefined;
  if (inner && typeof inner === "object") params.inner = reseed(inner, seedOf, join("inner"));
  if (Array.isArray(params.problems)) {
    params.problems = (params.problems as ProblemSpec[]).map((s, i) =>
      reseed(s, seedOf, join(`problems/${i}`))
    );
  }
  const ds = params.dataset as Record<string, unknown> | undefined;
  if (ds && typeof ds === "object" && typeof ds.seed === "number") {
    params.dataset = { ...ds, seed: seedOf(join("dataset")) };
  }
  return { family: spec.family, params, seed: seedOf(path) };
}

/**
 * Every seed inside a spec (own, nested, datasets), for disjointness checks.
 *
 * @example
 * ```ts
 * collectSeeds({ family: "quadratic", params: { ndim: 2 }, seed: 5 }); // [5]
 * ```
 */
export function collectSeeds(spec: ProblemSpec): number[] {
  const out = [spec.seed];
  const p = spec.params;
  if (p.inner && typeof p.inner === "object") out.push(...collectSeeds(p.inner as ProblemSpec));
  if (Array.isArray(p.problems)) {
    for (const s of p.problems as ProblemSpec[]) {
      out.push(...collectSeeds(s));
    }
  }
  const ds = p.dataset as Record<string, unknown> | undefined;
  if (ds && typeof ds.seed === "number") out.push(ds.seed);
  return out;
}
