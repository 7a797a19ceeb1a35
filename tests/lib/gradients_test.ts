/**
 * Tests of `lib/gradients.ts`: second derivatives through comparison masks, and the `Conv2DBackpropFilter`
 * gradient (exact bilinearity identities and central differences of a second derivative through a
 * convolution, what meta-training through a ConvNet's gradient takes) on the cpu and wasm backends.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { strict as assert } from "node:assert";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { withAliasedSaves } from "../../models/metatrain/tape.ts";

Deno.test("gradients: second derivative through max/abs masks (Equal, Greater) is computable", async () => {
  await initBackend();
  const x = tf.tensor1d([0.5, -2, 3]);
  // d/dx of sum(grad(max + |x|)) needs the gradient of the Equal/Greater masks inside the first gradient.
  const f = (v: tf.Tensor) => tf.add(tf.max(tf.mul(v, v)), tf.sum(tf.abs(v))) as tf.Scalar;
  const second = tf.grad((v: tf.Tensor) => tf.sum(tf.grad(f)(v)) as tf.Scalar)(x);
  const got = Array.from(second.dataSync());
  // grad f = 2v·[v² is max] + sign(v); its derivative is 2·[v² is max] (the masks are piecewise constant).
  assert.deepEqual(got, [0, 0, 2]);
  const eq = tf.grad((v: tf.Tensor) => tf.sum(tf.cast(tf.equal(v, tf.scalar(3)), "float32")))(x);
  assert.deepEqual(Array.from(eq.dataSync()), [0, 0, 0]);
});

function randn(rng: Rng, shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal()), shape);
}

const dot = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.sum(tf.mul(a, b)).dataSync()[0]);

const CASES: Array<{ strides: number; pad: "same" | "valid" }> = [
  { strides: 1, pad: "same" },
  { strides: 2, pad: "same" },
  { strides: 1, pad: "valid" },
  { strides: 2, pad: "valid" },
];

for (const backend of ["cpu", "wasm"]) {
  Deno.test(`Conv2DBackpropFilter gradient (${backend}): the filter gradient's VJP is its bilinear adjoint`, async () => {
    await initBackend(backend as "cpu" | "wasm");
    const rng = new Rng(3);
    for (const { strides, pad } of CASES) {
      tf.tidy(() => {
        const x = randn(rng, [2, 7, 6, 3]) as tf.Tensor4D;
        const w = randn(rng, [3, 2, 3, 4]) as tf.Tensor4D;
        const dy = randn(rng, tf.conv2d(x, w, strides, pad).shape) as tf.Tensor4D;
        const g = randn(rng, w.shape);
        // dW(x, dy): the filter gradient of <conv2d(x, W), dy>. s(x, dy) = <g, dW(x, dy)> is linear in each
        // argument, so <∂s/∂x, x> = <∂s/∂dy, dy> = s.
        const filterGrad = (xx: tf.Tensor, dd: tf.Tensor) =>
          tf.grad((ww: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, strides, pad), dd))
          )(w);
        const s = (xx: tf.Tensor, dd: tf.Tensor) => tf.sum(tf.mul(g, filterGrad(xx, dd)));
        const value = s(x, dy).dataSync()[0];
        const [gx, gdy] = tf.grads((xx: tf.Tensor, dd: tf.Tensor) => s(xx, dd))([x, dy]);
        const tol = 1e-4 * Math.max(1, Math.abs(value));
        assert.ok(
          Math.abs(dot(gx, x) - value) < tol,
          `${strides}/${pad}: <ds/dx, x> ${dot(gx, x)} vs ${value}`,
        );
        assert.ok(
          Math.abs(dot(gdy, dy) - value) < tol,
          `${strides}/${pad}: <ds/ddy, dy> ${dot(gdy, dy)} vs ${value}`,
        );
      });
    }
  });

  Deno.test(`Conv2DBackpropFilter gradient (${backend}): ∇ of ‖∇_W L‖² matches central differences`, async () => {
    await initBackend(backend as "cpu" | "wasm");
    const rng = new Rng(5);
    for (const { strides, pad } of CASES) {
      const x = randn(rng, [2, 5, 5, 2]) as tf.Tensor4D;
      const w = tf.mul(randn(rng, [3, 3, 2, 3]), 0.3) as tf.Tensor4D;
      const r = randn(rng, tf.conv2d(x, w, strides, pad).shape);
      // h = ‖∇_W L(x, W)‖² with L = <tanh(conv2d(x, W)), r>: its gradient in x and W goes through the
      // gradient of Conv2DBackpropFilter.
      const h = (xx: tf.Tensor, ww: tf.Tensor) => {
        const gw = tf.grad((v: tf.Tensor) =>
          tf.sum(tf.mul(tf.tanh(tf.conv2d(xx as tf.Tensor4D, v as tf.Tensor4D, strides, pad)), r))
        )(ww);
        return tf.sum(tf.square(gw));
      };
      // Saved tensors as aliases, as meta-training takes its second derivatives: tfjs's own saved clones do not
      // connect the inner backward pass to the outer tape (the W path would be missing).
      const [gx, gw] = withAliasedSaves(() => tf.grads(h)([x, w]));
      for (const [name, arg, grad] of [["x", x, gx], ["W", w, gw]] as const) {
        const data = arg.dataSync();
        const analytic = grad.dataSync();
        for (const i of [0, 7, Math.floor(data.length / 2), data.length - 1]) {
          const eps = 1e-2;
          const shifted = (d: number) => {
            const v = Float32Array.from(data);
            v[i] += d;
            const t = tf.tensor(v, arg.shape);
            const value = tf.tidy(() => (name === "x" ? h(t, w) : h(x, t)).dataSync()[0]);
            t.dispose();
            return value;
          };
          const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
          const tol = 2e-2 * Math.max(1, Math.abs(numeric));
          assert.ok(
            Math.abs(analytic[i] - numeric) < tol,
            `${backend} ${strides}/${pad} ∂h/∂${name}[${i}]: ${analytic[i]} vs central difference ${numeric}`,
          );
        }
      }
      tf.dispose([x, w, r, gx, gw]);
    }
  });
}
