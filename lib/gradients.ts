/**
 * Zero gradients for TensorFlow.js comparison and logical kernels that ship without one.
 *
 * These ops are piecewise constant, so their derivative is zero wherever it exists. tfjs 4.22 registers no
 * gradient for them, which breaks second derivatives: the gradient of `max`, `maximum` or `abs` contains an
 * `equal`/`greater` mask, and differentiating that gradient again (meta-training with second derivatives)
 * fails with "gradient function not found for Equal".
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

/**
 * Registers the zero gradients (idempotent; kernels that already have a gradient are left alone).
 *
 * @example
 * ```ts
 * registerZeroGradients();
 * tf.getGradient("Equal") !== undefined; // true
 * ```
 */
export function registerZeroGradients(): void {
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
