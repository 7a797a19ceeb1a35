/**
 * ConvNets for the MNIST / CIFAR-10 evaluation and the Fashion-MNIST validation ConvNet, as pure functions of
 * an explicit parameter list (so any lopt optimizer's `init` / `update` applies to them directly) and as
 * equivalent tfjs-layers models (for `model.fit` with the `tf.Optimizer` adapter of
 * `models/optimizers/tf_adapter.ts`).
 *
 * - `convnet_mnist_relu` / `convnet_mnist_sigmoid`: the paper's test ConvNet (design §8.3 and
 *   §10): 28x28x1 input, two stride-1 SAME convolutions 3x3x8 and 5x5x8 without bias or pooling, each followed
 *   by the activation, flatten, affine to 10 classes; every tensor initialised N(0, 0.01²) as in the reference.
 * - `convnet_fashion_relu`: the validation ConvNet, the `convnet_mnist_relu` architecture on Fashion-MNIST. It
 *   is for choosing meta-training settings (`--set baselines-cnn.models='["convnet_fashion_relu"]'`) without
 *   touching the test ConvNets; it is never reported as a test.
 * - `convnet_cifar10`: a small ConvNet of the same style for 32x32x3: three SAME convolutions 3x3x16, 3x3x32,
 *   3x3x32 without bias, each followed by ReLU and a 2x2 max pool (32→16→8→4), flatten (512), affine to 10.
 *   With three layers the reference's N(0, 0.01²) init leaves the signal vanishingly small, so this model uses
 *   He-normal init (std √(2/fan_in)) for the filters and Glorot-normal for the dense weights (bias 0).
 *
 * Loss: mean 10-class softmax cross-entropy of the logits against integer labels (not the reference's 2-class
 * column-0 loss, which raises for 10 classes), plus an optional `l2` × mean over tensors of ‖θ_j‖².
 * Images are NHWC float32 in [0, 1] as `tasks/data/` loads them.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../lib/rng.ts";

/** Names of the ConvNets this module defines. */
export const CONVNET_NAMES = [
  "convnet_mnist_relu",
  "convnet_mnist_sigmoid",
  "convnet_fashion_relu",
  "convnet_cifar10",
] as const;
/** One of {@link CONVNET_NAMES}. */
export type ConvNetName = typeof CONVNET_NAMES[number];

/** One convolution layer: a stride-1 SAME convolution without bias, the activation, then an optional max pool. */
export interface ConvLayerSpec {
  /** Filter height and width. */
  kernel: [number, number];
  /** Output channels. */
  filters: number;
  /** Size (= stride) of a VALID max pool after the activation; omitted: no pooling. */
  pool?: number;
}

/** The architecture of a ConvNet (JSON-serialisable). */
export interface ConvNetSpec {
  /** Model name, e.g. `convnet_mnist_relu`. */
  name: string;
  /** The dataset the model is meant for (`mnist`, `fashion-mnist`, `cifar10`). */
  dataset: "mnist" | "fashion-mnist" | "cifar10";
  /** Input [height, width, channels] (NHWC without the batch). */
  inputShape: [number, number, number];
  /** Number of classes. */
  numClasses: number;
  /** Convolution layers in order. */
  layers: ConvLayerSpec[];
  /** Activation after every convolution. */
  activation: "relu" | "sigmoid";
  /** `reference`: every tensor N(0, 0.01²); `he`: He-normal filters, Glorot-normal dense weights, zero bias. */
  init: "reference" | "he";
}

/**
 * The architecture named `name`; throws a message listing the known names otherwise.
 *
 * @example
 * ```ts
 * const spec = convNetSpec("convnet_cifar10");
 * console.log(spec.inputShape, spec.layers.length); // [32, 32, 3] 3
 * ```
 */
