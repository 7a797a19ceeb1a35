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
import {
  allocOutput,
  type ConvGeometry,
  geometryOf,
  heapF32,
  input,
  type KernelArgs,
  validRange,
  wasmBackend,
} from "./wasm_io.ts";

/**
 * Accumulates the filter gradient of an NHWC depthwise convolution into `dw` (shape `[fH, fW, inC, M]` with
 * `M = outC / inC`, overwritten). `x` is `[batch, inH, inW, inC]`, `dy` is `[batch, outH, outW, inC*M]`.
 */
export function depthwiseConv2dBackpropFilterNHWC(
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
  g: ConvGeometry,
): void {
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW, padTop, padLeft } = g;
  const mult = outC / inC;
  dw.fill(0);
  const colRanges: Array<[number, number]> = [];
  for (let kw = 0; kw < fW; kw++) colRanges.push(validRange(kw, dW, sW, padLeft, inW, outW));
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      const dyRow = ((b * outH + oy) * outW) * outC;
      for (let kh = 0; kh < fH; kh++) {
        const iy = oy * sH + kh * dH - padTop;
        if (iy < 0 || iy >= inH) continue;
        const xRow = (b * inH + iy) * inW;
        for (let kw = 0; kw < fW; kw++) {
          const [c0, c1] = colRanges[kw];
          const wTap = (kh * fW + kw) * outC;
          const colShift = kw * dW - padLeft;
          for (let ox = c0; ox < c1; ox++) {
            const xi = (xRow + ox * sW + colShift) * inC;
            const di = dyRow + ox * outC;
            if (mult === 1) {
              for (let c = 0; c < outC; c++) dw[wTap + c] += x[xi + c] * dy[di + c];
            } else {
              for (let c = 0, k = 0; c < inC; c++) {
                const v = x[xi + c];
                for (let m = 0; m < mult; m++, k++) dw[wTap + k] += v * dy[di + k];
              }
            }
          }
        }
      }
    }
  }
}

/** The kernel function: reads `x` and `dy` from the wasm heap, writes `dW` to a new wasm tensor. */
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
  const out = allocOutput(backend, [...info.filterShape]);
  const dw = heapF32(backend, out);
  depthwiseConv2dBackpropFilterNHWC(heapF32(backend, x), heapF32(backend, dy), dw, geometryOf(info));
  return out;
}

/** Registration record for `tf.registerKernel`. */
export const depthwiseConv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: "wasm",
  kernelFunc: depthwiseConv2dBackpropFilter as unknown as tf.KernelFunc,
};
