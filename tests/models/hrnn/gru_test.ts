import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import {
  biasGruCell,
  biasGruCellBatched,
  type GruWeights,
  prepareBatchedGru,
} from "../../../models/hrnn/gru.ts";
import { asinhLog, matMul, matMulBias, straightThroughClip, tanhFast } from "../../../models/hrnn/ops.ts";
import { vals } from "./helpers.ts";

await initBackend();

function randomGru(d: number, n: number, rng: Rng): GruWeights {
  return {
    gatesW: tf.tensor2d(rng.normalArray((d + n) * 2 * n, 0, 0.5), [d + n, 2 * n]),
    gatesB: tf.tensor1d(rng.normalArray(2 * n, 2.2, 0.3)),
    candW: tf.tensor2d(rng.normalArray((d + n) * n, 0, 0.5), [d + n, n]),
    candB: tf.tensor1d(rng.normalArray(n, 0, 0.3)),
  };
}

function close(a: number[], b: number[], tol: number, what: string) {
  assert.equal(a.length, b.length, what);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) <= tol, `${what}[${i}]: ${x} vs ${b[i]}`));
}

Deno.test("BiasGRUCell: hand-computed single unit", () => {
  // D = 1, N = 1: every matrix is 2×1 or 2×2, so the cell is easy to evaluate by hand.
  const w: GruWeights = {
    gatesW: tf.tensor2d([[0.3, -0.2], [0.5, 0.4]]),
    gatesB: tf.tensor1d([2.2, 2.2]),
    candW: tf.tensor2d([[0.7], [-0.6]]),
    candB: tf.tensor1d([0.1]),
  };
  const x = 0.8, h = -0.5, b = [0.05, -0.1, 0.2];
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const r = sig(x * 0.3 + h * 0.5 + 2.2 + b[0]);
  const u = sig(x * -0.2 + h * 0.4 + 2.2 + b[1]);
  const c = Math.tanh(x * 0.7 + r * h * -0.6 + 0.1 + b[2]);
  const expected = u * h + (1 - u) * c;
  const got = biasGruCell(w, tf.tensor2d([[x]]), tf.tensor2d([[h]]), tf.tensor2d([b]));
  close(vals(got), [expected], 1e-6, "h'");
  const noBias = biasGruCell(w, tf.tensor2d([[x]]), tf.tensor2d([[h]]), null);
  const r0 = sig(x * 0.3 + h * 0.5 + 2.2), u0 = sig(x * -0.2 + h * 0.4 + 2.2);
  close(vals(noBias), [u0 * h + (1 - u0) * Math.tanh(x * 0.7 + r0 * h * -0.6 + 0.1)], 1e-6, "h' no bias");
});

Deno.test("batched per-gate formulation equals the reference cell, with and without external bias", () => {
  const rng = new Rng(5);
  const d = 12, n = 10, rows = 37;
  const w = randomGru(d, n, rng);
  const x = tf.tensor2d(rng.normalArray(rows * d), [rows, d]);
  const h = tf.tensor2d(rng.uniformArray(rows * n, -1, 1), [rows, n]);
  const bias = tf.tensor2d(rng.normalArray(3 * n, 0, 0.5), [1, 3 * n]);
  for (const b of [bias, null]) {
    const ref = biasGruCell(w, x, h, b);
    const fast = biasGruCellBatched(prepareBatchedGru(w), x, h, b);
    assert.deepEqual(fast.shape, [rows, n]);
    close(vals(fast), vals(ref), 2e-6, b ? "biased" : "unbiased");
  }
  // Gradients w.r.t. the stored weights agree too.
  const loss = (f: (w: GruWeights) => tf.Tensor) => (gw: tf.Tensor, cw: tf.Tensor) =>
    tf.sum(tf.square(f({ ...w, gatesW: gw, candW: cw }))) as tf.Scalar;
  const gRef = tf.grads(loss((ww) => biasGruCell(ww, x, h, bias)))([w.gatesW, w.candW]);
  const gFast = tf.grads(loss((ww) => biasGruCellBatched(prepareBatchedGru(ww), x, h, bias)))([
    w.gatesW,
    w.candW,
  ]);
  close(vals(gFast[0]), vals(gRef[0]), 1e-4, "dW_g");
  close(vals(gFast[1]), vals(gRef[1]), 1e-4, "dW_c");
});

Deno.test("gate bias 2.2 keeps ~90% of the old state at init (§3)", () => {
  const n = 4;
  const w: GruWeights = {
    gatesW: tf.zeros([2 + n, 2 * n]),
    gatesB: tf.fill([2 * n], 2.2) as tf.Tensor1D,
    candW: tf.zeros([2 + n, n]),
    candB: tf.zeros([n]),
  };
  const h = tf.ones([1, n]) as tf.Tensor2D;
  const out = vals(biasGruCell(w, tf.zeros([1, 2]), h, null));
  const keep = 1 / (1 + Math.exp(-2.2));
  close(out, [keep, keep, keep, keep], 1e-6, "h'");
  assert.ok(Math.abs(keep - 0.9) < 0.01);
});

Deno.test("matMul / matMulBias: same values and gradients as tf.matMul", () => {
  const rng = new Rng(2);
  const a = tf.tensor2d(rng.normalArray(50 * 7), [50, 7]);
  const b = tf.tensor2d(rng.normalArray(7 * 3), [7, 3]);
  const c = tf.tensor1d(rng.normalArray(3));
  close(vals(matMul(a, b)), vals(tf.matMul(a, b)), 1e-5, "matMul");
  close(vals(matMulBias(a, b, c)), vals(tf.add(tf.matMul(a, b), c)), 1e-5, "matMulBias");
  const weight = tf.tensor2d(rng.normalArray(50 * 3), [50, 3]);
  const f1 = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
    tf.sum(tf.mul(weight, matMulBias(x as tf.Tensor2D, y as tf.Tensor2D, z as tf.Tensor1D))) as tf.Scalar;
  const f2 = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
    tf.sum(tf.mul(weight, tf.add(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D), z))) as tf.Scalar;
  const g1 = tf.grads(f1)([a, b, c]);
  const g2 = tf.grads(f2)([a, b, c]);
  g1.forEach((g, i) => close(vals(g), vals(g2[i]), 1e-4, `grad ${i}`));
});

Deno.test("straight-through clip: value clipped, gradient passes unchanged", () => {
  const x = tf.tensor1d([-40, -5, 0, 5, 40]);
  const y = straightThroughClip(x, -33, 10);
  assert.deepEqual(vals(y), [-33, -5, 0, 5, 10]);
  const coef = tf.tensor1d([1, 2, 3, 4, 5]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(coef, straightThroughClip(t, -33, 10))))(x);
  assert.deepEqual(vals(g), [1, 2, 3, 4, 5]);
  // A plain clip would block the gradient outside the range.
  const plain = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(coef, tf.clipByValue(t, -33, 10))))(x);
  assert.deepEqual(vals(plain), [0, 2, 3, 4, 0]);
});

Deno.test("tanhFast and asinhLog match Math.tanh / Math.asinh", () => {
  const xs = [-6, -2, -0.5, 0, 0.3, 1, 4];
  close(vals(tanhFast(tf.tensor1d(xs))), xs.map(Math.tanh), 2e-7 * 8, "tanh");
  close(vals(asinhLog(tf.tensor1d(xs))), xs.map(Math.asinh), 2e-5, "asinh");
});
