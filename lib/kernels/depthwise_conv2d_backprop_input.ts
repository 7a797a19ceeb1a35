/**
 * `DepthwiseConv2dNativeBackpropInput` for the tfjs `wasm` backend (missing in 4.22.0): the gradient of a
 * depthwise 2-D convolution with respect to its input, NHWC, any strides, dilations, SAME / VALID / explicit
 * padding, any channel multiplier.
 *
 * `dx[b, oy*sH + kh*dH - padTop, ox*sW + kw*dW - padLeft, c] += Σ_m dy[b, oy, ox, c*M + m] · w[kh, kw, c, m]`
 *
 * Computed as a scatter from each output pixel: image → output row → filter row → output column → filter
 * column → channels, so the innermost loop walks one pixel's channels contiguously in `dx`, `dy` and `w`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type ConvGeometry, convGradient, input, type KernelArgs, wasmBackend } from "./wasm_io.ts";
import { forEachDepthwiseRun } from "./depthwise_taps.ts";

/**
 * Writes the input gradient of an NHWC depthwise convolution into `dx` (shape `[batch, inH, inW, inC]`,
 * overwritten). `dy` is `[batch, outH, outW, inC*M]`, `w` is `[fH, fW, inC, M]`.
 *
 * @example
 * ```ts
 * const g = geometryOf(info); // info: the convolution's tf.backend_util.Conv2DInfo
 * const dx = new Float32Array(g.batch * g.inH * g.inW * g.inC);
 * depthwiseConv2dBackpropInputNHWC(dy, w, dx, g);
 * ```
 */
export function depthwiseConv2dBackpropInputNHWC(
  dy: Float32Array,
  w: Float32Array,
  dx: Float32Array,
  g: ConvGeometry,
): void {
  const { inC, outC } = g;
  const mult = outC / inC;
  dx.fill(0);
  forEachDepthwiseRun(g, (xi, di, wTap, count, xStep) => {
    for (let q = 0; q < count; q++, xi += xStep, di += outC) {
      if (mult === 1) {
        for (let c = 0; c < outC; c++) dx[xi + c] += dy[di + c] * w[wTap + c];
      } else {
        for (let c = 0, k = 0; c < inC; c++) {
          let s = 0;
          for (let m = 0; m < mult; m++, k++) s += dy[di + k] * w[wTap + k];
          dx[xi + c] += s;
        }
      }
    }
  });
}

/**
 * The kernel function: reads `dy` and the filter from the wasm heap, writes `dx` to a new wasm tensor.
 *
 * @example
 * ```ts
 * const attrs = { strides: 1, pad: "same", dilations: 1, inputShape: [64, 28, 28, 8] };
 * const dx = depthwiseConv2dBackpropInput({ inputs: { dy, filter }, backend: tf.backend(), attrs });
 * ```
 */
export function depthwiseConv2dBackpropInput(
  args: KernelArgs,
): tf.TensorInfo {
  const backend = wasmBackend(args);
  const dy = input(args, "dy");
  const filter = input(args, "filter");
  const { strides, dilations, pad, dimRoundingMode, inputShape } = args
    .attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  return convGradient(backend, info, [...info.inShape], dy, filter, depthwiseConv2dBackpropInputNHWC);
}

/** Registration record for `tf.registerKernel`. */
export const depthwiseConv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: "wasm",
  kernelFunc: depthwiseConv2dBackpropInput,
};
