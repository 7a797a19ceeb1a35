import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { activeWebGpuAdapter, backendDescription, initBackend } from "../../lib/backend.ts";
import { currentComputeDevice } from "../../lib/compute_device.ts";
import { missingKernels } from "../../lib/kernels/mod.ts";
import { NO_ADAPTER_MESSAGE } from "../../lib/webgpu_adapter.ts";
import { Rng } from "../../lib/rng.ts";
import { ADAPTER, webgpuIgnore } from "../helpers/webgpu.ts";

Deno.test({
  name: "backend webgpu: initialises on the adapter, names it, has every kernel lopt adds for wasm",
  ignore: webgpuIgnore(),
  fn: async () => {
    assert.ok(ADAPTER, NO_ADAPTER_MESSAGE);
    assert.equal(await initBackend("webgpu"), "webgpu");
    assert.equal(tf.getBackend(), "webgpu");
    const desc = backendDescription()!;
    assert.match(desc, /^webgpu \(.+; (software|hardware) adapter\)$/);
    assert.ok(desc.includes(ADAPTER.name));
    assert.equal(currentComputeDevice(), desc, "announced for the stage log");
    assert.equal(activeWebGpuAdapter()?.name, ADAPTER.name);
    assert.deepEqual(missingKernels("webgpu"), []);
    // The wasm Sign kernel is wrong below float32 epsilon (lib/kernels/sign.ts); WebGPU's is right.
    const x = tf.tensor([1e-30, -1e-20, 0, 3, -2e-8, NaN]);
    const s = await tf.sign(x.mul(1)).data();
    assert.deepEqual(Array.from(s).slice(0, 5), [1, -1, 0, 1, -1]);
    assert.ok(Number.isNaN(s[5]) || s[5] === 0);
    // Conv2DBackpropFilter, depthwise backprops, UnsortedSegmentSum: equal to the cpu backend's.
    // Tensors are built on each backend from the same arrays: moving data off WebGPU needs a sync read.
    const rng = new Rng(1);
    const arrays = [216, 108, 54, 20].map((n) => rng.normalArray(n));
    const run = () => {
      const inp = tf.tensor(arrays[0], [2, 6, 6, 3]);
      const k = tf.tensor(arrays[1], [3, 3, 3, 4]);
      const dk = tf.tensor(arrays[2], [3, 3, 3, 2]);
      const seg = tf.tensor(arrays[3], [4, 5]);
      const ids = tf.tensor1d([0, 2, 2, 1], "int32");
      const [gConv] = tf.grads((a: tf.Tensor) =>
        tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, 1, "same").sum()
      )(
        [inp],
      );
      const gk = tf.grad((w: tf.Tensor) =>
        tf.conv2d(inp as tf.Tensor4D, w as tf.Tensor4D, 1, "same").square().sum()
      )(k);
      const gd = tf.grads((a: tf.Tensor, w: tf.Tensor) =>
        tf.depthwiseConv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, "same").square().sum()
      )([inp, dk]);
      const us = tf.unsortedSegmentSum(seg, ids, 3);
      return [gConv, gk, ...gd, us];
    };
    const gpu = await Promise.all(run().map((t) => t.data()));
    await tf.setBackend("cpu");
    const cpu = run().map((t) => t.dataSync());
    await tf.setBackend("webgpu");
    gpu.forEach((g, i) => {
      for (let q = 0; q < g.length; q++) {
        assert.ok(Math.abs(g[q] - cpu[i][q]) <= 1e-4 * (1 + Math.abs(cpu[i][q])), `result ${i}[${q}]`);
      }
    });
  },
});
