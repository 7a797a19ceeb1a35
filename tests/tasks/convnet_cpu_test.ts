// ConvNet gradients need Conv2DBackpropFilter, which the wasm backend lacks until lib/kernels/ provides it, so
// this file runs on the cpu backend (deno test gives each test file its own isolate).
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { buildProblem } from "../../tasks/registry.ts";
import { checkGradientFd, close, meanStd } from "./helpers.ts";

await initBackend("cpu");

const spec = (nClasses: number, activation: string) => ({
  family: "conv_net",
  params: {
    imageShape: [2, 5, 4],
    nClasses,
    filters: [[3, 3, 3], [2, 2, 2]],
    activation,
    dataset: { kind: "random", nFeatures: 40, nSamples: 12, nClasses, seed: 3 },
    batchSize: 6,
  },
  seed: 1,
});

Deno.test("conv_net: shapes, N(0, 0.01²) init, gradients match finite differences (cpu)", () => {
  assert.equal(tf.getBackend(), "cpu");
  for (const [c, act] of [[2, "relu"], [3, "sigmoid"]] as const) {
    const p = buildProblem(spec(c, act));
    assert.deepEqual(p.paramShapes, [[3, 3, 2, 3], [2, 2, 3, 2], [2 * 5 * 4, c], [c]]);
    const draws = Array.from({ length: 50 }, (_, i) => p.init(new Rng(i)));
    close(meanStd(draws.flat()).std, 0.01, 0.001, "init std");
    tf.dispose(draws);
    // a larger init so that the gradient is not dominated by the L2 term
    const x = p.paramShapes.map((s) =>
      tf.tensor(new Rng(9).normalArray(s.reduce((a, b) => a * b, 1), 0, 0.5), s)
    );
    const b = p.sampleBatch(new Rng(2))!;
    checkGradientFd(p, x, b, { perTensor: 3, relStep: 1e-2, rtol: 3e-2 });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const r = p.gradients(x, b, new Rng(i));
      tf.dispose([r.loss, r.grads]);
    }
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, b.x, b.y]);
    p.dispose();
  }
});
