/**
 * An image classifier (`tf.LayersModel`, e.g. `inceptionV3` / `resnetV2`) on a batch source as a
 * {@link Problem}, so the shared inner loop (`models/inner_loop.ts`) trains it like every other problem, plus
 * the size helpers the ImageNet experiments report.
 *
 * {@link classifierLossAndGrads}: softmax cross-entropy of the model's logits on a batch [B, H, W, 3] (batch
 * norm in training mode: batch statistics, moving averages updated), gradients of the mean loss with respect
 * to the model's trainable weights by `tf.variableGrads`. Models with several outputs (Inception's auxiliary
 * head) add the cross-entropy of every extra output weighted by `auxLossWeight` (0.4, slim's
 * `train_image_classifier`). The problem's parameters are the model's variables: the loop's updates are
 * written into them (`applyUpdates`), and the model stays the caller's.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer, OptState } from "../../lib/optimizer.ts";
import { treeTensors } from "../../lib/state_tree.ts";
import type { Batch, Problem } from "../problem.ts";
import type { ImageBatchSource } from "./standin.ts";

/** Options of {@link classifierLossAndGrads}. */
export interface ClassifierLossOptions {
  /** Run the model in training mode (batch statistics in batch norm, dropout on); default true. */
  training?: boolean;
  /** Weight of the cross-entropy of each extra model output (auxiliary logits); default 0.4. */
  auxLossWeight?: number;
}

/** Parameter counts of a model. */
export interface ParamCounts {
  /** Every weight, including non-trainable ones such as batch-norm moving mean and variance (Keras' "Total"). */
  total: number;
  /** Weights the optimizer trains. */
  trainable: number;
  /** `total − trainable`. */
  nonTrainable: number;
}

function numel(shape: readonly (number | null)[]): number {
  return shape.reduce((a: number, d) => a * (d ?? 0), 1);
}

/**
 * Counts the parameters of `model`, trainable and not (each weight counted once).
 *
 * @example
 * ```ts
 * const { total, trainable, nonTrainable } = countParams(resnetV2()); // 25613800 25568360 45440
 * ```
 */
export function countParams(model: tf.LayersModel): ParamCounts {
  const trainable = model.trainableWeights.reduce((a, w) => a + numel(w.shape), 0);
  const nonTrainable = model.nonTrainableWeights.reduce((a, w) => a + numel(w.shape), 0);
  return { total: trainable + nonTrainable, trainable, nonTrainable };
}

/**
 * The model's trainable weights as `tf.Variable`s, in `model.trainableWeights` order.
 *
 * @example
 * ```ts
 * const vars = trainableVariables(model);
 * console.log(vars.length === model.trainableWeights.length); // true
 * ```
 */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/**
 * Bytes held by the tensors of an optimizer state tree (size × bytes per element of the dtype; each distinct
 * tensor counted once; plain numbers in the tree are not counted). String tensors are rejected.
 *
 * @example
 * ```ts
 * const state = initOptimizerState(model, makeBaseline("adam", {}));
 * const perParam = optimizerStateBytes(state) / countParams(model).trainable; // about 8 for Adam
 * ```
 */
export function optimizerStateBytes(state: OptState): number {
  const seen = new Set<number>();
  let bytes = 0;
  for (const t of treeTensors(state)) {
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    const per = BYTES_PER_ELEMENT[t.dtype];
    if (per === undefined) {
      throw new Error(`optimizerStateBytes: cannot size a ${t.dtype} tensor; optimizer states hold numbers.`);
    }
    bytes += t.size * per;
  }
  return bytes;
}

/**
 * The optimizer's initial state for the model's trainable weights.
 *
 * @example
 * ```ts
 * const state = initOptimizerState(model, makeBaseline("adam", {}));
 * ```
 */
export function initOptimizerState(model: tf.LayersModel, optimizer: Optimizer): OptState {
  const vars = trainableVariables(model);
  return tf.tidy(() => optimizer.init(vars));
}

/** Throws a message saying what to pass when `images` / `labels` do not fit `model`. */
function checkBatch(model: tf.LayersModel, images: tf.Tensor, labels: tf.Tensor): void {
  const inShape = model.inputs[0].shape;
  if (
    images.rank !== 4 || images.shape.slice(1).some((d, i) => inShape[i + 1] !== null && d !== inShape[i + 1])
  ) {
    throw new Error(
      `classifier: images must have shape [B, ${inShape.slice(1).join(", ")}] for model ${model.name}, ` +
        `got [${images.shape.join(", ")}]. Resize/crop the batch to the model's input size.`,
    );
  }
  const numClasses = numClassesOf(model);
  const batch = images.shape[0];
  if (
    !(labels.rank === 1 && labels.shape[0] === batch) && !(labels.rank === 2 && labels.shape[0] === batch &&
      labels.shape[1] === numClasses)
  ) {
    throw new Error(
      `classifier: labels must be class indices [${batch}] or one-hot [${batch}, ${numClasses}], ` +
        `got [${labels.shape.join(", ")}].`,
    );
  }
}

