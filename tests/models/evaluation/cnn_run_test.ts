// One ConvNet evaluation run on the inner loop (models/evaluation/cnn_run.ts): the shared batch order and init,
// reproducible runs, divergence recorded.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { makeBaseline } from "../../../models/optimizers/baselines.ts";
import { batchOrder, type CnnProtocol, runConvNet } from "../../../models/evaluation/cnn_run.ts";
import { loadCnnData } from "../../../models/evaluation/cnn_data.ts";
import { convNetSpec } from "../../../tasks/convnets.ts";

await initBackend("wasm");

Deno.test("cnn run: batch order is seeded, shared, and walks epochs of permutations", () => {
  const a = batchOrder("m", 3, 10, 7, 4);
  const b = batchOrder("m", 3, 10, 7, 4);
  assert.deepEqual(a, b);
  assert.notDeepEqual(batchOrder("m", 4, 10, 7, 4), a);
  assert.notDeepEqual(batchOrder("other", 3, 10, 7, 4), a);
  const flat = a.flatMap((x) => [...x]);
  assert.equal(flat.length, 28);
  // the first 10 and the next 10 indices are each a permutation of 0..9
  assert.deepEqual([...flat.slice(0, 10)].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...flat.slice(10, 20)].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // a longer run starts with the same batches (the order does not depend on the horizon)
  assert.deepEqual(batchOrder("m", 3, 10, 9, 4).slice(0, 7), a);
});

Deno.test("cnn run: every optimizer of a seed starts from the same init and data; runs are reproducible", async () => {
  const p: CnnProtocol & { trainLimit: number; cifarDir: string } = {
    steps: 3,
    evalEvery: 2,
    trainLimit: 64,
    testLimit: 32,
    trainEvalSize: 32,
    batchSize: 16,
    evalBatch: 128,
    l2: 0,
    cifarDir: "",
  };
  const spec = convNetSpec("convnet_mnist_relu");
  const data = await loadCnnData(spec, p);
  assert.ok(data.ok);
  if (!data.ok) return;
  const before = tf.memory().numTensors;
  const go = (name: string, lr: number, seed: number) =>
    runConvNet({
      spec,
      optimizer: makeBaseline(
        name,
        name === "momentum" ? { learningRate: lr, momentum: 0.9 } : { learningRate: lr },
      ),
      optimizerName: name,
      learningRate: lr,
      seed,
      train: data.train,
      test: data.test,
      protocol: p,
    });
  const a = await go("adam", 1e-3, 0);
  const a2 = await go("adam", 1e-3, 0);
  const m = await go("momentum", 0.1, 0);
  const other = await go("adam", 1e-3, 1);
  assert.equal(tf.memory().numTensors, before, "training runs leaked tensors");
  assert.deepEqual(a.minibatchLoss, a2.minibatchLoss);
  assert.deepEqual(a.evals, a2.evals);
  // step 0's loss is taken before any update: same init + same first batch -> same value
  assert.equal(a.minibatchLoss[0], m.minibatchLoss[0]);
  assert.deepEqual(a.evals[0], m.evals[0]);
  assert.notEqual(a.minibatchLoss[0], other.minibatchLoss[0]);
  assert.deepEqual(a.evals.map((e) => e.step), [0, 2, 3]);
  assert.equal(a.stepsRun, 3);
  assert.ok(Number.isFinite(a.finalTrainLoss) && a.testAccuracy >= 0 && a.testAccuracy <= 1);
  assert.ok(a.secondsPerStep > 0);
  // an absurd learning rate diverges and is recorded, not thrown
  const bad = await go("momentum", 1e12, 0);
  assert.equal(bad.diverged, true);
  assert.ok(Number.isNaN(bad.finalTrainLoss));
});
