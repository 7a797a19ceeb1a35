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
 * Writes the input gradient of an NHWC depthwise convolution into `dx` (shape `[batch, inH, inW, inC]`,
 * overwritten). `dy` is `[batch, outH, outW, inC*M]`, `w` is `[fH, fW, inC, M]`.
 */
export function depthwiseConv2dBackpropInputNHWC(
  dy: Float32Array,
  w: Float32Array,
  dx: Float32Array,
  g: ConvGeometry,
): void {
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW, padTop, padLeft } = g;
  const mult = outC / inC;
  dx.fill(0);
  const colRanges: Array<[number, number]> = [];
  for (let kw = 0; kw < fW; kw++) colRanges.push(validRange(kw, dW, sW, padLeft, inW, outW));
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      const dyRow = ((b * outH + oy) * outW) * outC;
      for (let kh = 0; kh < fH; kh++) {
        const iy = oy * sH + kh * dH - padTop;
        if (iy < 0 || iy >= inH) continue;
        const dxRow = (b * inH + iy) * inW;
        for (let kw = 0; kw < fW; kw++) {
          const [c0, c1] = colRanges[kw];
          const wTap = (kh * fW + kw) * outC;
          const colShift = kw * dW - padLeft;
          for (let ox = c0; ox < c1; ox++) {
            const xi = (dxRow + ox * sW + colShift) * inC;
            const di = dyRow + ox * outC;
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
        }
      }
    }
  }
}

/** The kernel function: reads `dy` and the filter from the wasm heap, writes `dx` to a new wasm tensor. */
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
  const out = allocOutput(backend, [...info.inShape]);
  const dx = heapF32(backend, out);
  depthwiseConv2dBackpropInputNHWC(heapF32(backend, dy), heapF32(backend, filter), dx, geometryOf(info));
  return out;
}

/** Registration record for `tf.registerKernel`. */
export const depthwiseConv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: "wasm",
  kernelFunc: depthwiseConv2dBackpropInput as unknown as tf.KernelFunc,
};
