/**
 * The BiasGRUCell of `gru.ts` ({@link biasGruCell}: the reference row form) as ONE tfjs kernel with a
 * hand-written gradient, for the tiny tensor-level and global RNNs of the differentiable fused update
 * (`fused_taped.ts`): a few rows of ≤ 64 units, where the ~20 ops of the row form (and ~50 on the backward
 * pass) cost far more dispatch than arithmetic. Forward and backward are plain TypeScript loops in float64 on
 * the inputs' float32 data (results rounded to float32), on any backend.
 *
 * Kernels `LoptSmallGru` (inputs x [B, D], h [B, N], gatesW [D+N, 2N], gatesB [2N], candW [D+N, N], candB [N])
 * and `LoptSmallGruBias` (plus bias [1, 3N] broadcast over the rows, or [B, 3N] one per row). Output h' [B, N]. The gradient
 * returns the cotangent of every input; it is not itself differentiable (meta-training never differentiates a
 * meta-gradient).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GruWeights } from "./gru.ts";

const NAMES = { plain: "LoptSmallGru", bias: "LoptSmallGruBias" } as const;
const INPUTS = ["x", "h", "gatesW", "gatesB", "candW", "candB"];

interface Arrays {
  x: Float32Array;
  h: Float32Array;
  wg: Float32Array;
  bg: Float32Array;
  wc: Float32Array;
  bc: Float32Array;
  bias: Float32Array | null;
  biasRows: number;
  b: number;
  d: number;
  n: number;
}

/** Forward intermediates per row: r, u, c, and h'. */
function forward(a: Arrays) {
  const { b, d, n } = a;
  const r = new Float64Array(b * n), u = new Float64Array(b * n), c = new Float64Array(b * n);
  const out = new Float32Array(b * n);
  const xh = new Float64Array(d + n);
  for (let row = 0; row < b; row++) {
    const bo = a.bias ? (a.biasRows === 1 ? 0 : row) * 3 * n : -1;
    for (let i = 0; i < d; i++) xh[i] = a.x[row * d + i];
    for (let i = 0; i < n; i++) xh[d + i] = a.h[row * n + i];
    for (let o = 0; o < 2 * n; o++) {
      let s = a.bg[o] + (bo >= 0 ? a.bias![bo + o] : 0);
      for (let i = 0; i < d + n; i++) s += xh[i] * a.wg[i * 2 * n + o];
      const v = 1 / (1 + Math.exp(-s));
      if (o < n) r[row * n + o] = v;
      else u[row * n + o - n] = v;
    }
    for (let i = 0; i < n; i++) xh[d + i] = r[row * n + i] * a.h[row * n + i];
    for (let o = 0; o < n; o++) {
      let s = a.bc[o] + (bo >= 0 ? a.bias![bo + 2 * n + o] : 0);
      for (let i = 0; i < d + n; i++) s += xh[i] * a.wc[i * n + o];
      const cv = Math.tanh(s);
      c[row * n + o] = cv;
      const uv = u[row * n + o];
      out[row * n + o] = uv * a.h[row * n + o] + (1 - uv) * cv;
    }
  }
  return { r, u, c, out };
}

function arrays(read: (name: string) => { data: Float32Array; shape: number[] } | null): Arrays {
  const x = read("x")!, h = read("h")!, bias = read("bias");
  return {
    x: x.data,
    h: h.data,
    wg: read("gatesW")!.data,
    bg: read("gatesB")!.data,
    wc: read("candW")!.data,
    bc: read("candB")!.data,
    bias: bias ? bias.data : null,
    biasRows: bias ? bias.shape[0] : 0,
    b: x.shape[0],
    d: x.shape[1],
    n: h.shape[1],
  };
}

/** The cotangents of every input given dh' (float64 arithmetic). */
function backward(a: Arrays, dy: Float32Array) {
  const { b, d, n } = a;
  const { r, u, c } = forward(a);
  const dx = new Float64Array(b * d), dh = new Float64Array(b * n);
  const dwg = new Float64Array((d + n) * 2 * n), dbg = new Float64Array(2 * n);
  const dwc = new Float64Array((d + n) * n), dbc = new Float64Array(n);
  const dbias = a.bias ? new Float64Array(a.biasRows * 3 * n) : null;
  const dzc = new Float64Array(n), dg = new Float64Array(2 * n);
  for (let row = 0; row < b; row++) {
    const bo = dbias ? (a.biasRows === 1 ? 0 : row) * 3 * n : -1;
    for (let o = 0; o < n; o++) {
      const q = row * n + o;
      const dyo = dy[q];
      dh[q] += dyo * u[q];
      dg[n + o] = dyo * (a.h[q] - c[q]) * u[q] * (1 - u[q]);
      dzc[o] = dyo * (1 - u[q]) * (1 - c[q] * c[q]);
      dbc[o] += dzc[o];
      if (bo >= 0) dbias![bo + 2 * n + o] += dzc[o];
    }
    for (let i = 0; i < d + n; i++) {
      const xi = i < d ? a.x[row * d + i] : r[row * n + i - d] * a.h[row * n + i - d];
      let s = 0;
      for (let o = 0; o < n; o++) {
        dwc[i * n + o] += xi * dzc[o];
        s += a.wc[i * n + o] * dzc[o];
      }
      if (i < d) {
        dx[row * d + i] += s;
      } else {
        const q = row * n + i - d;
        dh[q] += s * r[q];
        dg[i - d] = s * a.h[q] * r[q] * (1 - r[q]);
      }
    }
    for (let o = 0; o < 2 * n; o++) {
      dbg[o] += dg[o];
      if (bo >= 0) dbias![bo + o] += dg[o];
    }
    for (let i = 0; i < d + n; i++) {
      const xi = i < d ? a.x[row * d + i] : a.h[row * n + i - d];
      let s = 0;
      for (let o = 0; o < 2 * n; o++) {
        dwg[i * 2 * n + o] += xi * dg[o];
        s += a.wg[i * 2 * n + o] * dg[o];
      }
      if (i < d) dx[row * d + i] += s;
      else dh[row * n + i - d] += s;
    }
  }
  return { dx, dh, dwg, dbg, dwc, dbc, dbias };
}

