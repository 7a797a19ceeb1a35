/**
 * The meta-training problem set (§9.2 groups, §9.3 composition).
 *
 * Every group of the reference is a function returning {@link EnsembleEntry} items; {@link ensemble} assembles
 * the groups switched on by its options, in the reference's order. With the defaults (the paper configuration's
 * metarun include flags) it has 101 entries.
 *
 * Seeds: the reference draws a fresh random instance at every build of an unseeded spec. Here every entry
 * carries an explicit seed derived from (split, base seed, group, entry, nested path) by {@link splitSeed}, so
 * a stored spec rebuilds exactly; {@link reseed} gives fresh instances of the same entry (use it during
 * meta-training to mimic the reference's per-build randomness reproducibly). Train seeds lie in [0, 2³⁰), test
 * seeds in [2³⁰, 2³¹), so the two splits never share an instance. The softmax groups' datasets use the
 * reference's fixed seed 123 in the train split.
 *
 * @module
 */
import { hashString } from "../lib/rng.ts";
import type { ProblemSpec } from "./problem.ts";
import type { DatasetSpec } from "./datasets.ts";

/** Which side of the train/held-out divide a seed belongs to. */
export type Split = "train" | "test";

/** One problem of a set: its spec, the minibatch size (null: data-free), and the group it came from. */
export interface EnsembleEntry {
  spec: ProblemSpec;
  /** Mirrors `spec.params.batchSize` for data-backed problems; null for data-free ones. */
  batchSize: number | null;
  group: GroupName;
}

/** All problem-set groups of the reference (§9.2), in the reference's assembly order (§9.3). */
export const GROUP_NAMES = [
  "sparse_softmax_2_class_sparse_problems",
  "one_hot_sparse_softmax_2_class_sparse_problems",
  "quadratic_problems",
  "quadratic_problems_noisy",
  "quadratic_problems_large",
  "bowl_problems",
  "bowl_problems_noisy",
  "softmax_2_class_problems",
  "softmax_2_class_problems_noisy",
  "optimization_test_problems",
  "optimization_test_problems_noisy",
  "fully_connected_random_2_class_problems",
  "matmul_problems",
  "log_objective_problems",
  "rescale_problems",
  "norm_problems",
  "norm_problems_noisy",
  "sum_problems",
  "sum_problems_noisy",
  "sparse_gradient_problems",
  "sparse_gradient_problems_mlp",
  "min_max_well_problems",
  "sum_of_quadratics_problems",
  "projection_quadratic_problems",
  "outward_snake_problems",
  "dependency_chain_problems",
] as const;
/** One of {@link GROUP_NAMES}. */
export type GroupName = typeof GROUP_NAMES[number];

/**
 * The paper configuration's include flags (§9.3). `sparse_gradient_problems_mlp` is not a flag of its own in
 * the reference: it is on when both `sparse_gradient_problems` and `fully_connected_random_2_class_problems` are.
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
};

/**
 * A seed for `key` in `split`: a hash of (base seed, key) in [0, 2³⁰) for train and [2³⁰, 2³¹) for test.
 */
export function splitSeed(split: Split, key: string, base = 0): number {
  const h = hashString(`${base}|${key}`) & 0x3fffffff;
  return split === "train" ? h : (h | 0x40000000) >>> 0;
}

/** How a group names the seeds of its entries. */
export interface GroupContext {
  /** Split the seeds belong to. */
  split: Split;
  /** Seed for a key unique within the whole set (group name + entry + path). */
  seed(key: string): number;
  /** Seed of a dataset: the reference's fixed `paperSeed` in the train split when given, else {@link seed}. */
  dataSeed(key: string, paperSeed?: number): number;
  /** Value of `faithfulNoise` written into wrapper specs. */
  faithfulNoise: boolean;
}

/** Options of {@link ensemble}. */
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

