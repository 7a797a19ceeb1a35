/**
 * Zero-size outputs of the tfjs `wasm` backend's (4.22.0) convolution and pooling kernels.
 *
 * When a VALID window is larger than its input (e.g. a 4x4 filter over a width-3 input, stride 2) tfjs
 * computes an output dimension of 0 and allocates an empty tensor, but the backend's native `Conv2D`,
 * `DepthwiseConv2dNative`, `MaxPool` and `AvgPool` still run (XNNPACK rounds the negative extent towards zero
 * and produces one column) and write past the empty allocation, corrupting the heap: the process later dies
 * with `RuntimeError: memory access out of bounds` in an unrelated `malloc` or `disposeData`.
 *
 * {@link guardZeroSizeOutputs} re-registers those kernels with a wrapper that returns the empty output without
 * calling the native code, as the backend's own element-wise kernels already do.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { input, type KernelArgs, wasmBackend } from "./wasm_io.ts";

type Shape4 = [number, number, number, number];

/** Output shape of each guarded kernel, computed as the backend computes it. */
const OUT_SHAPE: Record<string, (args: KernelArgs) => number[]> = {
  [tf.Conv2D]: (args) => {
    const a = args.attrs as unknown as tf.Conv2DAttrs;
    return tf.backend_util.computeConv2DInfo(
      input(args, "x").shape as Shape4,
      input(args, "filter").shape as Shape4,
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(a.dataFormat),
    ).outShape;
  },
  [tf.DepthwiseConv2dNative]: (args) => {
    const a = args.attrs as unknown as tf.DepthwiseConv2dNativeAttrs;
    return tf.backend_util.computeConv2DInfo(
      input(args, "x").shape as Shape4,
      input(args, "filter").shape as Shape4,
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      true,
    ).outShape;
  },
  [tf.MaxPool]: (args) => poolOutShape(args),
  [tf.AvgPool]: (args) => poolOutShape(args),
};

function poolOutShape(args: KernelArgs): number[] {
  const a = args.attrs as unknown as tf.MaxPoolAttrs;
  return tf.backend_util.computePool2DInfo(
    input(args, "x").shape as Shape4,
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  ).outShape;
}

/** The kernels {@link guardZeroSizeOutputs} wraps. */
export const ZERO_SIZE_GUARDED_KERNELS: readonly string[] = Object.keys(OUT_SHAPE);

const GUARDED = Symbol.for("lopt.wasmZeroSizeGuarded");

/**
 * Wraps each of {@link ZERO_SIZE_GUARDED_KERNELS} registered for `wasm` so that a zero-size output is returned
 * without running the native kernel. Idempotent; kernels not registered (yet) are skipped. Called by
 * `registerWasmKernels`.
 *
 * @example
 * ```ts
 * await tf.setBackend("wasm");
 * guardZeroSizeOutputs();
 * tf.conv2d(tf.zeros([1, 3, 3, 1]), tf.zeros([4, 4, 1, 1]), 2, "valid").shape; // [1, 0, 0, 1]
 * ```
 */
export function guardZeroSizeOutputs(): void {
  for (const name of ZERO_SIZE_GUARDED_KERNELS) {
    const config = tf.getKernel(name, "wasm");
    if (config === undefined) continue;
    const inner = config.kernelFunc as tf.KernelFunc & { [GUARDED]?: true };
    if (inner[GUARDED]) continue;
    const outShape = OUT_SHAPE[name];
    const wrapped = Object.assign((args: KernelArgs) => {
      const shape = outShape(args);
      if (tf.util.sizeFromShape(shape) === 0) {
        const backend: BackendWasm = wasmBackend(args);
        return backend.makeOutput(shape, input(args, "x").dtype);
      }
      return inner(args);
    }, { [GUARDED]: true as const });
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({ ...config, kernelFunc: wrapped });
  }
}
