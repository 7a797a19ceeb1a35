/**
 * One training step of an image classifier (`tf.LayersModel`, e.g. `inceptionV3` / `resnetV2`)
 * driven by a lopt optimizer, plus the size helpers the ImageNet experiments report.
 *
 * {@link trainStep}: softmax cross-entropy of the model's logits on a batch [B, H, W, 3] (batch norm in
 * training mode: batch statistics, moving averages updated), gradients of the mean loss with respect to the
 * model's trainable weights by `tf.variableGrads`, the optimizer's pure `update(grads, state, params)`, then
 * `param ← param + update` written into the model's variables. Models with several outputs (Inception's
 * auxiliary head) add the cross-entropy of every extra output weighted by `auxLossWeight` (0.4, slim's
 * `train_image_classifier`).
 *
 * The optimizer type is structural ({@link StepOptimizer}: `init` / `update` over a state tree), the same
 * shape as `models/optimizer.ts` `Optimizer`, so any lopt optimizer fits without `tasks/` importing `models/`.
 * Gradients are taken at the current weights; an optimizer's `evalParams` (attention) is not consulted here.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** An optimizer state tree: tensors and numbers in arrays and objects (as `models/optimizer.ts` `OptState`). */
export type StateTree = tf.Tensor | number | StateTree[] | { [key: string]: StateTree };

/** The part of a lopt `Optimizer` that a training step needs. */
export interface StepOptimizer<S extends StateTree = StateTree> {
  /** Fresh state for the given parameter tensors. */
  init(params: tf.Tensor[]): S;
  /** Additive updates and the new state; must not mutate or dispose its inputs. */
  update(grads: tf.Tensor[], state: S, params: tf.Tensor[]): { updates: tf.Tensor[]; state: S };
}

/** Options of {@link trainStep}. */
export interface TrainStepOptions {
  /** Run the model in training mode (batch statistics in batch norm, dropout on); default true. */
  training?: boolean;
  /** Weight of the cross-entropy of each extra model output (auxiliary logits); default 0.4. */
  auxLossWeight?: number;
}

