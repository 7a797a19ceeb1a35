/**
 * The two pieces of tfjs engine plumbing every HRNN update path shares: whether a gradient tape is recording
 * (which decides between the inference kernels and a differentiable path) and registering a custom kernel
 * once per process.
 *
 * @example
 * ```ts
 * import { gradientRecording } from "./engine.ts";
 * const path = gradientRecording() ? "taped" : "inference";
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Whether a gradient tape is recording now (the tfjs engine's `gradientDepth`).
 *
 * @example
 * ```ts
 * tf.grad((x: tf.Tensor) => (gradientRecording() ? x.square() : x))(tf.scalar(1)); // records: 2
 * ```
 */
export function gradientRecording(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

/**
 * Registers `config` with tfjs unless a kernel of that name is already registered for its backend.
 *
 * @example
 * ```ts
 * registerKernelOnce({ kernelName: "MyKernel", backendName: "wasm", kernelFunc: ({ inputs }) => inputs.x });
 * ```
 */
export function registerKernelOnce(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName) !== undefined) return;
  tf.registerKernel(config);
}
