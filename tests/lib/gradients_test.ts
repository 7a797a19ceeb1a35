import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { initBackend } from "../../lib/backend.ts";

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
