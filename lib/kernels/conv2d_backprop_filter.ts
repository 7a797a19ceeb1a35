/**
 * `Conv2DBackpropFilter` for the tfjs `wasm` backend (which lacks it in 4.22.0): the gradient of a 2-D
 * convolution with respect to its filter, NHWC, any strides, SAME / VALID / explicit padding.
 *
 * `dW[kh, kw, ci, co] = Σ_{b, oy, ox} x[b, oy*sH + kh*dH - padTop, ox*sW + kw*dW - padLeft, ci] · dy[b, oy, ox, co]`
 *
 * Loop order: image → tile of output rows (kept in cache) → filter tap → block of 4 input channels → block
 * of 4 output channels (16 accumulators held in registers) → output rows → output columns. The innermost
 * loop reads 4 contiguous channels of `dy` and of `x` per output pixel and writes nothing; leftover channels
 * use 1x4 and 1x1 tiles.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type ConvGeometry,
  convGradient,
  input,
  type KernelArgs,
  requireNHWC,
  rowTile,
  validRange,
  wasmBackend,
} from "./wasm_io.ts";

/**
 * Accumulates the filter gradient of an NHWC convolution into `dw` (shape `[fH, fW, inC, outC]`, overwritten).
 * `x` is `[batch, inH, inW, inC]`, `dy` is `[batch, outH, outW, outC]`.
 *
 * @example
 * ```ts
 * const g = geometryOf(info); // info: the convolution's tf.backend_util.Conv2DInfo
 * const dw = new Float32Array(g.fH * g.fW * g.inC * g.outC);
 * conv2dBackpropFilterNHWC(x, dy, dw, g);
 * ```
 */
export function conv2dBackpropFilterNHWC(
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
  g: ConvGeometry,
): void {
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW, padTop, padLeft } = g;
  dw.fill(0);
  const xColStep = sW * inC;
  const ci4 = inC - (inC % 4);
  const co4 = outC - (outC % 4);
  const tile = rowTile(outW, outC);
  for (let b = 0; b < batch; b++) {
    const xB = b * inH * inW * inC;
    const dyB = b * outH * outW * outC;
    for (let t0 = 0; t0 < outH; t0 += tile) {
      const t1 = Math.min(outH, t0 + tile);
      for (let kh = 0; kh < fH; kh++) {
        const [rr0, rr1] = validRange(kh, dH, sH, padTop, inH, outH);
        const r0 = Math.max(rr0, t0);
        const r1 = Math.min(rr1, t1);
        if (r0 >= r1) continue;
        const rowShift = kh * dH - padTop;
        for (let kw = 0; kw < fW; kw++) {
          const [c0, c1] = validRange(kw, dW, sW, padLeft, inW, outW);
          if (c0 >= c1) continue;
          const xCol0 = c0 * sW + kw * dW - padLeft;
          const wTap = (kh * fW + kw) * inC;
          // Register tile of 4 input x 4 output channels: 8 loads per 16 multiply-adds.
          for (let ci = 0; ci < ci4; ci += 4) {
            const w0 = (wTap + ci) * outC;
            const w1 = w0 + outC;
            const w2 = w1 + outC;
            const w3 = w2 + outC;
            for (let co = 0; co < co4; co += 4) {
              let a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
              let a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
              for (let oy = r0; oy < r1; oy++) {
                let xi = xB + ((oy * sH + rowShift) * inW + xCol0) * inC + ci;
                let di = dyB + (oy * outW + c0) * outC + co;
                for (let ox = c0; ox < c1; ox++) {
                  const x0 = x[xi], x1 = x[xi + 1], x2 = x[xi + 2], x3 = x[xi + 3];
                  const d0 = dy[di], d1 = dy[di + 1], d2 = dy[di + 2], d3 = dy[di + 3];
                  a00 += x0 * d0, a01 += x0 * d1, a02 += x0 * d2, a03 += x0 * d3;
                  a10 += x1 * d0, a11 += x1 * d1, a12 += x1 * d2, a13 += x1 * d3;
                  a20 += x2 * d0, a21 += x2 * d1, a22 += x2 * d2, a23 += x2 * d3;
                  a30 += x3 * d0, a31 += x3 * d1, a32 += x3 * d2, a33 += x3 * d3;
                  xi += xColStep;
                  di += outC;
                }
              }
              dw[w0 + co] += a00, dw[w0 + co + 1] += a01, dw[w0 + co + 2] += a02, dw[w0 + co + 3] += a03;
              dw[w1 + co] += a10, dw[w1 + co + 1] += a11, dw[w1 + co + 2] += a12, dw[w1 + co + 3] += a13;
              dw[w2 + co] += a20, dw[w2 + co + 1] += a21, dw[w2 + co + 2] += a22, dw[w2 + co + 3] += a23;
              dw[w3 + co] += a30, dw[w3 + co + 1] += a31, dw[w3 + co + 2] += a32, dw[w3 + co + 3] += a33;
            }
          }
          // Remaining input channels: 1 x 4 tiles.
          for (let ci = ci4; ci < inC; ci++) {
            const w0 = (wTap + ci) * outC;
            for (let co = 0; co < co4; co += 4) {
              let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
              for (let oy = r0; oy < r1; oy++) {
                let xi = xB + ((oy * sH + rowShift) * inW + xCol0) * inC + ci;
                let di = dyB + (oy * outW + c0) * outC + co;
                for (let ox = c0; ox < c1; ox++) {
                  const v = x[xi];
                  a0 += v * dy[di], a1 += v * dy[di + 1], a2 += v * dy[di + 2], a3 += v * dy[di + 3];
                  xi += xColStep;
                  di += outC;
                }
              }
              dw[w0 + co] += a0, dw[w0 + co + 1] += a1, dw[w0 + co + 2] += a2, dw[w0 + co + 3] += a3;
            }
          }
          // Remaining output channels: one (input, output) pair at a time.
          if (co4 < outC) {
            for (let ci = 0; ci < inC; ci++) {
              const w0 = (wTap + ci) * outC;
              for (let co = co4; co < outC; co++) {
                let a = 0;
                for (let oy = r0; oy < r1; oy++) {
                  let xi = xB + ((oy * sH + rowShift) * inW + xCol0) * inC + ci;
                  let di = dyB + (oy * outW + c0) * outC + co;
                  for (let ox = c0; ox < c1; ox++) {
                    a += x[xi] * dy[di];
                    xi += xColStep;
                    di += outC;
                  }
                }
                dw[w0 + co] += a;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * The kernel function: reads `x` and `dy` from the wasm heap, writes `dW` to a new wasm tensor.
 *
 * @example
 * ```ts
 * const attrs = { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: [5, 5, 8, 8] };
 * const dw = conv2dBackpropFilter({ inputs: { x, dy }, backend: tf.backend(), attrs }); // [5, 5, 8, 8]
 * ```
 */
export function conv2dBackpropFilter(
  args: KernelArgs,
): tf.TensorInfo {
  const backend = wasmBackend(args);
  const x = input(args, "x");
  const dy = input(args, "dy");
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args
    .attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  requireNHWC("Conv2DBackpropFilter", dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  return convGradient(backend, info, [...info.filterShape], x, dy, conv2dBackpropFilterNHWC);
}

/** Registration record for `tf.registerKernel`. */
export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc: conv2dBackpropFilter,
};
