/**
 * The gradient of the WGSL HRNN pass: the registered gradient of the `LoptHrnnCoordsWebGPU` kernel runs the
 * VJP shader (`webgpu_vjp_shader.ts`) once per backward call, so `tf.grad` through a WebGPU update reaches the
 * meta-parameters, the gradients and every state tensor, as through the ops path. Every op around the pass
 * (packing, μ_ℓ, biases, tensor and global RNN) differentiates as usual.
 *
 * @example
 * ```ts
 * import { registerWebGpuGradient } from "./webgpu_vjp.ts";
 * registerWebGpuGradient("LoptHrnnCoordsWebGPU");
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { registerKernelOnce } from "./engine.ts";
import { type PassAttrs, passKernel } from "./webgpu_program.ts";
import { rowCounts, weightLayout, WORKGROUP } from "./webgpu_shader.ts";
import { vjpSumsWidth } from "./webgpu_vjp_shader.ts";

/**
 * Name of the VJP kernel (run by the registered gradient of the pass).
 *
 * @example
 * ```ts
 * const calls = (name: string) => name === WEBGPU_VJP_KERNEL_NAME;
 * ```
 */
export const WEBGPU_VJP_KERNEL_NAME = "LoptHrnnCoordsWebGPUVjp";

/**
 * The backward pass of the packed kernel: one VJP dispatch given the cotangent of its packed output, then
 * slices and one sum over workgroups. Returns the cotangents of X, H, W and V (μ_ℓ; zeros for the first-step
 * indicators, which are constants; the external bias gets the gate and candidate bias cotangents).
 */
function packedVjp(
  dy: tf.Tensor,
  saved: tf.Tensor[],
  attrs: PassAttrs,
): Record<"X" | "H" | "W" | "V", tf.Tensor> {
  const [x, h, w, v] = saved;
  const { n, k, n0 } = attrs;
  const lay = weightLayout(attrs);
  const { inRows } = rowCounts(attrs);
  const cw = vjpSumsWidth(attrs);
  const groups = Math.ceil(n / WORKGROUP);
  const out = tf.engine().runKernel(
    WEBGPU_VJP_KERNEL_NAME,
    { X: x, H: h, W: w, V: v, DY: dy },
    attrs,
  ) as tf.Tensor1D;
  const dX = tf.slice(out, [0], [inRows * n]).reshape(x.shape);
  const dH = tf.slice(out, [inRows * n], [n * n0]).reshape(h.shape);
  const sums = tf.sum(tf.slice(out, [inRows * n + n * n0], [groups * cw]).reshape([groups, cw]), 0);
  const dW = tf.slice(sums, [0], [lay.total]);
  const dV = tf.concat([
    tf.slice(sums, [lay.total], [1]),
    tf.zeros([k]),
    tf.slice(sums, [lay.gatesB], [2 * n0]),
    tf.slice(sums, [lay.candB], [n0]),
  ]);
  out.dispose();
  return { X: dX, H: dH, W: dW, V: dV };
}

/**
 * Registers the VJP kernel and the gradient of the pass kernel `passKernelName` (once per process).
 *
 * @example
 * ```ts
 * registerWebGpuGradient(WEBGPU_KERNEL_NAME);
 * ```
 */
export function registerWebGpuGradient(passKernelName: string): void {
  registerKernelOnce({
    kernelName: WEBGPU_VJP_KERNEL_NAME,
    backendName: "webgpu",
    kernelFunc: passKernel(true),
  });
  if (tf.getGradient(passKernelName) !== undefined) return;
  tf.registerGradient({
    kernelName: passKernelName,
    inputsToSave: ["X", "H", "W", "V"],
    gradFunc: (dy, saved, attrs) => {
      // One VJP dispatch for all four cotangents; tfjs calls each closure right after (tfjs-core 4.22 tape).
      const g = packedVjp(dy as tf.Tensor, saved, attrs as PassAttrs);
      return { X: () => g.X, H: () => g.H, W: () => g.W, V: () => g.V };
    },
  });
}
