import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { makeBaseline } from "../../models/optimizers/baselines.ts";
import { trainProblem } from "../../models/inner_loop.ts";
import { convNetLoss, convNetParamShapes, convNetSpec, initConvNet } from "../../tasks/convnets.ts";
import { convNetBatch, convNetProblem } from "../../tasks/convnet_problem.ts";
import { loadDataset } from "../../tasks/data/index.ts";

await initBackend("wasm");

Deno.test("convnet problem: the MNIST ConvNet as a Problem trains on the inner loop without leaks", async () => {
  const spec = convNetSpec("convnet_mnist_relu");
  const train = await loadDataset({ kind: "mnist", split: "train", limit: 128 });
  const problem = convNetProblem(spec, train, { batchSize: 16 });
  assert.deepEqual(problem.paramShapes, convNetParamShapes(spec));
  assert.equal(problem.datasetSize, 128);
  // init draws initConvNet from the rng it is given.
  const [a, b] = [problem.init(new Rng(3)), initConvNet(spec, new Rng(3))];
  assert.deepEqual(a.map((t) => Array.from(t.dataSync())), b.map((t) => Array.from(t.dataSync())));
  // the full objective is the loss over every training example.
  const all = convNetBatch(train, Int32Array.from({ length: 128 }, (_, i) => i));
  const full = problem.fullObjective(a).dataSync()[0];
  assert.equal(full, convNetLoss(spec, a, all.x, all.y).dataSync()[0]);
  tf.dispose([...a, ...b, all.x, all.y]);
  const before = tf.memory().numTensors;
  const rec = await trainProblem({
    problem,
    optimizer: makeBaseline("adam", { learningRate: 3e-3 }),
    steps: 30,
    rng: new Rng(1),
    fullEvery: 10,
  });
  assert.equal(tf.memory().numTensors, before, "the run leaked tensors");
  assert.equal(rec.stepsRun, 30);
  assert.ok(!rec.diverged && rec.finalFullLoss < 0.9 * rec.fullLoss[0].value, JSON.stringify(rec.fullLoss));
});
