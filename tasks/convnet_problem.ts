/**
 * A ConvNet of `tasks/convnets.ts` on an image dataset as a {@link Problem} (the "Task" of
 * learned_optimization `tasks/fixed/conv.py`), so the shared inner loop (`models/inner_loop.ts`) trains it
 * like every other problem.
 *
 * - parameters: {@link initConvNet} from the rng the loop passes;
 * - minibatch: `batchSize` examples drawn uniformly with replacement from `rng`, or a fixed order given to the
 *   loop (`batches` option) built with {@link convNetBatch};
 * - objective: mean softmax cross-entropy plus `l2` × mean over tensors of ‖θ_j‖² ({@link convNetLoss});
 * - full objective: the objective on every training example in one pass.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../lib/rng.ts";
import type { Batch, Problem } from "./problem.ts";
import {
  convNetLoss,
  convNetLossAndGrads,
  convNetParamNames,
  convNetParamShapes,
  type ConvNetSpec,
  initConvNet,
} from "./convnets.ts";
import { examplesToTensors, gatherExamples, type ImageDataset } from "./data/dataset.ts";

/** Options of {@link convNetProblem}. */
export interface ConvNetProblemOptions {
  /** Examples per minibatch drawn by `sampleBatch`. */
  batchSize: number;
  /** Weight of the L2 term (0: none). */
  l2?: number;
}

/**
 * The tensors of the examples `indices` of `ds` (images [B, H, W, C], labels [B]); the caller owns them.
 *
 * @example
 * ```ts
 * const { x, y } = convNetBatch(train, Int32Array.of(0, 1, 2));
 * ```
 */
export function convNetBatch(ds: ImageDataset, indices: Int32Array): Batch {
  const { images, labels } = gatherExamples(ds, indices);
  return examplesToTensors(images, labels, ds);
}

/**
 * `spec` trained on `train` as a {@link Problem}. The dataset stays the caller's; `dispose` frees nothing.
 *
 * @example
 * ```ts
 * const problem = convNetProblem(convNetSpec("convnet_mnist_relu"), train, { batchSize: 64 });
 * const record = await trainProblem({ problem, optimizer, steps: 100, rng: new Rng(0) });
 * ```
 */
export function convNetProblem(spec: ConvNetSpec, train: ImageDataset, o: ConvNetProblemOptions): Problem {
  const l2 = o.l2 ?? 0;
  return {
    spec: { family: spec.name, params: { ...spec, batchSize: o.batchSize, l2 }, seed: 0 },
    paramNames: convNetParamNames(spec),
    paramShapes: convNetParamShapes(spec),
    datasetSize: train.n,
    init: (rng: Rng) => initConvNet(spec, rng),
    sampleBatch: (rng: Rng) =>
      convNetBatch(train, Int32Array.from({ length: o.batchSize }, () => rng.int(train.n))),
    objective: (params, batch) => {
      if (batch === null) throw new Error(`${spec.name}: the objective needs a minibatch.`);
      return convNetLoss(spec, params, batch.x, batch.y, l2);
    },
    fullObjective: (params) =>
      tf.tidy(() => {
        const all = convNetBatch(train, Int32Array.from({ length: train.n }, (_, i) => i));
        return convNetLoss(spec, params, all.x, all.y, l2);
      }),
    gradients: (params, batch) => {
      if (batch === null) throw new Error(`${spec.name}: gradients need a minibatch.`);
      return convNetLossAndGrads(spec, params, batch.x, batch.y, l2);
    },
    dispose: () => {},
  };
}
