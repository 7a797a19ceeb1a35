/**
 * The configuration tables of the meta-training groups (§9.2): the 2-D test-function families, the sum
 * group's list, the (sizes, batch size) rows of the random-MLP and data-backed groups, and the rows of this
 * project's multiclass minibatch group.
 *
 * @example
 * ```ts
 * import { RANDOM_MLP_CONFIGS, TEST_FUNCTION_FAMILIES } from "./ensemble_configs.ts";
 * TEST_FUNCTION_FAMILIES.length; // 9
 * RANDOM_MLP_CONFIGS[0]; // [8, [8, 5], 10]
 * ```
 *
 * @module
 */

/**
 * The nine 2-D test-function families in the reference's order.
 *
 * @example
 * ```ts
 * TEST_FUNCTION_FAMILIES.includes("rosenbrock"); // true
 * ```
 */
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

/**
 * The sum group's list (c): Rosenbrock first, then the others of §9.2 in its order.
 *
 * @example
 * ```ts
 * SUM_LIST_C[0]; // "rosenbrock"
 * ```
 */
export const SUM_LIST_C = [
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

/**
 * The 12 random-MLP configurations (nFeatures, hidden sizes, batch size) of §9.2.
 *
 * @example
 * ```ts
 * const [nFeatures, hidden, batchSize] = RANDOM_MLP_CONFIGS[0]; // 8, [8, 5], 10
 * ```
 */
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

/**
 * (ndim, nSamples, batch size) of the dependency-chain and outward-snake groups.
 *
 * @example
 * ```ts
 * const [ndim, nSamples, batchSize] = BINARY_DATA_CONFIGS[0]; // 20, 1000, 100
 * ```
 */
export const BINARY_DATA_CONFIGS: ReadonlyArray<readonly [number, number, number]> = [
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

/**
 * (ndim, nSamples, batch size) of the sum-of-quadratics and projection-quadratic groups.
 *
 * @example
 * ```ts
 * const [ndim, nSamples, batchSize] = SYMMETRIC_DATA_CONFIGS[1]; // 12, 100, 10
 * ```
 */
export const SYMMETRIC_DATA_CONFIGS: ReadonlyArray<readonly [number, number, number]> = [
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

/**
 * (nFeatures, hidden sizes, nClasses, batch size) of the multiclass minibatch group's ReLU MLPs: 5- and
 * 10-class minibatched problems of 500-2,000 parameters, the regime of the evaluation's ConvNets and MLPs that
 * the §9.2 groups (2-class, mostly full-batch or with Gaussian noise) do not cover.
 *
 * @example
 * ```ts
 * const [nFeatures, hidden, nClasses, batchSize] = MULTICLASS_MLP_CONFIGS[0]; // 16, [32], 10, 32
 * ```
 */
export const MULTICLASS_MLP_CONFIGS: ReadonlyArray<readonly [number, readonly number[], number, number]> = [
  [16, [32], 10, 32],
  [20, [24, 16], 10, 16],
  [32, [32], 10, 64],
  [12, [16, 16], 5, 32],
  [24, [48], 10, 128],
];

/**
 * (image side, filters [kh, kw, out], batch size) of the multiclass minibatch group's 10-class ConvNets on
 * single-channel synthetic images.
 *
 * @example
 * ```ts
 * const [side, filters, batchSize] = MULTICLASS_CONV_CONFIGS[0]; // 6, [[3, 3, 4]], 32
 * ```
 */
export const MULTICLASS_CONV_CONFIGS: ReadonlyArray<
  readonly [number, ReadonlyArray<readonly number[]>, number]
> = [
  [6, [[3, 3, 4]], 32],
  [6, [[3, 3, 2], [3, 3, 4]], 64],
  [5, [[3, 3, 4], [3, 3, 4]], 16],
];
