/**
 * Shared machinery for problem families: the {@link makeProblem} assembler (batching, full-dataset objective,
 * autodiff gradients with per-step noise), gradient noise and sparsity masks, and init helpers.
 *
 * Gradient noise follows the paper's code (design §8.1): exact gradient + noise_stdev·N(0,1), element-wise, fresh at each
 * call, drawn from the caller's {@link Rng} and entering the graph as a constant, so second derivatives through
 * `gradients` are those of the exact gradient.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../lib/rng.ts";
import type { Batch, Problem, ProblemSpec } from "./problem.ts";
import {
  BatchIndexer,
  type Dataset,
  type DatasetResolver,
  type DatasetSpec,
  isSyntheticDataset,
  loadDataset,
} from "./datasets.ts";
import type { ParamReader } from "./params.ts";

/** What family builders receive besides the spec: the registry's builder (for wrappers) and the dataset hook. */
export interface BuildContext {
  /** Builds a nested spec (wrappers). */
  build(spec: ProblemSpec): Problem;
  /** Resolves non-synthetic dataset kinds such as `{kind: "mnist"}`. */
  resolveDataset?: DatasetResolver;
}

/** A problem's data: dataset tensors, minibatch size, and whether the problem owns (disposes) them. */
export interface ProblemData {
  dataset: Dataset;
  batchSize: number;
  owned: boolean;
}

/**
 * Reads the `dataset` (a JSON {@link DatasetSpec}) and `batchSize` params (default: the whole dataset) and loads
 * the data. Synthetic datasets are owned by the problem; resolver-provided ones belong to the resolver.
 *
 * @example
 * ```ts
 * const { dataset, batchSize, owned } = readData(new ParamReader(spec.family, spec.params), ctx);
 * ```
 */
export function readData(p: ParamReader, ctx: BuildContext): ProblemData {
  const raw = p.object("dataset");
  const kind = raw.kind;
  if (typeof kind !== "string") p.fail("dataset", "must have a string 'kind'");
  const dsSpec: DatasetSpec = { ...raw, kind };
  const hasBs = p.has("batchSize");
  const bs = hasBs ? p.int("batchSize", undefined, { min: 0 }) : -1;
  let dataset: Dataset;
  try {
    dataset = loadDataset(dsSpec, ctx.resolveDataset);
  } catch (e) {
    p.fail("dataset", `could not be loaded: ${(e as Error).message}`);
  }
  return { dataset, batchSize: bs < 0 ? dataset.size : bs, owned: isSyntheticDataset(dsSpec) };
}

/** What a family supplies to {@link makeProblem}. */
export interface ProblemDef {
  spec: ProblemSpec;
  paramNames: string[];
  paramShapes: number[][];
  /** Per-step gradient noise std (0: exact gradient). */
  noiseStdev: number;
  /** Fresh initial parameters. */
  init(rng: Rng): tf.Tensor[];
  /**
   * Objective on a batch. For problems with a dataset the batch is never null (null from the caller means the
   * full dataset); data-free problems get null.
   */
  objective(params: tf.Tensor[], batch: Batch | null): tf.Scalar;
  /** The problem's dataset and minibatch size, if it has data; `owned`: dispose the dataset with the problem. */
  data?: ProblemData;
  /**
   * True when the objective is a mean over the batch's rows plus a data-independent term (the classifiers).
   * The full-dataset objective is then evaluated in chunks of {@link FULL_OBJECTIVE_CHUNK} rows and averaged
   * with weights proportional to chunk size, which equals the one-pass value but bounds memory (60k MNIST
   * images through a ConvNet in one pass exceed the 4 GiB wasm heap).
   */
  meanOverRows?: boolean;
  /** Custom gradients (wrappers); default: autodiff of `objective` plus own noise. */
  gradients?(params: tf.Tensor[], batch: Batch | null, rng: Rng): { loss: tf.Scalar; grads: tf.Tensor[] };
  /** Custom batch sampling (wrappers delegate to the inner problem). */
  sampleBatch?(rng: Rng): Batch | null;
  /** Custom dataset size (wrappers). */
  datasetSize?: number;
  /** Releases extra owned tensors (fixed matrices, inner problems). The dataset is disposed automatically. */
  dispose?(): void;
}

/**
 * Exact loss and gradients of `f` at `params`, via autodiff (nested-gradient safe).
 *
 * @example
 * ```ts
 * const { loss, grads } = tf.tidy(() => autodiff(([x]) => tf.sum(tf.square(x)), [tf.ones([3])]));
 * ```
 */
export function autodiff(
  f: (params: tf.Tensor[]) => tf.Scalar,
  params: tf.Tensor[],
): { loss: tf.Scalar; grads: tf.Tensor[] } {
  const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) => f(ps))(params);
  return { loss: value as tf.Scalar, grads };
}

/**
 * A constant tensor of `std`·N(0,1) draws from `rng`.
 *
 * @example
 * ```ts
 * const noise = noiseTensor([10, 1], 0.1, new Rng(0)); // [10, 1] of 0.1·N(0, 1)
 * ```
 */
export function noiseTensor(shape: number[], std: number, rng: Rng): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(rng.normalArray(n, 0, std), shape, "float32");
}

/**
 * Adds fresh `std`·N(0,1) noise to each gradient (identity when std is 0; no draws then).
 *
 * @example
 * ```ts
 * const noisy = addNoise(grads, 1.0, rng);
 * ```
 */
export function addNoise(grads: tf.Tensor[], std: number, rng: Rng): tf.Tensor[] {
  if (std === 0) return grads;
  return grads.map((g) => tf.add(g, noiseTensor(g.shape, std, rng)));
}

