/**
 * The problem registry: {@link buildProblem} turns a JSON {@link ProblemSpec} into a {@link Problem} by
 * dispatching on `spec.family`. Family names are snake_case versions of the reference's class names.
 *
 * @module
 */
import type { Problem, ProblemSpec } from "./problem.ts";
import type { BuildContext, FamilyBuilder } from "./base.ts";
import type { DatasetResolver } from "./datasets.ts";
import { isProblemSpec, ProblemSpecError } from "./params.ts";
import {
  batchedBowl,
  batchedNorm,
  batchedQuadratic,
  buildBowl,
  buildNorm,
  buildQuadratic,
} from "./families/quadratic.ts";
import {
  type BatchContext,
  type BatchedBuilder,
  type BatchedProblem,
  batchInstances,
  stackInstances,
} from "./batched.ts";
import {
  buildAckley,
  buildBeale,
  buildBooth,
  buildBranin,
  buildLogSumExp,
  buildMatyas,
  buildMichalewicz,
  buildRosenbrock,
  buildStyblinskiTang,
} from "./families/test_functions.ts";
import { batchedMatMulAlgorithm, buildMatMulAlgorithm } from "./families/matmul.ts";
import { batchedFullyConnected, batchedSoftmaxRegression } from "./families/classifiers_batched.ts";
import {
  buildConvNet,
  buildFullyConnected,
  buildOneHotSparseSoftmaxRegression,
  buildSoftmaxRegression,
  buildSparseSoftmaxRegression,
} from "./families/classifiers.ts";
import {
  buildDependencyChain,
  buildMinMaxWell,
  buildOutwardSnake,
  buildProjectionQuadratic,
  buildSumOfQuadratics,
} from "./families/disabled.ts";
import {
  batchedLogObjective,
  batchedRescale,
  batchedSparseProblem,
  batchedSumTask,
  buildLogObjective,
  buildRescale,
  buildSparseProblem,
  buildSumTask,
} from "./wrappers.ts";

const FAMILIES: Record<string, FamilyBuilder> = {
  quadratic: buildQuadratic,
  bowl: buildBowl,
  norm: buildNorm,
  rosenbrock: buildRosenbrock,
  log_sum_exp: buildLogSumExp,
  ackley: buildAckley,
  beale: buildBeale,
  booth: buildBooth,
  styblinski_tang: buildStyblinskiTang,
  matyas: buildMatyas,
  branin: buildBranin,
  michalewicz: buildMichalewicz,
  matmul_algorithm: buildMatMulAlgorithm,
  softmax_regression: buildSoftmaxRegression,
  sparse_softmax_regression: buildSparseSoftmaxRegression,
  one_hot_sparse_softmax_regression: buildOneHotSparseSoftmaxRegression,
  fully_connected: buildFullyConnected,
  conv_net: buildConvNet,
  dependency_chain: buildDependencyChain,
  min_max_well: buildMinMaxWell,
  outward_snake: buildOutwardSnake,
  projection_quadratic: buildProjectionQuadratic,
  sum_of_quadratics: buildSumOfQuadratics,
  rescale: buildRescale,
  sum_task: buildSumTask,
  log_objective: buildLogObjective,
  sparse_problem: buildSparseProblem,
};

/** Families that wrap other specs (`inner` or `problems` params). */
export const WRAPPER_FAMILIES: readonly string[] = ["rescale", "sum_task", "log_objective", "sparse_problem"];

/**
 * Names of every registered family, in registry order.
 *
 * @example
 * ```ts
 * console.log(familyNames().includes("rosenbrock")); // true
 * ```
 */
export function familyNames(): string[] {
  return Object.keys(FAMILIES);
}

/** Options of {@link buildProblem}. */
export interface BuildOptions {
  /** Resolves dataset kinds that are not synthetic (e.g. `{kind: "mnist"}`), typically from `tasks/data/`. */
  resolveDataset?: DatasetResolver;
}

/**
 * Builds the problem described by `spec`. Throws a {@link ProblemSpecError} naming the family (and param) for an
 * unknown family, a malformed spec or invalid params. The same spec always gives the same fixed data.
 *
 * @example
 * ```ts
 * const problem = buildProblem({ family: "quadratic", params: { ndim: 10 }, seed: 3 });
 * const loss = problem.fullObjective(problem.init(new Rng(0)));
 * ```
 */
export function buildProblem(spec: ProblemSpec, options: BuildOptions = {}): Problem {
  const ctx: BuildContext = {
    build: (s) => buildProblem(s, options),
    resolveDataset: options.resolveDataset,
  };
  if (!isProblemSpec(spec)) {
    const fam = typeof (spec as { family?: unknown })?.family === "string"
      ? (spec as ProblemSpec).family
      : "?";
    throw new ProblemSpecError(fam, `malformed spec ${JSON.stringify(spec)}: need {family, params, seed}`);
  }
  const builder = Object.hasOwn(FAMILIES, spec.family) ? FAMILIES[spec.family] : undefined;
  if (!builder) {
    throw new ProblemSpecError(spec.family, `unknown family; known families: ${familyNames().join(", ")}`);
  }
  return builder(spec, ctx);
}

/** Families with a vectorized batched implementation (see `batched.ts`); the others stack instances. */
const VECTORIZED: Record<string, BatchedBuilder> = {
  quadratic: batchedQuadratic,
  bowl: batchedBowl,
  norm: batchedNorm,
  softmax_regression: batchedSoftmaxRegression,
  fully_connected: batchedFullyConnected,
  rosenbrock: buildRosenbrock.batched,
  log_sum_exp: buildLogSumExp.batched,
  ackley: buildAckley.batched,
  beale: buildBeale.batched,
  booth: buildBooth.batched,
  styblinski_tang: buildStyblinskiTang.batched,
  matyas: buildMatyas.batched,
  branin: buildBranin.batched,
  michalewicz: buildMichalewicz.batched,
  matmul_algorithm: batchedMatMulAlgorithm,
  rescale: batchedRescale,
  log_objective: batchedLogObjective,
  sparse_problem: batchedSparseProblem,
  sum_task: batchedSumTask,
};

/**
 * Whether `family` has a vectorized batched implementation (wrappers: when their inner family has one).
 *
 * @example
 * ```ts
 * isVectorized("quadratic"); // true
 * isVectorized("conv_net"); // false
 * ```
 */
export function isVectorized(family: string): boolean {
  return Object.hasOwn(VECTORIZED, family);
}

/**
 * Builds `size` independent instances of `spec` (instance 0 is `spec` itself, see `instanceSpec`) as one
 * {@link BatchedProblem}: vectorized for the families that have it, else evaluated one after the other.
 *
 * @example
 * ```ts
 * const bp = buildBatched({ family: "quadratic", params: { ndim: 10 }, seed: 3 }, 4);
 * console.log(bp.size, bp.vectorized); // 4 true
 * bp.dispose();
 * ```
 */
export function buildBatched(spec: ProblemSpec, size: number, options: BuildOptions = {}): BatchedProblem {
  return batchInstances(spec, size, batchContext(options));
}

/** The {@link BatchContext} of `buildBatched`: each family's vectorized builder, else stacked instances. */
function batchContext(options: BuildOptions): BatchContext {
  const ctx: BatchContext = {
    build: (s) => buildProblem(s, options),
    batch: (specs) => {
      const family = specs[0].family;
      const vectorized = Object.hasOwn(VECTORIZED, family) ? VECTORIZED[family] : undefined;
      return vectorized && specs.length > 1 ? vectorized(specs, ctx) : stackInstances(specs.map(ctx.build));
    },
  };
  return ctx;
}
