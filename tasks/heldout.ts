/**
 * The held-out (test-split) problem set: fresh instances of the meta-training families with test-split seeds,
 * plus the reference's evaluation problems of §10 (`problem_sets.test_problems`).
 *
 * Fresh instances: the ensemble's entries are grouped by top-level family; for each family `perFamily`
 * entries are picked (spread over that family's entries, cycling when it has fewer) and every seed in them
 * (problem, nested specs, datasets) is replaced by a test-split seed, which lies in [2³⁰, 2³¹) and so never
 * equals a train-split seed. The §10 problems keep the reference's seeds (problem 1234, data 1234, init 5678).
 * MNIST-backed entries carry the dataset spec `{kind: "mnist", split: "train"}`, which `buildProblem` resolves
 * only through a `resolveDataset` hook (see `tasks/data/`).
 *
 * @module
 */
import type { ProblemSpec } from "./problem.ts";
import { ensemble, type EnsembleOptions, reseed } from "./ensemble.ts";
import type { EnsembleEntry, GroupName } from "./ensemble_groups.ts";
import { splitSeed } from "./ensemble_seeds.ts";
import { type DatasetSpec, isSyntheticDataset } from "./datasets.ts";

/** A held-out problem. */
export interface HeldoutEntry {
  /** Unique name: `<family>#<instance>` for fresh instances, the reference's name for §10 problems. */
  name: string;
  spec: ProblemSpec;
  /** Minibatch size, null for data-free problems. */
  batchSize: number | null;
  /** The ensemble group the instance was drawn from, or `test_problems` for §10. */
  group: GroupName | "test_problems";
  /** Seed for `problem.init(new Rng(initSeed))`, so evaluation starts from a fixed point. */
  initSeed: number;
  /** True when the dataset is not synthetic (needs a resolver, e.g. MNIST). */
  externalData: boolean;
}

/** Options of {@link heldoutSet}. */
export interface HeldoutOptions {
  /** Fresh instances per family (default 2). */
  perFamily?: number;
  /** Which ensemble groups to draw families from (the ensemble's own options; split is forced to test). */
  ensemble?: Omit<EnsembleOptions, "split">;
  /** Include the §10 evaluation problems (default true). */
  testProblems?: boolean;
  /** Include the MNIST-backed §10 problems (default true; they need a dataset resolver to build). */
  mnist?: boolean;
  /** Base seed mixed into fresh instances' seeds (default 0). */
  seed?: number;
}

/**
 * Whether any dataset inside the spec (nested too) is not synthetic.
 *
 * @example
 * ```ts
 * needsExternalData({ family: "conv_net", params: { dataset: { kind: "mnist", split: "train" } }, seed: 0 }); // true
 * needsExternalData({ family: "quadratic", params: { ndim: 20 }, seed: 0 }); // false
 * ```
 */
export function needsExternalData(spec: ProblemSpec): boolean {
  const p = spec.params;
  const ds = p.dataset as DatasetSpec | undefined;
  if (ds && typeof ds === "object" && !isSyntheticDataset(ds)) return true;
  if (p.inner && typeof p.inner === "object" && needsExternalData(p.inner as ProblemSpec)) return true;
  return Array.isArray(p.problems) && (p.problems as ProblemSpec[]).some(needsExternalData);
}

/**
 * Fresh test-split instances of each family of the ensemble; see the module doc.
 *
 * @example
 * ```ts
 * const fresh = freshInstances({ perFamily: 1, seed: 0 });
 * console.log(fresh[0].name); // e.g. "quadratic#0"
 * ```
 */
export function freshInstances(options: HeldoutOptions = {}): HeldoutEntry[] {
  return freshOf("test", "heldout", options);
}

/**
 * The validation split: fresh instances of the training ensemble's families with train-split seeds of their
 * own (`valid|…` keys, so never the ensemble entries' seeds), picked as {@link freshInstances} picks held-out
 * ones. Meta-training hyperparameters are chosen on these, never on the held-out set.
 *
 * @example
 * ```ts
 * const valid = validationInstances({ perFamily: 1 });
 * console.log(valid[0].name); // e.g. "sparse_problem#0"
 * ```
 */
export function validationInstances(options: HeldoutOptions = {}): HeldoutEntry[] {
  return freshOf("train", "valid", options);
}

