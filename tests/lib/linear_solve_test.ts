import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { linearSolve } from "../../lib/linear_solve.ts";
import { Rng } from "../../lib/rng.ts";

await initBackend();

/** Oracle: Gauss-Jordan elimination without pivoting, in tfjs ops (differentiable by tfjs itself). */
function gaussJordan(m: tf.Tensor2D, r: tf.Tensor2D): tf.Tensor2D {
  const k = m.shape[0], cols = k + r.shape[1];
  let a = tf.concat([m, r], 1) as tf.Tensor2D;
  for (let i = 0; i < k; i++) {
    const row = tf.slice(a, [i, 0], [1, cols]);
    const normRow = tf.div(row, tf.slice(row, [0, i], [1, 1]));
    const e = new Float32Array(k);
    e[i] = 1;
    a = tf.sub(
      a,
      tf.mul(tf.sub(tf.slice(a, [0, i], [k, 1]), tf.tensor2d(e, [k, 1])), normRow),
    ) as tf.Tensor2D;
  }
  return tf.slice(a, [0, k], [k, cols - k]);
}

const rng = new Rng(3);
const rand = (shape: [number, number]) => tf.tensor2d(rng.normalArray(shape[0] * shape[1]), shape);
/** A well-conditioned symmetric positive definite matrix from A: AᵀA/k + I. */
const spd = (a: tf.Tensor2D): tf.Tensor2D =>
  tf.add(tf.div(tf.matMul(a, a, true, false), a.shape[0]), tf.eye(a.shape[1])) as tf.Tensor2D;

function maxRel(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  assert.equal(x.length, y.length);
  let scale = 0, worst = 0;
  for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(y[i]));
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / scale);
  return worst;
}

Deno.test("linearSolve: M·X = R for general and SPD systems, batched equals one by one, no leaks", () => {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    // a general (non-symmetric) system that needs pivoting: M[0][0] = 0
    const m = tf.tensor2d([[0, 2, 1], [1, 1, 0], [3, 0, 1]]);
    const r = tf.tensor2d([[1, 0], [2, 1], [0, 3]]);
    const x = linearSolve(m, r);
    assert.ok(maxRel(tf.matMul(m, x), r) < 1e-6, "M·X = R with a zero leading entry");
    const s = spd(rand([7, 5])), rs = rand([5, 3]);
    assert.ok(maxRel(tf.matMul(s, linearSolve(s, rs)), rs) < 1e-5, "SPD system");
    const s2 = spd(rand([7, 5])), rs2 = rand([5, 3]);
    const xb = linearSolve(tf.stack([s, s2]) as tf.Tensor3D, tf.stack([rs, rs2]) as tf.Tensor3D);
    assert.deepEqual(xb.shape, [2, 5, 3]);
    assert.deepEqual(Array.from(tf.unstack(xb)[1].dataSync()), Array.from(linearSolve(s2, rs2).dataSync()));
  });
  assert.equal(tf.memory().numTensors, before, "every tensor disposed");
  tf.tidy(() => {
    const nan = linearSolve(tf.tensor2d([[1, 2], [2, 4]]), tf.tensor2d([[1], [1]])).dataSync();
    assert.ok(Array.from(nan).every(Number.isNaN), "a singular system gives NaN");
  });
  assert.throws(
    () => linearSolve(tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([2, 1]) as tf.Tensor2D),
    /square/,
  );
  assert.throws(
    () => linearSolve(tf.zeros([2, 2]) as tf.Tensor2D, tf.zeros([1, 2, 1]) as unknown as tf.Tensor2D),
    /rank/,
  );
});

Deno.test("linearSolve: first and second derivatives equal those of an elimination in tfjs ops", () => {
  tf.tidy(() => {
    const a0 = rand([6, 4]), r0 = rand([4, 2]), w = rand([4, 2]), v = rand([6, 4]);
    // f(A, R) = Σ W ⊙ solve(AᵀA/6 + I, R): the derivative reaches M through A on both sides
    const f = (solve: typeof gaussJordan) => (a: tf.Tensor, r: tf.Tensor) =>
      tf.sum(tf.mul(solve(spd(a as tf.Tensor2D) as tf.Tensor2D, r as tf.Tensor2D), w)) as tf.Scalar;
    const ours = tf.grads(f(linearSolve))([a0, r0]);
    const ref = tf.grads(f(gaussJordan))([a0, r0]);
    assert.ok(maxRel(ours[0], ref[0]) < 1e-5, `dA: ${maxRel(ours[0], ref[0])}`);
    assert.ok(maxRel(ours[1], ref[1]) < 1e-5, `dR: ${maxRel(ours[1], ref[1])}`);
    // second derivative: ∂/∂(A, R) of ⟨V, ∂f/∂A⟩ (a Hessian-vector product, as meta-training differentiates)
    const hvp = (solve: typeof gaussJordan) =>
      tf.grads((a: tf.Tensor, r: tf.Tensor) => {
        const g = tf.grad((aa: tf.Tensor) => f(solve)(aa, r))(a);
        return tf.sum(tf.mul(g, v)) as tf.Scalar;
      })([a0, r0]);
    const h = hvp(linearSolve), hr = hvp(gaussJordan);
    assert.ok(maxRel(h[0], hr[0]) < 1e-5, `HVP in A: ${maxRel(h[0], hr[0])}`);
    assert.ok(maxRel(h[1], hr[1]) < 1e-5, `HVP in R: ${maxRel(h[1], hr[1])}`);
    assert.ok(tf.norm(h[1]).dataSync()[0] > 1e-3, "the mixed second derivative is not trivially zero");
  });
});

Deno.test("linearSolve: gradient matches central finite differences of the float64 solve", () => {
  tf.tidy(() => {
    const m = tf.add(rand([4, 4]), tf.mul(tf.eye(4), 4)) as tf.Tensor2D; // general, well conditioned
    const r = rand([4, 3]), w = rand([4, 3]);
    const f = (mm: tf.Tensor) => tf.sum(tf.mul(linearSolve(mm as tf.Tensor2D, r), w)) as tf.Scalar;
    const g = tf.grad(f)(m).dataSync();
    const mv = m.dataSync(), eps = 1e-2;
    for (let i = 0; i < mv.length; i++) {
      const at = (d: number) => {
        const p = Float32Array.from(mv);
        p[i] += d;
        return f(tf.tensor2d(p, [4, 4])).dataSync()[0];
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      assert.ok(Math.abs(fd - g[i]) < 2e-3 * Math.max(1, Math.abs(g[i])), `entry ${i}: fd ${fd} vs ${g[i]}`);
    }
  });
});