export function convNetSpec(name: string): ConvNetSpec {
  switch (name) {
    case "convnet_mnist_relu":
    case "convnet_mnist_sigmoid":
    case "convnet_fashion_relu":
      return {
        name,
        dataset: name === "convnet_fashion_relu" ? "fashion-mnist" : "mnist",
        inputShape: [28, 28, 1],
        numClasses: 10,
        layers: [{ kernel: [3, 3], filters: 8 }, { kernel: [5, 5], filters: 8 }],
        activation: name === "convnet_mnist_sigmoid" ? "sigmoid" : "relu",
        init: "reference",
      };
    case "convnet_cifar10":
      return {
        name,
        dataset: "cifar10",
        inputShape: [32, 32, 3],
        numClasses: 10,
        layers: [
          { kernel: [3, 3], filters: 16, pool: 2 },
          { kernel: [3, 3], filters: 32, pool: 2 },
          { kernel: [3, 3], filters: 32, pool: 2 },
        ],
        activation: "relu",
        init: "he",
      };
    default:
      throw new Error(`Unknown ConvNet '${name}'. Choose one of: ${CONVNET_NAMES.join(", ")}.`);
  }
}

/** Spatial size and channels after the last convolution layer (pools included). */
function featureShape(spec: ConvNetSpec): [number, number, number] {
  let [h, w, c] = spec.inputShape;
  for (const l of spec.layers) {
    c = l.filters;
    if (l.pool) {
      h = Math.floor(h / l.pool);
      w = Math.floor(w / l.pool);
    }
  }
  return [h, w, c];
}

/**
 * Width of the flattened features that feed the dense layer.
 *
 * @example
 * ```ts
 * flatFeatures(convNetSpec("convnet_cifar10")); // 512
 * ```
 */
export function flatFeatures(spec: ConvNetSpec): number {
  const [h, w, c] = featureShape(spec);
  return h * w * c;
}

/**
 * Parameter shapes in order: one filter [kh, kw, in, out] per layer, then dense W [flat, classes], b [classes].
 *
 * @example
 * ```ts
 * convNetParamShapes(convNetSpec("convnet_mnist_relu")); // [[3, 3, 1, 8], [5, 5, 8, 8], [6272, 10], [10]]
 * ```
 */
export function convNetParamShapes(spec: ConvNetSpec): number[][] {
  const shapes: number[][] = [];
  let cin = spec.inputShape[2];
  for (const l of spec.layers) {
    shapes.push([l.kernel[0], l.kernel[1], cin, l.filters]);
    cin = l.filters;
  }
  shapes.push([flatFeatures(spec), spec.numClasses], [spec.numClasses]);
  return shapes;
}

/**
 * Parameter names aligned with {@link convNetParamShapes}: `conv0`, `conv1`, …, `dense/w`, `dense/b`.
 *
 * @example
 * ```ts
 * convNetParamNames(convNetSpec("convnet_mnist_relu")); // ["conv0", "conv1", "dense/w", "dense/b"]
 * ```
 */
export function convNetParamNames(spec: ConvNetSpec): string[] {
  return [...spec.layers.map((_, i) => `conv${i}`), "dense/w", "dense/b"];
}

/**
 * Total number of parameters.
 *
 * @example
 * ```ts
 * countConvNetParams(convNetSpec("convnet_mnist_relu")); // 64402
 * ```
 */
export function countConvNetParams(spec: ConvNetSpec): number {
  return convNetParamShapes(spec).reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
}

/**
 * Fresh parameters drawn from `rng` (see the module doc for the init of each model). Deterministic in the
 * rng's state; the caller owns the tensors.
 *
 * @example
 * ```ts
 * const params = initConvNet(convNetSpec("convnet_mnist_relu"), new Rng(0));
 * ```
 */
export function initConvNet(spec: ConvNetSpec, rng: Rng): tf.Tensor[] {
  const shapes = convNetParamShapes(spec);
  const nConv = spec.layers.length;
  return shapes.map((shape, i) => {
    const size = shape.reduce((a, b) => a * b, 1);
    let std: number;
    if (spec.init === "reference") std = 0.01;
    else if (i < nConv) std = Math.sqrt(2 / (shape[0] * shape[1] * shape[2]));
    else if (i === nConv) std = Math.sqrt(2 / (shape[0] + shape[1]));
    else std = 0;
    const values = std === 0 ? new Float32Array(size) : rng.normalArray(size, 0, std);
    return tf.tensor(values, shape);
  });
}

/** SAME padding of a stride-1 convolution with a `k` filter: [before, after] (TensorFlow's convention). */
function samePads(k: number): [number, number] {
  return [Math.floor((k - 1) / 2), Math.floor(k / 2)];
}