/** The {@link GroupContext} for a split and base seed. */
export function groupContext(split: Split = "train", base = 0, faithfulNoise = false): GroupContext {
  const seed = (key: string) => splitSeed(split, key, base);
  return {
    split,
    seed,
    dataSeed: (key, paperSeed) => (split === "train" && paperSeed !== undefined ? paperSeed : seed(key)),
    faithfulNoise,
  };
}

// ---------------------------------------------------------------------------------------------------------
// spec helpers

function spec(family: string, params: Record<string, unknown>, seed: number): ProblemSpec {
  return { family, params, seed };
}

function entry(group: GroupName, s: ProblemSpec): EnsembleEntry {
  const bs = s.params.batchSize;
  return { spec: s, batchSize: typeof bs === "number" ? bs : null, group };
}

function noise(n: number): Record<string, unknown> {
  return n === 0 ? {} : { noiseStdev: n };
}

const quad = (c: GroupContext, key: string, ndim: number, n = 0) =>
  spec("quadratic", { ndim, ...noise(n) }, c.seed(key));
const bowl = (c: GroupContext, key: string, cond: number, angle = 0, n = 0) =>
  spec("bowl", { cond, ...(angle === 0 ? {} : { angle }), ...noise(n) }, c.seed(key));
const norm = (c: GroupContext, key: string, ndim: number, normPower: number, n = 0) =>
  spec("norm", { ndim, normPower, ...noise(n) }, c.seed(key));

/** The nine 2-D test-function families in the reference's order. */
export const TEST_FUNCTION_FAMILIES = [
  "ackley",
  "beale",
  "booth",
  "branin",
  "log_sum_exp",
  "matyas",
  "michalewicz",
  "rosenbrock",
  "styblinski_tang",
] as const;

/** The sum group's list (c): Rosenbrock first, then the others of §9.2 in its order. */
const SUM_LIST_C = [
  "rosenbrock",
  "log_sum_exp",
  "ackley",
  "beale",
  "booth",
  "styblinski_tang",
  "matyas",
  "branin",
  "michalewicz",
] as const;

/** The 12 random-MLP configurations (nFeatures, hidden sizes, batch size) of §9.2. */
export const RANDOM_MLP_CONFIGS: ReadonlyArray<readonly [number, readonly number[], number]> = [
  [8, [8, 5], 10],
  [12, [8, 5, 3], 200],
  [5, [4, 4, 4, 4], 100],
  [11, [4, 5, 6], 64],
  [9, [8], 128],
  [7, [8, 5], 16],
  [8, [32, 64], 10],
  [12, [16, 8, 3], 200],
  [5, [8, 8, 8, 8], 100],
  [11, [10, 12, 12], 64],
  [9, [32], 128],
  [7, [32, 64], 16],
];

function randomMlpSpec(c: GroupContext, key: string, i: number): ProblemSpec {
  const [nFeatures, hidden, bs] = RANDOM_MLP_CONFIGS[i];
  const dataset: DatasetSpec = {
    kind: "random_mlp",
    nFeatures,
    nSamples: 1000,
    seed: c.dataSeed(`${key}/data`),
  };
  return spec(
    "fully_connected",
    { nFeatures, nClasses: 2, hiddenSizes: [...hidden], activation: "sigmoid", dataset, batchSize: bs },
    c.seed(key),
  );
}

/** (ndim, nSamples, batch size) of the dependency-chain and outward-snake groups. */
const BINARY_DATA_CONFIGS: ReadonlyArray<readonly [number, number, number]> = [
  [20, 1000, 100],
  [12, 200, 10],
  [56, 5000, 100],
  [64, 1000, 50],
  [13, 10000, 50],
  [20, 1000, 128],
  [12, 300, 16],
  [56, 5000, 128],
  [64, 1000, 64],
  [13, 10000, 32],
];

