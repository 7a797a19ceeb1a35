/**
 * The groups of the meta-training problem set (§9.2): each is a function of a {@link GroupContext} returning
 * its {@link EnsembleEntry} items, with seeds named by the context.
 *
 * @example
 * ```ts
 * import { GROUPS } from "./ensemble_groups.ts";
 * import { groupContext } from "./ensemble_seeds.ts";
 * const entries = GROUPS.quadratic_problems(groupContext("train", 0));
 * ```
 *
 * @module
 */
import type { ProblemSpec } from "./problem.ts";
import type { DatasetSpec } from "./datasets.ts";
import type { GroupContext } from "./ensemble_seeds.ts";
import {
  BINARY_DATA_CONFIGS,
  MULTICLASS_CONV_CONFIGS,
  MULTICLASS_MLP_CONFIGS,
  RANDOM_MLP_CONFIGS,
  SUM_LIST_C,
  SYMMETRIC_DATA_CONFIGS,
  TEST_FUNCTION_FAMILIES,
} from "./ensemble_configs.ts";

/**
 * One problem of a set: its spec, the minibatch size (null: data-free), and the group it came from.
 *
 * @example
 * ```ts
 * const e: EnsembleEntry = { spec, batchSize: null, group: "quadratic_problems" };
 * ```
 */
export interface EnsembleEntry {
  spec: ProblemSpec;
  /** Mirrors `spec.params.batchSize` for data-backed problems; null for data-free ones. */
  batchSize: number | null;
  group: GroupName;
}

/**
 * All problem-set groups of the paper's code (design §9.2), in the paper's assembly order (design §9.3).
 *
 * @example
 * ```ts
 * GROUP_NAMES.length; // the number of §9.2 groups
 * ```
 */
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
  "multiclass_minibatch_problems",
] as const;
/**
 * One of {@link GROUP_NAMES}.
 *
 * @example
 * ```ts
 * const g: GroupName = "quadratic_problems";
 * ```
 */
export type GroupName = typeof GROUP_NAMES[number];

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

function multiclassGroup(c: GroupContext): EnsembleEntry[] {
  const g = "multiclass_minibatch_problems";
  const data = (key: string, nFeatures: number, nClasses: number): DatasetSpec => ({
    kind: "random",
    nFeatures,
    nSamples: 2000,
    nClasses,
    seed: c.dataSeed(`${key}/data`),
  });
  const mlps = MULTICLASS_MLP_CONFIGS.map(([nFeatures, hidden, nClasses, batchSize], i) => {
    const key = `${g}/${i}`;
    const params = {
      nFeatures,
      nClasses,
      hiddenSizes: [...hidden],
      activation: "relu",
      init: "he",
      dataset: data(key, nFeatures, nClasses),
      batchSize,
    };
    return entry(g, spec("fully_connected", params, c.seed(key)));
  });
  const convs = MULTICLASS_CONV_CONFIGS.map(([side, filters, batchSize], j) => {
    const key = `${g}/${mlps.length + j}`;
    const params = {
      imageShape: [1, side, side],
      nClasses: 10,
      filters: filters.map((f) => [...f]),
      activation: "relu",
      dataset: data(key, side * side, 10),
      batchSize,
    };
    return entry(g, spec("conv_net", params, c.seed(key)));
  });
  return [...mlps, ...convs];
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

/**
 * Every group of §9.2 by name.
 *
 * @example
 * ```ts
 * const entries = GROUPS.quadratic_problems(groupContext("train", 0));
 * ```
 */
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
  multiclass_minibatch_problems: multiclassGroup,
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