/**
 * Stride-1 SAME convolution `x` [B, H, W, Ci] * `w` [kh, kw, Ci, Co] whose gradients are computed with forward
 * convolutions instead of the `Conv2DBackpropInput` / `Conv2DBackpropFilter` kernels (on tfjs-wasm 4.22 the
 * built-in `Conv2DBackpropInput` is a plain loop, ~7x slower than a forward convolution through XNNPACK):
 * - dx = conv(dy, w flipped in space with in/out swapped), padding [after, before];
 * - dw = conv(xᵀ [Ci, H, W, B], dyᵀ [H, W, B, Co]) with padding [before, after], giving [Ci, kh, kw, Co].
 * Same values as `tf.conv2d(x, w, 1, "same")` and its gradients (up to float32 summation order). With
 * `inputGrad: false` the gradient w.r.t. `x` is returned as zeros (for a first layer whose input is data).
 *
 * @example
 * ```ts
 * const x = tf.ones([2, 28, 28, 1]) as tf.Tensor4D, w = tf.ones([3, 3, 1, 8]) as tf.Tensor4D;
 * const y = sameConv2d(x, w, { inputGrad: false }); // [2, 28, 28, 8]
 * ```
 */
export function sameConv2d(x: tf.Tensor4D, w: tf.Tensor4D, opts: { inputGrad?: boolean } = {}): tf.Tensor4D {
  return (opts.inputGrad === false ? sameConvNoDx : sameConvOp)(x, w) as tf.Tensor4D;
}

/** Explicit padding, or `"same"` when it is symmetric (the faster path of the wasm Conv2D kernel). */
type Padding4 = [[number, number], [number, number], [number, number], [number, number]];

function pad2d(h: [number, number], w: [number, number]): "same" | Padding4 {
  return h[0] === h[1] && w[0] === w[1] ? "same" : [[0, 0], h, w, [0, 0]];
}

function makeSameConv(inputGrad: boolean) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x4, w4] = args as tf.Tensor4D[];
    const save = args[2] as tf.GradSaveFunc;
    save([x4, w4]);
    return {
      value: tf.conv2d(x4, w4, 1, "same"),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const g = dy as tf.Tensor4D;
        const [kh, kw] = ws.shape;
        const [bh, ah] = samePads(kh), [bw, aw] = samePads(kw);
        let dx: tf.Tensor;
        if (inputGrad) {
          const wFlip = tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
          dx = tf.conv2d(g, wFlip, 1, pad2d([ah, bh], [aw, bw]));
        } else {
          dx = tf.zerosLike(xs);
        }
        const xt = tf.transpose(xs, [3, 1, 2, 0]) as tf.Tensor4D;
        const gt = tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D;
        const dwT = tf.conv2d(xt, gt, 1, [[0, 0], [bh, ah], [bw, aw], [0, 0]]);
        return [dx, tf.transpose(dwT, [1, 2, 0, 3])];
      },
    };
  });
}

const sameConvOp = makeSameConv(true);
const sameConvNoDx = makeSameConv(false);

/**
 * Affine layer `x` [B, d] · `w` [d, c] + `b` [c] with gradients through explicit transposes: on tfjs-wasm 4.22 a
 * `matMul` with a transposed operand is several times slower than transposing first (dx = dy·wᵀ, dw = xᵀ·dy,
 * db = Σ_B dy). Same values as `tf.add(tf.matMul(x, w), b)` and its gradients.
 *
 * @example
 * ```ts
 * const x = tf.ones([4, 512]) as tf.Tensor2D, w = tf.zeros([512, 10]) as tf.Tensor2D;
 * const logits = dense(x, w, tf.zeros([10]) as tf.Tensor1D); // [4, 10]
 * ```
 */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return denseOp(x, w, b) as tf.Tensor2D;
}

const denseOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, b] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
  const save = args[3] as tf.GradSaveFunc;
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x, w), b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor2D;
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(g, tf.transpose(ws)), tf.matMul(tf.transpose(xs), g), tf.sum(g, 0)];
    },
  };
});

