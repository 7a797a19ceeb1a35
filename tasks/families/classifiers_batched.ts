/**
 * The vectorized batches of the classifier families (`softmax_regression`, `fully_connected`): B instances of
 * one spec as batched matmuls over stacked parameters and stacked minibatches (see `../batched.ts`), with the
 * same per-instance losses as the unbatched families of `classifiers.ts`.
 *
 * @example
 * ```ts
 * import { buildBatched } from "../registry.ts";
 * const bp = buildBatched({ family: "softmax_regression", params: {}, seed: 1 }, 4); // uses batchedSoftmaxRegression
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type BatchContext,
  type BatchedBuilder,
  type BatchedProblem,
  makeVectorizedProblem,
  stackInstances,
} from "../batched.ts";
import {
  BatchIndexer,
  type DatasetSpec,
  generateDataArrays,
  isSyntheticDataset,
  toDataset,
} from "../datasets.ts";
import { FULL_OBJECTIVE_CHUNK } from "../base.ts";
import { ParamReader } from "../params.ts";
import { asFloat, CLASSIFIER_LOSSES, type ClassifierLoss } from "./classifiers.ts";
import type { Batch, ProblemSpec } from "../problem.ts";

/** Batched classifier model: logits [B, rows, C] from stacked params and inputs [B, rows, features]. */
type BatchedLogits = (stacked: tf.Tensor[], x: tf.Tensor3D) => tf.Tensor3D;

/** Mean loss per instance [B] of `logits` [B, rows, C] against labels [B, rows] (as {@link classifierLoss}). */
function batchedClassifierLoss(
  logits: tf.Tensor3D,
  y: tf.Tensor2D,
  kind: "sigmoid_column0" | "softmax",
): tf.Tensor1D {
  if (kind === "sigmoid_column0") {
    const z = tf.squeeze(tf.slice(logits, [0, 0, 0], [-1, -1, 1]), [2]);
    const t = tf.cast(y, "float32");
    return tf.mean(
      tf.add(tf.sub(tf.relu(z), tf.mul(z, t)), tf.log1p(tf.exp(tf.neg(tf.abs(z))))),
      1,
    ) as tf.Tensor1D;
  }
  const onehot = tf.oneHot(tf.cast(y, "int32"), logits.shape[2]);
  return tf.mean(tf.sub(tf.logSumExp(logits, 2), tf.sum(tf.mul(logits, onehot), 2)), 1) as tf.Tensor1D;
}

/** `l2` × mean over tensors of ‖θ_j‖², per instance [B], from stacked tensors [B, ...]. */
function batchedL2(stacked: tf.Tensor[], l2: number): tf.Tensor1D {
  const b = stacked[0].shape[0];
  if (l2 === 0) return tf.zeros([b]) as tf.Tensor1D;
  const norms = stacked.map((t) => tf.sum(tf.reshape(tf.square(t), [b, -1]), 1));
  return tf.mul(l2, tf.mean(tf.stack(norms), 0)) as tf.Tensor1D;
}

/**
 * A vectorized batch of classifier instances on synthetic datasets held in memory (stacked [B, N, ...]), or
 * null when the datasets are not synthetic or too large for one pass (then the caller stacks instances).
 */
function batchedClassifier(
  specs: ProblemSpec[],
  ctx: BatchContext,
  logits: (p: ParamReader) => BatchedLogits,
): BatchedProblem {
  const params = specs[0].params as Record<string, unknown>;
  const dsSpecs = specs.map((s) => (s.params as { dataset: DatasetSpec }).dataset);
  const instances = specs.map((s) => ctx.build(s));
  if (!dsSpecs.every((d) => d && isSyntheticDataset(d))) return stackInstances(instances);
  const datasets = dsSpecs.map((d) => toDataset(generateDataArrays(d)));
  const n = datasets[0].size;
  if (n > FULL_OBJECTIVE_CHUNK || datasets.some((d) => d.size !== n) || n === 0) {
    datasets.forEach((d) => tf.dispose([d.x, d.y]));
    return stackInstances(instances);
  }
  const p = new ParamReader(specs[0].family, params);
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const lossChoice = p.choice<ClassifierLoss>("loss", CLASSIFIER_LOSSES, "auto");
  const l2 = p.num("l2", 1e-3, { min: 0 });
  const bs = p.has("batchSize") ? p.int("batchSize", undefined, { min: 0 }) : n;
  const f = logits(p);
  const nClasses = p.int("nClasses", 2, { min: 2 });
  const kind = lossChoice === "auto" ? (nClasses === 2 ? "sigmoid_column0" : "softmax") : lossChoice;
  const size = specs.length;
  const { x, y } = tf.tidy(() => {
    const xs = datasets.map((d) => asFloat(d.x));
    return {
      x: tf.keep(tf.reshape(tf.stack(xs), [size, n, -1]) as tf.Tensor3D),
      y: tf.keep(tf.stack(datasets.map((d) => d.y)) as tf.Tensor2D),
    };
  });
  datasets.forEach((d) => tf.dispose([d.x, d.y]));
  const rowLen = x.shape[2];
  const flatX = tf.keep(tf.reshape(x, [size * n, rowLen]));
  const flatY = tf.keep(tf.reshape(y, [size * n]));
  const indexers = specs.map(() => new BatchIndexer(n, bs));
  const objectives = (stacked: tf.Tensor[], batch: Batch | null): tf.Tensor1D => {
    const bx = (batch ? batch.x : x) as tf.Tensor3D;
    const by = (batch ? batch.y : y) as tf.Tensor2D;
    return tf.add(batchedClassifierLoss(f(stacked, bx), by, kind), batchedL2(stacked, l2)) as tf.Tensor1D;
  };
  return makeVectorizedProblem({
    specs,
    paramShapes: instances[0].paramShapes,
    noiseStdev,
    instances,
    objectives,
    sampleBatch(rngs) {
      const idx = new Int32Array(size * bs);
      indexers.forEach((ix, b) => {
        const rows = ix.next(rngs[b]);
        for (let i = 0; i < rows.length; i++) idx[b * bs + i] = b * n + rows[i];
      });
      return tf.tidy(() => {
        const i = tf.tensor1d(idx, "int32");
        return {
          x: tf.reshape(tf.gather(flatX, i), [size, bs, rowLen]),
          y: tf.reshape(tf.gather(flatY, i), [size, bs]),
        };
      });
    },
    dispose: () => tf.dispose([x, y, flatX, flatY]),
  });
}

/** Batched `softmax_regression`: logits_b = X_b W_b + b_b for all instances in one batched matmul. */
export const batchedSoftmaxRegression: BatchedBuilder = (specs, build) =>
  batchedClassifier(
    specs,
    build,
    () => ([w, b], x) => tf.add(tf.matMul(x, w as tf.Tensor3D), tf.expandDims(b, 1)),
  );

/** Batched `fully_connected`: the MLP of every instance in batched matmuls. */
export const batchedFullyConnected: BatchedBuilder = (specs, ctx) =>
  batchedClassifier(specs, ctx, (p) => {
    const act = p.choice("activation", ["sigmoid", "relu"] as const, "sigmoid");
    const actFn = act === "relu" ? tf.relu : tf.sigmoid;
    return (params, x) => {
      let h = x;
      for (let l = 0; l < params.length / 2; l++) {
        if (l > 0) h = actFn(h);
        h = tf.add(
          tf.matMul(h, params[2 * l] as tf.Tensor3D),
          tf.expandDims(params[2 * l + 1], 1),
        ) as tf.Tensor3D;
      }
      return h;
    };
  });
