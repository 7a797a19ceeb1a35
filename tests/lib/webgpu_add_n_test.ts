// tf.addN on the webgpu backend sums every input, however many (the backend's own kernel binds one storage
// buffer per input and silently drops inputs past the device's limit: 7 on llvmpipe).
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { addNChunkSize } from "../../lib/webgpu_add_n.ts";
import { webgpuIgnore } from "../helpers/webgpu.ts";

const ignore = webgpuIgnore();
const opts = { ignore, sanitizeResources: false, sanitizeOps: false };

Deno.test("addNChunkSize: one buffer is the output; nonsense limits are refused", () => {
  assert.equal(addNChunkSize(8), 7);
  assert.equal(addNChunkSize(10), 9);
  assert.throws(() => addNChunkSize(2), /at least 3/);
  assert.throws(() => addNChunkSize(7.5), /at least 3/);
});

Deno.test({
  name: "webgpu addN: exact sums of 2..60 inputs (scalars and vectors), no leaked tensors, exact gradient",
  ...opts,
  fn: async () => {
    await initBackend("webgpu");
    for (const n of [2, 7, 8, 9, 15, 49, 50, 60]) {
      const before = tf.memory().numTensors;
      const xs = Array.from({ length: n }, (_, i) => tf.fill([5], i + 1));
      const s = tf.addN(xs);
      assert.deepEqual(Array.from(await s.data()), Array(5).fill(n * (n + 1) / 2), `addN of ${n}`);
      tf.dispose([s, ...xs]);
      assert.equal(tf.memory().numTensors, before, `tensors left after addN of ${n}`);
    }
    const xs = Array.from({ length: 20 }, (_, i) => tf.scalar(i));
    const f = (...ts: tf.Tensor[]) => tf.addN(ts.map((t, i) => tf.mul(t, i + 1))) as tf.Scalar;
    const { value, grads } = tf.valueAndGrads(f)(xs);
    assert.equal((await value.data())[0], xs.reduce((a, _, i) => a + i * (i + 1), 0));
    const gs = await Promise.all(grads.map(async (g) => (await g.data())[0]));
    assert.deepEqual(gs, xs.map((_, i) => i + 1));
    tf.dispose([value, ...grads, ...xs]);
  },
});