function checkParams(spec: ConvNetSpec, params: tf.Tensor[]): void {
  const shapes = convNetParamShapes(spec);
  if (params.length !== shapes.length) {
    throw new Error(
      `${spec.name} takes ${shapes.length} parameter tensors (${convNetParamNames(spec).join(", ")}), ` +
        `got ${params.length}.`,
    );
  }
  params.forEach((p, i) => {
    if (!tf.util.arraysEqual(p.shape, shapes[i])) {
      throw new Error(
        `${spec.name}: parameter ${convNetParamNames(spec)[i]} must have shape [${
          shapes[i]
        }], got [${p.shape}].`,
      );
    }
  });
}

/**
 * Logits [B, classes] of images `x` [B, H, W, C] under `params` (pure; call inside `tf.tidy`).
 *
 * @example
 * ```ts
 * const logits = tf.tidy(() => convNetLogits(spec, params, x)); // [B, 10]
 * ```
 */
export function convNetLogits(spec: ConvNetSpec, params: tf.Tensor[], x: tf.Tensor): tf.Tensor2D {
  checkParams(spec, params);
  const [h, w, c] = spec.inputShape;
  if (x.rank !== 4 || x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== c) {
    throw new Error(`${spec.name} expects images [B, ${h}, ${w}, ${c}], got [${x.shape}].`);
  }
  const act = spec.activation === "relu" ? tf.relu : tf.sigmoid;
  let t = x as tf.Tensor4D;
  spec.layers.forEach((l, i) => {
    // The images are data: the first layer needs no input gradient.
    t = act(sameConv2d(t, params[i] as tf.Tensor4D, { inputGrad: i > 0 }));
    if (l.pool) t = tf.maxPool(t, l.pool, l.pool, "valid");
  });
  const n = spec.layers.length;
  const flat = tf.reshape(t, [x.shape[0], flatFeatures(spec)]) as tf.Tensor2D;
  return dense(flat, params[n] as tf.Tensor2D, params[n + 1] as tf.Tensor1D);
}

/**
 * Per-example softmax cross-entropy [B] of `logits` [B, C] against integer labels `labels` [B].
 *
 * @example
 * ```ts
 * const logits = tf.zeros([2, 10]) as tf.Tensor2D;
 * const losses = softmaxCrossEntropyPerExample(logits, tf.tensor1d([3, 7], "int32")); // [ln 10, ln 10]
 * ```
 */
export function softmaxCrossEntropyPerExample(logits: tf.Tensor2D, labels: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const onehot = tf.oneHot(tf.cast(labels, "int32"), logits.shape[1]);
    return tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, onehot), 1)) as tf.Tensor1D;
  });
}

/**
 * Mean softmax cross-entropy of `logits` against integer labels (a proper C-class loss).
 *
 * @example
 * ```ts
 * const logits = tf.zeros([2, 10]) as tf.Tensor2D;
 * const loss = softmaxCrossEntropy(logits, tf.tensor1d([3, 7], "int32")); // ln 10 ≈ 2.303
 * ```
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(softmaxCrossEntropyPerExample(logits, labels)) as tf.Scalar);
}

/**
 * Training objective: mean softmax cross-entropy + `l2` × mean over tensors of ‖θ_j‖² (pure).
 *
 * @example
 * ```ts
 * const loss = convNetLoss(spec, params, x, y, 1e-4);
 * ```
 */
export function convNetLoss(
  spec: ConvNetSpec,
  params: tf.Tensor[],
  x: tf.Tensor,
  labels: tf.Tensor,
  l2 = 0,
): tf.Scalar {
  return tf.tidy(() => {
    const ce = softmaxCrossEntropy(convNetLogits(spec, params, x), labels);
    if (l2 === 0) return ce;
    const pen = tf.mean(tf.stack(params.map((p) => tf.sum(tf.square(p)))));
    return tf.add(ce, tf.mul(l2, pen)) as tf.Scalar;
  });
}

/**
 * The loss and its gradients w.r.t. every parameter tensor at `params` on one minibatch. The caller owns the
 * returned tensors.
 *
 * @example
 * ```ts
 * const { loss, grads } = convNetLossAndGrads(spec, params, x, y);
 * ```
 */