/** (ndim, nSamples, batch size) of the sum-of-quadratics and projection-quadratic groups. */
const SYMMETRIC_DATA_CONFIGS: ReadonlyArray<readonly [number, number, number]> = [
  [20, 1000, 100],
  [12, 100, 10],
  [56, 5000, 100],
  [64, 1000, 50],
  [13, 10000, 50],
  [20, 1000, 128],
  [12, 100, 16],
  [56, 5000, 128],
  [64, 1000, 64],
  [13, 10000, 32],
];

// ---------------------------------------------------------------------------------------------------------
// groups (§9.2)

type GroupFn = (c: GroupContext) => EnsembleEntry[];

function sparseSoftmaxGroup(group: GroupName, family: string): GroupFn {
  return (c) => {
    const key = `${group}/0`;
    const dataset: DatasetSpec = {
      kind: "noisy_parity_class",
      nSamples: 5,
      seed: c.dataSeed(`${key}/data`, 123),
    };
    return [entry(group, spec(family, { nFeatures: 5, nClasses: 2, dataset, batchSize: 23 }, c.seed(key)))];
  };
}

function softmaxGroup(group: GroupName, noises: number[]): GroupFn {
  const cfg: Array<[number, number, number]> = [[10, 2.0, 100], [100, 1.0, 50], [200, 1.5, 20], [
    256,
    1.5,
    100,
  ]];
  return (c) =>
    cfg.map(([d, sep, bs], i) => {
      const key = `${group}/${i}`;
      const dataset: DatasetSpec = {
        kind: "random",
        nFeatures: d,
        nSamples: 1000,
        nClasses: 2,
        sep,
        seed: c.dataSeed(`${key}/data`, 123),
      };
      return entry(
        group,
        spec(
          "softmax_regression",
          { nFeatures: d, nClasses: 2, dataset, batchSize: bs, ...noise(noises[i]) },
          c.seed(key),
        ),
      );
    });
}

function dataGroup(
  group: GroupName,
  family: string,
  kind: "random_binary" | "random_symmetric",
  configs: ReadonlyArray<readonly [number, number, number]>,
): GroupFn {
  return (c) =>
    configs.map(([ndim, nSamples, bs], i) => {
      const key = `${group}/${i}`;
      const dataset: DatasetSpec = { kind, nFeatures: ndim, nSamples, seed: c.dataSeed(`${key}/data`) };
      return entry(group, spec(family, { ndim, dataset, batchSize: bs }, c.seed(key)));
    });
}

