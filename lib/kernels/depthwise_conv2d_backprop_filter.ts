/**
 * `DepthwiseConv2dNativeBackpropFilter` for the tfjs `wasm` backend (missing in 4.22.0): the gradient of a
 * depthwise 2-D convolution with respect to its filter, NHWC, any strides, dilations, SAME / VALID /
 * explicit padding, any channel multiplier.
 *
 * `dW[kh, kw, c, m] = Σ_{b, oy, ox} x[b, oy*sH + kh*dH - padTop, ox*sW + kw*dW - padLeft, c] · dy[b, oy, ox, c*M + m]`
 *
 * Loop order: image → output row → filter row → output column → filter column → channels. The innermost loop
 * walks one pixel's channels, contiguous in `x`, `dy` and the filter-gradient tap (which stays in L1).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type ConvGeometry, convGradient, input, type KernelArgs, wasmBackend } from "./wasm_io.ts";
import { forEachDepthwiseRun } from "./depthwise_taps.ts";

/**
 * Accumulates the filter gradient of an NHWC depthwise convolution into `dw` (shape `[fH, fW, inC, M]` with
 * `M = outC / inC`, overwritten). `x` is `[batch, inH, inW, inC]`, `dy` is `[batch, outH, outW, inC*M]`.
 *
 * @example
 * ```ts
 * const g = geometryOf(info); // info: the convolution's tf.backend_util.Conv2DInfo
 * const dw = new Float32Array(g.fH * g.fW * g.outC);
 * depthwiseConv2dBackpropFilterNHWC(x, dy, dw, g);
 * ```
 */
export function depthwiseConv2dBackpropFilterNHWC(
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
  g: ConvGeometry,
): void {
  const { inC, outC } = g;
  const mult = outC / inC;
  dw.fill(0);
  forEachDepthwiseRun(g, (xi, di, wTap, count, xStep) => {
    for (let q = 0; q < count; q++, xi += xStep, di += outC) {
      if (mult === 1) {
        for (let c = 0; c < outC; c++) dw[wTap + c] += x[xi + c] * dy[di + c];
      } else {
        for (let c = 0, k = 0; c < inC; c++) {
          const v = x[xi + c];
          for (let m = 0; m < mult; m++, k++) dw[wTap + k] += v * dy[di + k];
        }
      }
    }
  });
}

/**
 * The kernel function: reads `x` and `dy` from the wasm heap, writes `dW` to a new wasm tensor.
 *
 * @example
 * ```ts
 * const attrs = { strides: 1, pad: "same", dilations: 1, filterShape: [5, 5, 8, 1] };
 * const dw = depthwiseConv2dBackpropFilter({ inputs: { x, dy }, backend: tf.backend(), attrs }); // [5, 5, 8, 1]
 * ```
 */
export function depthwiseConv2dBackpropFilter(
  args: KernelArgs,
): tf.TensorInfo {
  const backend = wasmBackend(args);
  const x = input(args, "x");
  const dy = input(args, "dy");
  const { strides, dilations, pad, dimRoundingMode, filterShape } = args
    .attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  return convGradient(backend, info, [...info.filterShape], x, dy, depthwiseConv2dBackpropFilterNHWC);
}

/** Registration record for `tf.registerKernel`. */
export const depthwiseConv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: "wasm",
  kernelFunc: depthwiseConv2dBackpropFilter,
};