/**
 * Zeroes each gradient element independently with probability `p` (fresh mask per call, from `rng`).
 *
 * @example
 * ```ts
 * const masked = sparsify(grads, 0.9, rng); // about 90% of the elements zeroed
 * ```
 */
export function sparsify(grads: tf.Tensor[], p: number, rng: Rng): tf.Tensor[] {
  if (p === 0) return grads;
  return grads.map((g) => {
    const mask = new Float32Array(g.size);
    for (let i = 0; i < mask.length; i++) mask[i] = rng.random() < p ? 0 : 1;
    return tf.mul(g, tf.tensor(mask, g.shape, "float32"));
  });
}

/**
 * Independent N(mean, std²) draws for each shape.
 *
 * @example
 * ```ts
 * const [w, b] = normalInit([[10, 2], [2]], new Rng(0), 0.01);
 * ```
 */
export function normalInit(shapes: number[][], rng: Rng, std = 1, mean = 0): tf.Tensor[] {
  return shapes.map((s) => tf.tensor(rng.normalArray(s.reduce((a, b) => a * b, 1), mean, std), s, "float32"));
}

/**
 * Independent U(lo, hi) draws for each shape.
 *
 * @example
 * ```ts
 * const [x] = uniformInit([[2]], new Rng(0), -2, 2);
 * ```
 */
export function uniformInit(shapes: number[][], rng: Rng, lo: number, hi: number): tf.Tensor[] {
  return shapes.map((s) => tf.tensor(rng.uniformArray(s.reduce((a, b) => a * b, 1), lo, hi), s, "float32"));
}

/**
 * Throws unless `params` matches the expected count and shapes.
 *
 * @example
 * ```ts
 * checkParams(spec, [[10, 1]], [tf.zeros([10, 1])]); // passes; a wrong shape throws
 * ```
 */
export function checkParams(spec: ProblemSpec, shapes: number[][], params: tf.Tensor[]): void {
  if (params.length !== shapes.length) {
    throw new Error(
      `problem '${spec.family}': expected ${shapes.length} parameter tensors, got ${params.length}`,
    );
  }
  for (let i = 0; i < shapes.length; i++) {
    const a = params[i].shape, b = shapes[i];
    if (a.length !== b.length || a.some((d, j) => d !== b[j])) {
      throw new Error(
        `problem '${spec.family}': parameter ${i} has shape [${a}], expected [${b}]`,
      );
    }
  }
}

/** Rows per chunk of a chunked full-dataset objective (see {@link ProblemDef.meanOverRows}). */
export const FULL_OBJECTIVE_CHUNK = 4096;

/**
 * Assembles a {@link Problem} from a family's {@link ProblemDef}.
 *
 * @example
 * ```ts
 * const problem = makeProblem({
 *   spec, paramNames: ["x"], paramShapes: [[2]], noiseStdev: 0,
 *   init: (rng) => normalInit([[2]], rng), objective: ([x]) => tf.sum(tf.square(x)),
 * });
 * ```
 */
export function makeProblem(def: ProblemDef): Problem {
  const data = def.data;
  const indexer = data ? new BatchIndexer(data.dataset.size, data.batchSize) : null;
  const fullBatch: Batch | null = data ? { x: data.dataset.x, y: data.dataset.y } : null;
  const objective = (params: tf.Tensor[], batch: Batch | null): tf.Scalar => {
    checkParams(def.spec, def.paramShapes, params);
    return tf.tidy(() => def.objective(params, batch ?? fullBatch));
  };
  let disposed = false;
  return {
    spec: def.spec,
    paramNames: def.paramNames,
    paramShapes: def.paramShapes,
    datasetSize: def.datasetSize ?? (data ? data.dataset.size : 0),
    init: (rng) => def.init(rng),
    sampleBatch(rng) {
      if (def.sampleBatch) return def.sampleBatch(rng);
      if (!data || !indexer) return null;
      const idx = indexer.next(rng);
      return tf.tidy(() => {
        const i = tf.tensor1d(idx, "int32");
        return { x: tf.gather(data.dataset.x, i), y: tf.gather(data.dataset.y, i) };
      });
    },
    objective,
    fullObjective(params) {
      if (!data || !fullBatch || !def.meanOverRows || data.dataset.size <= FULL_OBJECTIVE_CHUNK) {
        return objective(params, null);
      }
      checkParams(def.spec, def.paramShapes, params);
      const n = data.dataset.size;
      return tf.tidy(() => {
        let total: tf.Tensor | null = null;
        for (let start = 0; start < n; start += FULL_OBJECTIVE_CHUNK) {
          const rows = Math.min(FULL_OBJECTIVE_CHUNK, n - start);
          const part = tf.tidy(() => {
            const chunk: Batch = {
              x: tf.slice(fullBatch.x, start, rows),
              y: tf.slice(fullBatch.y, start, rows),
            };
            return tf.mul(def.objective(params, chunk), rows / n);
          });
          total = total ? tf.add(total, part) : part;
        }
        return total as tf.Scalar;
      });
    },
    gradients(params, batch, rng) {
      checkParams(def.spec, def.paramShapes, params);
      if (def.gradients) return def.gradients(params, batch, rng);
      return tf.tidy(() => {
        const { loss, grads } = autodiff((ps) => def.objective(ps, batch ?? fullBatch), params);
        return { loss, grads: addNoise(grads, def.noiseStdev, rng) };
      });
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      def.dispose?.();
      if (data && data.owned) tf.dispose([data.dataset.x, data.dataset.y]);
    },
  };
}

/** A family's constructor: validates `spec.params` (via a ParamReader) and builds the problem. */
export type FamilyBuilder = (spec: ProblemSpec, ctx: BuildContext) => Problem;