let registered = false;

function registerOnce(): void {
  if (registered) return;
  registered = true;
  for (const withBias of [false, true]) {
    const kernelName = withBias ? NAMES.bias : NAMES.plain;
    const names = withBias ? [...INPUTS, "bias"] : INPUTS;
    for (const backendName of ["wasm", "cpu"]) {
      tf.registerKernel({
        kernelName,
        backendName,
        kernelFunc: ({ inputs, backend }) => {
          const be = backend as unknown as {
            readSync(id: object): Float32Array;
            makeTensorInfo?(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo;
            makeOutput?(shape: number[], dtype: string): tf.TensorInfo;
            typedArrayFromHeap?(t: tf.TensorInfo): Float32Array;
          };
          const named = inputs as Record<string, tf.TensorInfo | undefined>;
          const a = arrays((nm) => {
            const t = named[nm];
            return t ? { data: be.readSync(t.dataId) as Float32Array, shape: t.shape } : null;
          });
          const out = forward(a).out;
          if (be.makeOutput && be.typedArrayFromHeap) {
            // wasm: allocate on the heap, then write (views after the allocation, which may grow the heap).
            const info = be.makeOutput([a.b, a.n], "float32");
            be.typedArrayFromHeap(info).set(out);
            return info;
          }
          return be.makeTensorInfo!([a.b, a.n], "float32", out);
        },
      });
    }
    tf.registerGradient({
      kernelName,
      inputsToSave: names,
      gradFunc: (dy, saved) => {
        const byName = new Map(names.map((nm, i) => [nm, saved[i]]));
        const a = arrays((nm) => {
          const t = byName.get(nm);
          return t ? { data: t.dataSync() as Float32Array, shape: t.shape } : null;
        });
        const g = backward(a, (dy as tf.Tensor).dataSync() as Float32Array);
        const shapeOf = (nm: string) => byName.get(nm)!.shape;
        const out: Record<string, () => tf.Tensor> = {
          x: () => tf.tensor(Float32Array.from(g.dx), shapeOf("x")),
          h: () => tf.tensor(Float32Array.from(g.dh), shapeOf("h")),
          gatesW: () => tf.tensor(Float32Array.from(g.dwg), shapeOf("gatesW")),
          gatesB: () => tf.tensor(Float32Array.from(g.dbg), shapeOf("gatesB")),
          candW: () => tf.tensor(Float32Array.from(g.dwc), shapeOf("candW")),
          candB: () => tf.tensor(Float32Array.from(g.dbc), shapeOf("candB")),
        };
        if (g.dbias) out.bias = () => tf.tensor(Float32Array.from(g.dbias!), shapeOf("bias"));
        return out;
      },
    });
  }
}

/**
 * One BiasGRUCell step as a single kernel: the same function as `biasGruCell(w, x, h, bias)` (x [B, D], h [B,
 * N], bias [1, 3N] broadcast over the rows, [B, 3N] one per row, or null), differentiable w.r.t. every input
 * through a hand-written gradient.
 *
 * @example
 * ```ts
 * const h1 = smallGruCell(weights, u1, layersOld, bias1); // [T, N1]
 * ```
 */
export function smallGruCell(
  w: GruWeights,
  x: tf.Tensor2D,
  h: tf.Tensor2D,
  bias: tf.Tensor2D | null,
): tf.Tensor2D {
  if (bias && bias.shape[0] !== 1 && bias.shape[0] !== h.shape[0]) {
    throw new Error(
      `smallGruCell: bias must be one row [1, ${3 * h.shape[1]}] or one per row [${h.shape[0]}, ${
        3 * h.shape[1]
      }], got [${bias.shape}].`,
    );
  }
  registerOnce();
  const inputs: tf.NamedTensorMap = {
    x,
    h,
    gatesW: w.gatesW,
    gatesB: w.gatesB,
    candW: w.candW,
    candB: w.candB,
  };
  if (bias) inputs.bias = bias;
  return tf.engine().runKernel(bias ? NAMES.bias : NAMES.plain, inputs) as tf.Tensor2D;
}