function freshOf(split: "train" | "test", key: string, options: HeldoutOptions): HeldoutEntry[] {
  const per = options.perFamily ?? 2;
  if (!Number.isInteger(per) || per < 0) throw new Error(`${key} set: perFamily must be an integer >= 0`);
  const base = options.seed ?? 0;
  const entries = ensemble({ ...options.ensemble, split });
  const byFamily = new Map<string, EnsembleEntry[]>();
  for (const e of entries) {
    const list = byFamily.get(e.spec.family) ?? [];
    list.push(e);
    byFamily.set(e.spec.family, list);
  }
  const out: HeldoutEntry[] = [];
  for (const [family, list] of byFamily) {
    for (let r = 0; r < per; r++) {
      const src = list[Math.floor((r * list.length) / per) % list.length];
      const name = `${family}#${r}`;
      const spec = reseed(src.spec, (path) => splitSeed(split, `${key}|${name}|${path}`, base));
      out.push({
        name,
        spec,
        batchSize: src.batchSize,
        group: src.group,
        initSeed: splitSeed(split, `${key}|${name}|init`, base),
        externalData: false,
      });
    }
  }
  return out;
}

const PROBLEM_SEED = 1234;
const INIT_SEED = 5678;

/**
 * The reference's evaluation problems (§10), including the MNIST ones unless `mnist` is false.
 *
 * @example
 * ```ts
 * const syntheticOnly = testProblems(false);
 * console.log(syntheticOnly.map((e) => e.name)); // ["quad_problem", "quad_problem_noise", ...]
 * ```
 */
export function testProblems(mnist = true): HeldoutEntry[] {
  const t = (name: string, spec: ProblemSpec, batchSize: number | null): HeldoutEntry => ({
    name,
    spec,
    batchSize,
    group: "test_problems",
    initSeed: INIT_SEED,
    externalData: needsExternalData(spec),
  });
  const random = (nFeatures: number, nClasses = 2) => ({
    kind: "random",
    nFeatures,
    nSamples: 10000,
    nClasses,
    seed: PROBLEM_SEED,
  });
  const mnistData = { kind: "mnist", split: "train" };
  const out: HeldoutEntry[] = [
    t("quad_problem", { family: "quadratic", params: { ndim: 20 }, seed: PROBLEM_SEED }, null),
    t("quad_problem_noise", {
      family: "quadratic",
      params: { ndim: 20, noiseStdev: 1.0 },
      seed: PROBLEM_SEED,
    }, null),
    t("rosenbrock", { family: "rosenbrock", params: {}, seed: PROBLEM_SEED }, null),
    t("rosenbrock_noise", { family: "rosenbrock", params: { noiseStdev: 1.0 }, seed: PROBLEM_SEED }, null),
    t("softmax", {
      family: "softmax_regression",
      params: { nFeatures: 10, nClasses: 2, dataset: random(10), batchSize: 100 },
      seed: PROBLEM_SEED,
    }, 100),
    t("softmax_noise", {
      family: "softmax_regression",
      params: { nFeatures: 10, nClasses: 2, dataset: random(10), batchSize: 100, noiseStdev: 1.0 },
      seed: PROBLEM_SEED,
    }, 100),
    t("mlp_small", {
      family: "fully_connected",
      params: {
        nFeatures: 10,
        nClasses: 2,
        hiddenSizes: [32, 64],
        activation: "sigmoid",
        init: "he",
        dataset: random(10),
        batchSize: 100,
      },
      seed: PROBLEM_SEED,
    }, 100),
    t("mlp_large", {
      family: "fully_connected",
      params: {
        nFeatures: 20,
        nClasses: 10,
        hiddenSizes: [32, 64],
        activation: "sigmoid",
        init: "he",
        dataset: random(20, 10),
        batchSize: 100,
      },
      seed: PROBLEM_SEED,
    }, 100),
  ];
  if (mnist) {
    for (const act of ["sigmoid", "relu"]) {
      out.push(t(`mlp_mnist_${act}`, {
        family: "fully_connected",
        params: {
          nFeatures: 784,
          nClasses: 10,
          hiddenSizes: [64],
          activation: act,
          init: "he",
          dataset: mnistData,
          batchSize: 64,
        },
        seed: PROBLEM_SEED,
      }, 64));
    }
    for (const act of ["sigmoid", "relu"]) {
      out.push(t(`convnet_mnist_${act}`, {
        family: "conv_net",
        params: {
          imageShape: [1, 28, 28],
          nClasses: 10,
          filters: [[3, 3, 8], [5, 5, 8]],
          activation: act,
          dataset: mnistData,
          batchSize: 64,
        },
        seed: PROBLEM_SEED,
      }, 64));
    }
  }
  return out;
}

/**
 * The held-out set: {@link freshInstances} followed by the §10 {@link testProblems}.
 *
 * @example
 * ```ts
 * const entries = heldoutSet({ perFamily: 2, mnist: false });
 * const problem = buildProblem(entries[0].spec);
 * ```
 */
export function heldoutSet(options: HeldoutOptions = {}): HeldoutEntry[] {
  const out = freshInstances(options);
  if (options.testProblems ?? true) out.push(...testProblems(options.mnist ?? true));
  return out;
}
