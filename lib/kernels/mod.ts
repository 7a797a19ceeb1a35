/**
 * TypeScript kernels that fill the gaps of the tfjs `wasm` backend (4.22.0) for ConvNet training:
 * `Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropFilter`, `DepthwiseConv2dNativeBackpropInput`
 * (convolution gradients) and `UnsortedSegmentSum` (gradient of `tf.gather`), plus two guards against the
 * backend corrupting its own heap: out-of-memory allocations throw a {@link WasmOutOfMemoryError}
 * (`heap_guard.ts`), and convolutions / poolings with a zero-size output skip the native kernel
 * (`zero_size_guard.ts`). Built-in kernels with wrong results are replaced: `Sign` (`sign.ts`; the built-in
 * one returns 0 for |x| < 1.19e-7).
 *
 * `lib/backend.ts` calls {@link registerMissingKernels} from `initBackend`; tests and scripts that switch
 * backends themselves call {@link registerWasmKernels}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { conv2dBackpropFilterConfig } from "./conv2d_backprop_filter.ts";
import { depthwiseConv2dBackpropFilterConfig } from "./depthwise_conv2d_backprop_filter.ts";
import { depthwiseConv2dBackpropInputConfig } from "./depthwise_conv2d_backprop_input.ts";
import { unsortedSegmentSumConfig } from "./unsorted_segment_sum.ts";
import { signConfig } from "./sign.ts";
import { installHeapGuard } from "./heap_guard.ts";
import { guardZeroSizeOutputs } from "./zero_size_guard.ts";

export { installHeapGuard, WASM_HEAP_LIMIT, WasmOutOfMemoryError } from "./heap_guard.ts";
export { guardZeroSizeOutputs, ZERO_SIZE_GUARDED_KERNELS } from "./zero_size_guard.ts";

/** Every kernel lopt provides for the wasm backend. */
export const WASM_KERNELS: readonly tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  unsortedSegmentSumConfig,
];

/** lopt's replacements for built-in wasm kernels that give wrong results (registered over them). */
export const WASM_KERNEL_FIXES: readonly tf.KernelConfig[] = [signConfig];

/**
 * Registers each of {@link WASM_KERNELS} that the wasm backend does not already have (a later tfjs that ships
 * its own keeps it) and installs the out-of-memory and zero-size guards ({@link installHeapGuard},
 * {@link guardZeroSizeOutputs}). Idempotent. Returns the names registered by this call.
 *
 * @example
 * ```ts
 * registerWasmKernels(); // ["Conv2DBackpropFilter", ..., "Sign"] on the first call
 * registerWasmKernels(); // []
 * ```
 */
export function registerWasmKernels(): string[] {
  installHeapGuard();
  guardZeroSizeOutputs();
  const added: string[] = [];
  for (const config of WASM_KERNELS) {
    if (tf.getKernel(config.kernelName, "wasm") !== undefined) continue;
    tf.registerKernel(config);
    added.push(config.kernelName);
  }
  for (const config of WASM_KERNEL_FIXES) {
    const current = tf.getKernel(config.kernelName, "wasm");
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current !== undefined) tf.unregisterKernel(config.kernelName, "wasm");
    tf.registerKernel(config);
    added.push(config.kernelName);
  }
  return added;
}

/**
 * The kernels of {@link WASM_KERNELS} and {@link WASM_KERNEL_FIXES} that `backend` has no kernel for (the
 * WebGPU backend of tfjs 4.22 ships all of them; its `Sign` is correct for tiny values, which the tests
 * check).
 *
 * @example
 * ```ts
 * missingKernels("webgpu"); // [] once tfjs-backend-webgpu is imported
 * ```
 */
export function missingKernels(backend: string): string[] {
  return [...WASM_KERNELS, ...WASM_KERNEL_FIXES].map((c) => c.kernelName).filter((k) =>
    tf.getKernel(k, backend) === undefined
  );
}

/**
 * Kernel registrar for `addKernelRegistrar` in `lib/backend.ts`: registers the wasm kernels for `wasm`; for
 * `webgpu`, checks that the backend has its own kernel for each of them and throws naming any it lacks.
 *
 * @example
 * ```ts
 * registerMissingKernels("wasm");
 * ```
 */
export function registerMissingKernels(backend: string): void {
  if (backend === "wasm") registerWasmKernels();
  if (backend === "webgpu") {
    const missing = missingKernels("webgpu");
    if (missing.length) {
      throw new Error(`the tfjs webgpu backend lacks kernels lopt needs: ${missing.join(", ")}`);
    }
  }
}