/** Every group of §9.2 by name. */
export const GROUPS: Readonly<Record<GroupName, GroupFn>> = {
  sparse_softmax_2_class_sparse_problems: sparseSoftmaxGroup(
    "sparse_softmax_2_class_sparse_problems",
    "sparse_softmax_regression",
  ),
  one_hot_sparse_softmax_2_class_sparse_problems: sparseSoftmaxGroup(
    "one_hot_sparse_softmax_2_class_sparse_problems",
    "one_hot_sparse_softmax_regression",
  ),
  quadratic_problems: (c) =>
    [20, 25, 50, 100].map((d, i) => entry("quadratic_problems", quad(c, `quadratic_problems/${i}`, d))),
  quadratic_problems_noisy: (c) =>
    ([[20, 0.5], [25, 0.0], [50, 1.0], [100, 2.0]] as const).map(([d, n], i) =>
      entry("quadratic_problems_noisy", quad(c, `quadratic_problems_noisy/${i}`, d, n))
    ),
  quadratic_problems_large: (c) =>
    [784, 1024, 2048].map((d, i) =>
      entry("quadratic_problems_large", quad(c, `quadratic_problems_large/${i}`, d))
    ),
  bowl_problems: (c) =>
    ([[0.1, 0], [1.0, 0], [5.0, 0], [5.0, Math.PI / 4]] as const).map(([cond, a], i) =>
      entry("bowl_problems", bowl(c, `bowl_problems/${i}`, cond, a))
    ),
  bowl_problems_noisy: (c) =>
    ([[0.1, 0], [1.0, 0], [5.0, 0], [5.0, Math.PI / 4]] as const).map(([cond, a], i) =>
      entry("bowl_problems_noisy", bowl(c, `bowl_problems_noisy/${i}`, cond, a, 0.1))
    ),
  softmax_2_class_problems: softmaxGroup("softmax_2_class_problems", [0, 0, 0, 0]),
  softmax_2_class_problems_noisy: softmaxGroup("softmax_2_class_problems_noisy", [0.5, 0.1, 0.1, 0.5]),
  optimization_test_problems: (c) =>
    TEST_FUNCTION_FAMILIES.map((f, i) =>
      entry("optimization_test_problems", spec(f, {}, c.seed(`optimization_test_problems/${i}`)))
    ),
  optimization_test_problems_noisy: (c) =>
    TEST_FUNCTION_FAMILIES.map((f, i) =>
      entry(
        "optimization_test_problems_noisy",
        spec(f, { noiseStdev: 1.0 }, c.seed(`optimization_test_problems_noisy/${i}`)),
      )
    ),
  fully_connected_random_2_class_problems: (c) =>
    RANDOM_MLP_CONFIGS.map((_, i) =>
      entry(
        "fully_connected_random_2_class_problems",
        randomMlpSpec(c, `fully_connected_random_2_class_problems/${i}`, i),
      )
    ),
  matmul_problems: (c) => {
    const ks: Array<[number, number]> = [];
    for (let k = 5; k <= 8; k++) ks.push([2, k]);
    for (let k = 19; k <= 24; k++) ks.push([3, k]);
    return ks.map(([n, k], i) =>
      entry("matmul_problems", spec("matmul_algorithm", { n, k }, c.seed(`matmul_problems/${i}`)))
    );
  },
  log_objective_problems: (c) => {
    const g = "log_objective_problems";
    const inner = [
      ...[20, 50, 100].map((d, i) => quad(c, `${g}/${i}/inner`, d)),
      ...[0.1, 1.0, 5.0].map((cond, i) => bowl(c, `${g}/${i + 3}/inner`, cond)),
    ];
    return inner.map((s, i) =>
      entry(g, spec("log_objective", { inner: s, faithfulNoise: c.faithfulNoise }, c.seed(`${g}/${i}`)))
    );
  },
  rescale_problems: (c) => {
    const g = "rescale_problems";
    const inner: Array<[(key: string) => ProblemSpec, number]> = [
      [(k) => norm(c, k, 18, 2.5), 0.123],
      [(k) => norm(c, k, 18, 1.5), 8],
      [(k) => norm(c, k, 18, 2), 50],
      [(k) => norm(c, k, 18, 3), 200],
      [(k) => norm(c, k, 18, 1), 1000],
      [(k) => quad(c, k, 20), 0.1],
      [(k) => quad(c, k, 25), 10],
      [(k) => quad(c, k, 50), 350],
      [(k) => quad(c, k, 100), 132],
    ];
    return inner.map(([mk, scale], i) =>
      entry(
        g,
        spec(
          "rescale",
          { inner: mk(`${g}/${i}/inner`), scale, faithfulNoise: c.faithfulNoise },
          c.seed(`${g}/${i}`),
        ),
      )
    );
  },
  norm_problems: (c) =>
    ([[27, 1], [25, 2], [22, 3]] as const).map(([d, p], i) =>
      entry("norm_problems", norm(c, `norm_problems/${i}`, d, p))
    ),
  norm_problems_noisy: (c) =>
    ([[19, 1], [26, 2], [23, 3]] as const).map(([d, p], i) =>
      entry("norm_problems_noisy", norm(c, `norm_problems_noisy/${i}`, d, p, 0.1))
    ),
  sum_problems: (c) => {
    const g = "sum_problems";
    const fn = (f: string) => (k: string) => spec(f, {}, c.seed(k));
    const q = (d: number) => (k: string) => quad(c, k, d);
    const listC = SUM_LIST_C.map(fn);
    const lists: Array<Array<(k: string) => ProblemSpec>> = [
      [11, 3, 9, 7, 5, 13, 12].map(q),
      [(k) => norm(c, k, 18, 3), q(25), fn("rosenbrock")],
      listC,
      [...listC, q(5), q(13)],
      [q(11), q(3)],
      [fn("rosenbrock"), fn("log_sum_exp"), fn("ackley")],
    ];
    return lists.map((l, i) => sumEntry(c, g, i, l));
  },
  sum_problems_noisy: (c) => {
    const g = "sum_problems_noisy";
    const fn = (f: string) => (k: string) => spec(f, {}, c.seed(k));
    const q = (d: number, n = 0) => (k: string) => quad(c, k, d, n);
    const lists: Array<Array<(k: string) => ProblemSpec>> = [
      [11, 3, 9, 7, 5, 13, 12].map((d) => q(d, 0.1)),
      [...SUM_LIST_C.map(fn), q(5), q(13, 0.5)],
    ];
    return lists.map((l, i) => sumEntry(c, g, i, l));
  },
  sparse_gradient_problems: (c) => {
    const g = "sparse_gradient_problems";
    const inner = [
      ...[20, 50, 100].map((d, i) => quad(c, `${g}/${i}/inner`, d)),
      ...[0.1, 1.0, 5.0].map((cond, i) => bowl(c, `${g}/${i + 3}/inner`, cond)),
    ];
    return inner.map((s, i) => entry(g, sparseSpec(c, s, `${g}/${i}`)));
  },
  sparse_gradient_problems_mlp: (c) => {
    const g = "sparse_gradient_problems_mlp";
    return [0, 1, 2].map((i) => {
      const s = sparseSpec(c, randomMlpSpec(c, `${g}/${i}/inner`, i), `${g}/${i}`);
      return { spec: s, batchSize: RANDOM_MLP_CONFIGS[i][2], group: g };
    });
  },
  min_max_well_problems: (c) =>
    [20, 12, 56, 64, 13].map((d, i) =>
      entry("min_max_well_problems", spec("min_max_well", { ndim: d }, c.seed(`min_max_well_problems/${i}`)))
    ),
  sum_of_quadratics_problems: dataGroup(
    "sum_of_quadratics_problems",
    "sum_of_quadratics",
    "random_symmetric",
    SYMMETRIC_DATA_CONFIGS,
  ),
  projection_quadratic_problems: dataGroup(
    "projection_quadratic_problems",
    "projection_quadratic",
    "random_symmetric",
    SYMMETRIC_DATA_CONFIGS,
  ),
  outward_snake_problems: dataGroup(
    "outward_snake_problems",
    "outward_snake",
    "random_binary",
    BINARY_DATA_CONFIGS,
  ),
  dependency_chain_problems: dataGroup(
    "dependency_chain_problems",
    "dependency_chain",
    "random_binary",
    BINARY_DATA_CONFIGS,
  ),
};

function sumEntry(
  c: GroupContext,
  g: GroupName,
  i: number,
  list: Array<(k: string) => ProblemSpec>,
): EnsembleEntry {
  const problems = list.map((mk, j) => mk(`${g}/${i}/p${j}`));
  return entry(g, spec("sum_task", { problems, faithfulNoise: c.faithfulNoise }, c.seed(`${g}/${i}`)));
}

function sparseSpec(c: GroupContext, inner: ProblemSpec, key: string): ProblemSpec {
  return spec(
    "sparse_problem",
    { inner, zeroProbability: 0.99, faithfulNoise: c.faithfulNoise },
    c.seed(key),
  );
}

/** Whether `group` is on under `include` (defaults {@link PAPER_INCLUDE}; the sparse-MLP rule of §9.3). */
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

/** Every seed inside a spec (own, nested, datasets), for disjointness checks. */
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