/** What {@link trainStep} returns. */
export interface TrainStepResult<S extends StateTree> {
  /** Mean softmax cross-entropy of the batch (plus weighted auxiliary losses) before the update. */
  loss: number;
  /** The optimizer state after the step (the old one is disposed), or the old one when not `applied`. */
  state: S;
  /** False when the loss was not finite: the update was dropped and the weights are unchanged. */
  applied: boolean;
  /** Wall time of the whole step in milliseconds. */
  stepMs: number;
  /** Forward + backward pass (`tf.variableGrads`, synchronised on the loss value) in milliseconds. */
  gradMs: number;
  /** Optimizer update plus writing the new weights in milliseconds. */
  updateMs: number;
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

/** Counts the parameters of `model`, trainable and not (each weight counted once). */
export function countParams(model: tf.LayersModel): ParamCounts {
  const trainable = model.trainableWeights.reduce((a, w) => a + numel(w.shape), 0);
  const nonTrainable = model.nonTrainableWeights.reduce((a, w) => a + numel(w.shape), 0);
  return { total: trainable + nonTrainable, trainable, nonTrainable };
}

/** The model's trainable weights as `tf.Variable`s, in `model.trainableWeights` order. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** All tensors of a state tree, depth first (a tensor listed twice appears twice). */
export function stateTreeTensors(state: StateTree): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  const walk = (s: StateTree): void => {
    if (s instanceof tf.Tensor) out.push(s);
    else if (Array.isArray(s)) s.forEach(walk);
    else if (s !== null && typeof s === "object") Object.values(s).forEach(walk);
  };
  walk(state);
  return out;
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/**
 * Bytes held by the tensors of an optimizer state tree (size × bytes per element of the dtype; each distinct
 * tensor counted once; plain numbers in the tree are not counted). String tensors are rejected.
 */
export function optimizerStateBytes(state: StateTree): number {
  const seen = new Set<number>();
  let bytes = 0;
  for (const t of stateTreeTensors(state)) {
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

/** The optimizer's initial state for the model's trainable weights. */
export function initOptimizerState<S extends StateTree>(
  model: tf.LayersModel,
  optimizer: StepOptimizer<S>,
): S {
  const vars = trainableVariables(model);
  return tf.tidy(() => optimizer.init(vars) as unknown as tf.TensorContainer) as unknown as S;
}

/** Disposes the tensors of `old` that `next` does not reuse. */
function disposeReplacedState(old: StateTree, next: StateTree): void {
  const kept = new Set(stateTreeTensors(next).map((t) => t.id));
  for (const t of stateTreeTensors(old)) {
    if (!kept.has(t.id) && !t.isDisposed) {
      kept.add(t.id);
      t.dispose();
    }
  }
}

/**
 * Runs one training step (see the module doc) on `images` [B, H, W, 3] with `labels` either class indices
 * [B] or (soft) one-hot targets [B, numClasses]. Takes ownership of `state`: the returned state replaces it
 * and tensors of the old state that the new one does not reuse are disposed. Does not dispose `images` or
 * `labels`. When the loss is not finite the update is dropped (`applied: false`) and `state` is returned.
 * Reads are asynchronous, so every backend runs it (WebGPU under Deno has no synchronous read).
 */
export async function trainStep<S extends StateTree>(
  model: tf.LayersModel,
  optimizer: StepOptimizer<S>,
  state: S,
  images: tf.Tensor,
  labels: tf.Tensor,
  options: TrainStepOptions = {},
): Promise<TrainStepResult<S>> {
  const training = options.training ?? true;
  const auxLossWeight = options.auxLossWeight ?? 0.4;
  const inShape = model.inputs[0].shape;
  if (
    images.rank !== 4 || images.shape.slice(1).some((d, i) => inShape[i + 1] !== null && d !== inShape[i + 1])
  ) {
    throw new Error(
      `trainStep: images must have shape [B, ${inShape.slice(1).join(", ")}] for model ${model.name}, ` +
        `got [${images.shape.join(", ")}]. Resize/crop the batch to the model's input size.`,
    );
  }
  const numClasses = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const batch = images.shape[0];
  if (
    !(labels.rank === 1 && labels.shape[0] === batch) && !(labels.rank === 2 && labels.shape[0] === batch &&
      labels.shape[1] === numClasses)
  ) {
    throw new Error(
      `trainStep: labels must be class indices [${batch}] or one-hot [${batch}, ${numClasses}], ` +
        `got [${labels.shape.join(", ")}].`,
    );
  }

  const vars = trainableVariables(model);
  const t0 = performance.now();
  const targets = tf.tidy(() => labels.rank === 1 ? tf.oneHot(tf.cast(labels, "int32"), numClasses) : labels);
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(images, { training }) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(out) ? out : [out];
    let loss = tf.losses.softmaxCrossEntropy(targets, outs[0]) as tf.Scalar;
    for (const extra of outs.slice(1)) {
      loss = tf.add(loss, tf.mul(auxLossWeight, tf.losses.softmaxCrossEntropy(targets, extra)));
    }
    return loss;
  }, vars);
  const loss = (await value.data())[0];
  const t1 = performance.now();
  const gradList = vars.map((v) => grads[v.name] ?? tf.zerosLike(v));

  let next = state;
  let applied = false;
  if (Number.isFinite(loss)) {
    next = tf.tidy(() => {
      const { updates, state: s } = optimizer.update(gradList, state, vars);
      vars.forEach((v, i) => v.assign(tf.add(v, updates[i])));
      return s as unknown as tf.TensorContainer;
    }) as unknown as S;
    // Synchronise on the last weight written so updateMs covers the update on asynchronous backends too.
    await vars[vars.length - 1].data();
    disposeReplacedState(state, next);
    applied = true;
  }
  const t2 = performance.now();

  tf.dispose([value, ...gradList, ...Object.values(grads)]);
  if (targets !== labels) targets.dispose();
  return { loss, state: next, applied, stepMs: t2 - t0, gradMs: t1 - t0, updateMs: t2 - t1 };
}
