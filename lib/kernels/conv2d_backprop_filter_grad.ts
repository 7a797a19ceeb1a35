/**
 * The gradient of `Conv2DBackpropFilter`, which tfjs 4.22.0 does not register: without it the second
 * derivative of a convolution (meta-training through a ConvNet's gradient) cannot be taken on any backend.
 *
 * The filter gradient `dW = Σ x ⊗ dy` is bilinear in the input `x` and the output gradient `dy`. For an
 * incoming gradient `g` (filter-shaped):
 * - with respect to `dy`: the forward convolution of `x` with `g`;
 * - with respect to `x`: the input gradient of a convolution with filter `g` at output gradient `dy`
 *   (`conv2dTranspose`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

type Pad = "valid" | "same" | number | tf.backend_util.ExplicitPadding;

/**
 * Registration record for `tf.registerGradient`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
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
