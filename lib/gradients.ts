/**
 * Gradients TensorFlow.js 4.22 ships without, which second derivatives (meta-training through a problem's
 * gradient) need. {@link registerMissingGradients} registers them all.
 *
 * - Zero gradients for comparison and logical kernels. These ops are piecewise constant, so their derivative
 *   is zero wherever it exists; the gradient of `max`, `maximum` or `abs` contains an `equal`/`greater` mask,
 *   and differentiating that gradient again fails with "gradient function not found for Equal".
 * - The gradient of `Conv2DBackpropFilter` ({@link conv2dBackpropFilterGradConfig}), the filter gradient of a
 *   convolution, for second derivatives through a ConvNet.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Binary kernels (inputs `a`, `b`) given a zero gradient. */
export const ZERO_GRAD_BINARY = [
  "Equal",
  "NotEqual",
  "Greater",
  "Less",
  "LessEqual",
  "LogicalAnd",
  "LogicalOr",
];
/** Unary kernels (input `x`) given a zero gradient. */
export const ZERO_GRAD_UNARY = ["LogicalNot"];

type Pad = "valid" | "same" | number | tf.backend_util.ExplicitPadding;

/**
 * The gradient of `Conv2DBackpropFilter`. The filter gradient `dW = Σ x ⊗ dy` is bilinear in the input `x`
 * and the output gradient `dy`, so for an incoming filter-shaped gradient `g`: with respect to `dy` it is the
 * forward convolution of `x` with `g`; with respect to `x`, the input gradient of a convolution with filter
 * `g` at output gradient `dy` (`conv2dTranspose`). NHWC only (what `tf.conv2d`'s own gradient produces).
 *
 * @example
 * ```ts
 * if (tf.getGradient("Conv2DBackpropFilter") === undefined) tf.registerGradient(conv2dBackpropFilterGradConfig);
 * ```
 */
export const conv2dBackpropFilterGradConfig: tf.GradConfig = {
  kernelName: "Conv2DBackpropFilter",
  inputsToSave: ["x", "dy"],
  gradFunc: (g: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
    const grad = g as tf.Tensor4D;
    const strides = attrs.strides as [number, number] | number;
    const pad = attrs.pad as Pad;
    const rounding = attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined;
    if (attrs.dataFormat !== undefined && attrs.dataFormat !== "NHWC") {
      throw new Error(`Conv2DBackpropFilter gradient: only NHWC is supported (got ${attrs.dataFormat})`);
    }
    return {
      x: () => tf.conv2dTranspose(dy, grad, x.shape, strides, pad as "valid" | "same" | number, rounding),
      dy: () => tf.conv2d(x, grad, strides, pad, "NHWC", 1, rounding),
    };
  },
};

/**
 * Registers every gradient of this module (idempotent; kernels that already have a gradient are left alone).
 *
 * @example
 * ```ts
 * registerMissingGradients();
 * tf.getGradient("Equal") !== undefined; // true
 * tf.getGradient("Conv2DBackpropFilter") !== undefined; // true
 * ```
 */
export function registerMissingGradients(): void {
  if (!tf.getGradient(conv2dBackpropFilterGradConfig.kernelName)) {
    tf.registerGradient(conv2dBackpropFilterGradConfig);
  }
  for (const kernelName of ZERO_GRAD_BINARY) {
    if (tf.getGradient(kernelName)) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: ["a", "b"],
      gradFunc: (_dy, saved) => {
        const [a, b] = saved as tf.Tensor[];
        return { a: () => tf.zeros(a.shape), b: () => tf.zeros(b.shape) };
      },
    });
  }
  for (const kernelName of ZERO_GRAD_UNARY) {
    if (tf.getGradient(kernelName)) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: ["x"],
      gradFunc: (_dy, saved) => {
        const [x] = saved as tf.Tensor[];
        return { x: () => tf.zeros(x.shape) };
      },
    });
  }
}