export function convNetLossAndGrads(
  spec: ConvNetSpec,
  params: tf.Tensor[],
  x: tf.Tensor,
  labels: tf.Tensor,
  l2 = 0,
): { loss: tf.Scalar; grads: tf.Tensor[] } {
  return tf.tidy(() => {
    const f = (...ps: tf.Tensor[]) => convNetLoss(spec, ps, x, labels, l2);
    const { value, grads } = tf.valueAndGrads(f)(params);
    return { loss: value as tf.Scalar, grads };
  });
}

/**
 * Sum of the per-example loss and number of correct predictions on one batch (pure; caller owns tensors).
 *
 * @example
 * ```ts
 * const { lossSum, correct } = convNetBatchStats(spec, params, x, y);
 * console.log(correct.dataSync()[0] / x.shape[0]); // batch accuracy
 * ```
 */
export function convNetBatchStats(
  spec: ConvNetSpec,
  params: tf.Tensor[],
  x: tf.Tensor,
  labels: tf.Tensor,
): { lossSum: tf.Scalar; correct: tf.Scalar } {
  return tf.tidy(() => {
    const logits = convNetLogits(spec, params, x);
    const lossSum = tf.sum(softmaxCrossEntropyPerExample(logits, labels)) as tf.Scalar;
    const pred = tf.argMax(logits, 1);
    const correct = tf.sum(tf.cast(tf.equal(pred, tf.cast(labels, "int32")), "float32")) as tf.Scalar;
    return { lossSum, correct };
  });
}

/**
 * A tfjs-layers model computing exactly {@link convNetLogits} (linear output: the logits). With `params`, its
 * weights are set to copies of them (same order as {@link convNetParamShapes}); otherwise they are drawn with
 * {@link initConvNet} from `rng`, or left at the layers' default init when neither is given. Train it with
 * {@link compileConvNet}.
 *
 * @example
 * ```ts
 * const model = buildLayersConvNet(convNetSpec("convnet_cifar10"), { rng: new Rng(0) });
 * compileConvNet(model, tf.train.adam(1e-3));
 * ```
 */
export function buildLayersConvNet(
  spec: ConvNetSpec,
  opts: { params?: tf.Tensor[]; rng?: Rng } = {},
): tf.Sequential {
  const model = tf.sequential({ name: spec.name });
  spec.layers.forEach((l, i) => {
    model.add(tf.layers.conv2d({
      ...(i === 0 ? { inputShape: spec.inputShape } : {}),
      kernelSize: l.kernel,
      filters: l.filters,
      strides: 1,
      padding: "same",
      useBias: false,
      activation: spec.activation,
      name: `conv${i}`,
    }));
    if (l.pool) {
      model.add(tf.layers.maxPooling2d({ poolSize: l.pool, strides: l.pool, padding: "valid" }));
    }
  });
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: spec.numClasses, name: "dense" }));
  const init = opts.params ?? (opts.rng ? initConvNet(spec, opts.rng) : null);
  if (init) {
    checkParams(spec, init);
    model.setWeights(init);
    if (!opts.params) tf.dispose(init);
  }
  return model;
}

/**
 * Per-example softmax cross-entropy as a tfjs-layers loss: `yTrue` one-hot [B, C], `yPred` logits [B, C].
 * Feed labels one-hot (e.g. `batchTensors(ds, idx, {oneHot: true})`).
 *
 * @example
 * ```ts
 * const losses = softmaxCrossEntropyFromLogits(tf.oneHot(tf.tensor1d([3], "int32"), 10), tf.zeros([1, 10])); // [ln 10]
 * ```
 */
export function softmaxCrossEntropyFromLogits(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.logSumExp(yPred, -1), tf.sum(tf.mul(yTrue, yPred), -1)));
}

/**
 * Compiles a model from {@link buildLayersConvNet} with `optimizer`, softmax cross-entropy on logits and accuracy.
 *
 * @example
 * ```ts
 * const model = buildLayersConvNet(convNetSpec("convnet_mnist_relu"), { rng: new Rng(0) });
 * compileConvNet(model, tf.train.sgd(0.1));
 * await model.fit(x, yOneHot, { batchSize: 64, epochs: 1 });
 * ```
 */
export function compileConvNet(model: tf.LayersModel, optimizer: tf.Optimizer): void {
  model.compile({ optimizer, loss: softmaxCrossEntropyFromLogits, metrics: ["categoricalAccuracy"] });
}