/** Number of classes of the model's first output. */
function numClassesOf(model: tf.LayersModel): number {
  return model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
}

/**
 * The loss of `model` on `images` [B, H, W, 3] with `labels` either class indices [B] or (soft) one-hot
 * targets [B, numClasses], and its gradients with respect to the trainable weights (in
 * `model.trainableWeights` order; zeros for a weight the loss does not reach). Call inside `tf.tidy`.
 *
 * @example
 * ```ts
 * const { loss, grads } = tf.tidy(() => classifierLossAndGrads(model, x, y));
 * ```
 */
export function classifierLossAndGrads(
  model: tf.LayersModel,
  images: tf.Tensor,
  labels: tf.Tensor,
  options: ClassifierLossOptions = {},
): { loss: tf.Scalar; grads: tf.Tensor[] } {
  checkBatch(model, images, labels);
  const training = options.training ?? true;
  const auxLossWeight = options.auxLossWeight ?? 0.4;
  const numClasses = numClassesOf(model);
  const vars = trainableVariables(model);
  const targets = labels.rank === 1 ? tf.oneHot(tf.cast(labels, "int32"), numClasses) : labels;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(images, { training }) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(out) ? out : [out];
    let loss = tf.losses.softmaxCrossEntropy(targets, outs[0]) as tf.Scalar;
    for (const extra of outs.slice(1)) {
      loss = tf.add(loss, tf.mul(auxLossWeight, tf.losses.softmaxCrossEntropy(targets, extra)));
    }
    return loss;
  }, vars);
  return { loss: value, grads: vars.map((v) => grads[v.name] ?? tf.zerosLike(v)) };
}

/**
 * Writes `params + updates` into the variables `params` and returns them.
 *
 * @example
 * ```ts
 * addInPlace(trainableVariables(model), updates);
 * ```
 */
export function addInPlace(params: tf.Tensor[], updates: tf.Tensor[]): tf.Tensor[] {
  return params.map((p, i) => {
    if (!(p instanceof tf.Variable)) throw new Error("addInPlace: the parameters must be tf.Variables.");
    p.assign(tf.add(p, updates[i]));
    return p;
  });
}

/**
 * `model` trained on minibatches of `source` as a {@link Problem}: the parameters are the model's trainable
 * variables (drawn from the network's own seed when it was built; `init` returns them and ignores its rng),
 * gradients come from {@link classifierLossAndGrads} in training mode, updates are written in place. There
 * is no full dataset: train it with the inner loop's `evaluate: null` and a `batches` order (the source
 * decodes asynchronously); `sampleBatch` and `fullObjective` throw. `dispose` leaves the model to its owner.
 *
 * @example
 * ```ts
 * const problem = classifierProblem(model, source);
 * await trainProblem({ problem, optimizer, steps, rng, evaluate: null, batches: (t) => source.batch(order[t]) });
 * ```
 */
export function classifierProblem(
  model: tf.LayersModel,
  source: Pick<ImageBatchSource, "dataset" | "n">,
  options: ClassifierLossOptions = {},
): Problem {
  const vars = trainableVariables(model);
  const noFull = (what: string): never => {
    throw new Error(
      `${model.name} on ${source.dataset}: ${what}; give the inner loop batches and evaluate: null.`,
    );
  };
  return {
    spec: { family: model.name, params: { dataset: source.dataset, ...options }, seed: 0 },
    paramNames: model.trainableWeights.map((w) => w.name),
    paramShapes: vars.map((v) => v.shape),
    datasetSize: source.n,
    init: () => vars,
    sampleBatch: () => noFull("batches come from an asynchronous source"),
    objective: (_params: tf.Tensor[], batch: Batch | null) =>
      batch === null
        ? noFull("the objective needs a batch")
        : classifierLossAndGrads(model, batch.x, batch.y, options).loss,
    fullObjective: () => noFull("no full objective"),
    gradients: (_params: tf.Tensor[], batch: Batch | null) =>
      batch === null
        ? noFull("gradients need a batch")
        : classifierLossAndGrads(model, batch.x, batch.y, options),
    applyUpdates: addInPlace,
    dispose: () => {},
  };
}
