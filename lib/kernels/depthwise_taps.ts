/**
 * The loop both depthwise-convolution gradients (`depthwise_conv2d_backprop_filter.ts`, `_input.ts`) walk:
 * image → output row → filter row → filter column, handing each (row, tap) pair's run of valid output columns
 * to a visitor that loops over the columns and the channels.
 *
 * @example
 * ```ts
 * import { forEachDepthwiseRun } from "./depthwise_taps.ts";
 * let pairs = 0;
 * forEachDepthwiseRun(geometry, (_xi, _di, _wTap, count) => (pairs += count));
 * ```
 *
 * @module
 */
import { type ConvGeometry, validRange } from "./wasm_io.ts";

/**
 * Visits one run of output columns of one output row and filter tap: `xi` is the offset in `x` (or `dx`) of
 * the first column's input pixel, `di` the offset in `dy` of the first output pixel, `wTap` the offset of the
 * tap in the filter (`[fH, fW, inC, M]`), `count` the number of columns; the next column is `xStep` further in
 * `x` and `outC` further in `dy`.
 *
 * @example
 * ```ts
 * const visit: DepthwiseRunVisitor = (xi, di, wTap, count, xStep) => console.log(xi, di, wTap, count, xStep);
 * ```
 */
export type DepthwiseRunVisitor = (
  xi: number,
  di: number,
  wTap: number,
  count: number,
  xStep: number,
) => void;

/**
 * Calls `visit` for every output row and filter tap whose input row lies inside the input, in the order
 * image → output row → filter row → filter column, with the run of output columns whose input column does.
 *
 * @example
 * ```ts
 * forEachDepthwiseRun(g, (xi, di, wTap, count, xStep) => {
 *   for (let q = 0; q < count; q++, xi += xStep, di += g.outC) dw[wTap] += x[xi] * dy[di];
 * });
 * ```
 */
export function forEachDepthwiseRun(g: ConvGeometry, visit: DepthwiseRunVisitor): void {
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW, padTop, padLeft } = g;
  const colRanges: Array<[number, number]> = [];
  for (let kw = 0; kw < fW; kw++) colRanges.push(validRange(kw, dW, sW, padLeft, inW, outW));
  const xStep = sW * inC;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      const dyRow = ((b * outH + oy) * outW) * outC;
      for (let kh = 0; kh < fH; kh++) {
        const iy = oy * sH + kh * dH - padTop;
        if (iy < 0 || iy >= inH) continue;
        const xRow = (b * inH + iy) * inW;
        for (let kw = 0; kw < fW; kw++) {
          const [c0, c1] = colRanges[kw];
          if (c1 <= c0) continue;
          const colShift = kw * dW - padLeft;
          visit((xRow + c0 * sW + colShift) * inC, dyRow + c0 * outC, (kh * fW + kw) * outC, c1 - c0, xStep);
        }
      }
    }
  }
}
