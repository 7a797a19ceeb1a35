import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { makeBaseline } from "../../../models/optimizers/baselines.ts";
import type { Optimizer } from "../../../lib/optimizer.ts";
import { LoptTfOptimizer, toTfOptimizer } from "../../../models/optimizers/tf_adapter.ts";

await initBackend();

/** A tiny synthetic binary classification set (stand-in data): 128 points in 4-d, label = sign of a projection. */
function dataset(seed: number): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  const rng = new Rng(seed);
  const n = 128;
  const x = rng.normalArray(n * 4);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) y[i] = x[4 * i] - 0.5 * x[4 * i + 1] + 0.3 * x[4 * i + 2] > 0 ? 1 : 0;
  return { xs: tf.tensor2d(x, [n, 4]), ys: tf.tensor2d(y, [n, 1]) };
}

function makeModel(seed: number): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.dense({
    inputShape: [4],
    units: 8,
    activation: "tanh",
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
  }));
  model.add(tf.layers.dense({
    units: 1,
    activation: "sigmoid",
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
  }));
  return model;
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

Deno.test("adapter: model.fit trains a dense net and matches tf.train.adam", async () => {
  const { xs, ys } = dataset(1);
  const ours = toTfOptimizer(makeBaseline("adam", { learningRate: 0.02 }));
  const theirs = tf.train.adam(0.02);
  const m1 = makeModel(5);
  const m2 = makeModel(5);
  m1.compile({ optimizer: ours, loss: "binaryCrossentropy" });
  m2.compile({ optimizer: theirs, loss: "binaryCrossentropy" });
  const fitArgs = { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 as const };
  const h0 = await m1.fit(xs, ys, fitArgs);
  await m2.fit(xs, ys, fitArgs);
  const nAfterFirst = tf.memory().numTensors;
  const h1 = await m1.fit(xs, ys, { ...fitArgs, epochs: 15 });
  await m2.fit(xs, ys, { ...fitArgs, epochs: 15 });
  assert.equal(tf.memory().numTensors, nAfterFirst, "training with the adapter leaked tensors");
  const first = h0.history.loss[0] as number;
  const last = h1.history.loss.at(-1) as number;
  assert.ok(last < 0.7 * first, `loss ${first} -> ${last}`);
  assert.equal(ours.iterations, 16 * 4);
  const w1 = weightsOf(m1), w2 = weightsOf(m2);
  for (let i = 0; i < w1.length; i++) {
    for (let j = 0; j < w1[i].length; j++) {
      assert.ok(Math.abs(w1[i][j] - w2[i][j]) < 1e-4, `weight ${i}[${j}]: ${w1[i][j]} vs ${w2[i][j]}`);
    }
  }
  ours.dispose();
  theirs.dispose();
  m1.dispose();
  m2.dispose();
  tf.dispose([xs, ys]);
});

Deno.test("adapter: minimize with a NamedTensorMap, stable state order, dispose frees state", () => {
  const a0 = tf.tensor1d([1, 2, 3]), b0 = tf.tensor2d([[4, -1]]);
  const a = tf.variable(a0, true, "adapter_test_a");
  const b = tf.variable(b0, true, "adapter_test_b");
  const ref = [tf.variable(a0), tf.variable(b0)];
  tf.dispose([a0, b0]);
  const start = tf.memory().numTensors;
  const f = (x: tf.Tensor, y: tf.Tensor) =>
    tf.add(tf.sum(tf.square(x)), tf.sum(tf.mul(y, y).mul(3))) as tf.Scalar;
  const opt = toTfOptimizer(makeBaseline("rmsprop", { learningRate: 0.1, momentum: 0.5 }));
  const tfOpt = tf.train.rmsprop(0.1, 0.9, 0.5);
  for (let i = 0; i < 10; i++) {
    opt.minimize(() => f(a, b)); // all trainable variables, as a NamedTensorMap
    tfOpt.minimize(() => f(ref[0], ref[1]), false, ref);
  }
  // Same gradients handed over in the reverse order: must be reordered to the first-seen order.
  const { value, grads } = tf.variableGrads(() => f(a, b), [b, a]);
  opt.applyGradients([{ name: b.name, tensor: grads[b.name] }, { name: a.name, tensor: grads[a.name] }]);
  tfOpt.minimize(() => f(ref[0], ref[1]), false, ref);
  tf.dispose([value, ...Object.values(grads)]);
  assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(a, ref[0]))).dataSync()[0]) < 1e-5);
  assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(b, ref[1]))).dataSync()[0]) < 1e-5);
  opt.dispose();
  tfOpt.dispose();
  assert.equal(tf.memory().numTensors, start);
  tf.dispose([a, b, ...ref]);
});

Deno.test("adapter: getWeights/setWeights round-trip continues training identically; config rebuilds baselines", async () => {
  const { xs, ys } = dataset(2);
  const fitArgs = { epochs: 2, batchSize: 32, shuffle: false, verbose: 0 as const };
  // Reference: 4 uninterrupted epochs.
  const mRef = makeModel(9);
  const oRef = toTfOptimizer(makeBaseline("momentum", { learningRate: 0.1, momentum: 0.9 }));
  mRef.compile({ optimizer: oRef, loss: "binaryCrossentropy" });
  await mRef.fit(xs, ys, { ...fitArgs, epochs: 4 });
  // Interrupted: 2 epochs, then weights and optimizer state moved to a fresh model with new variable names.
  const mA = makeModel(9);
  const oA = toTfOptimizer(makeBaseline("momentum", { learningRate: 0.1, momentum: 0.9 }));
  mA.compile({ optimizer: oA, loss: "binaryCrossentropy" });
  await mA.fit(xs, ys, fitArgs);
  const saved = await oA.getWeights();
  assert.equal(saved[0].name, "iter");
  const config = oA.getConfig();
  assert.deepEqual(config, {
    name: "momentum",
    hparams: { learningRate: 0.1, momentum: 0.9, useNesterov: false },
  });
  // Rebuilt the way tfjs deserialises: through the registered class.
  const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap["LoptOptimizer"];
  const oB = fromConfig(cls, config) as LoptTfOptimizer;
  assert.ok(oB instanceof LoptTfOptimizer);
  await oB.setWeights(saved);
  assert.equal(oB.iterations, oA.iterations);
  const mB = makeModel(100);
  mB.setWeights(mA.getWeights());
  mB.compile({ optimizer: oB, loss: "binaryCrossentropy" });
  await mB.fit(xs, ys, fitArgs);
  const wRef = weightsOf(mRef), wB = weightsOf(mB);
  for (let i = 0; i < wRef.length; i++) {
    for (let j = 0; j < wRef[i].length; j++) assert.ok(Math.abs(wRef[i][j] - wB[i][j]) < 1e-5);
  }
  assert.throws(
    () => LoptTfOptimizer.fromConfig(LoptTfOptimizer, { name: "hrnn" }),
    /only baselines can/,
  );
  for (const o of [oRef, oA, oB]) o.dispose();
  for (const m of [mRef, mA, mB]) m.dispose();
  tf.dispose([xs, ys]);
});

Deno.test("adapter: attention optimizers step the attended point and evaluate at evalParams", async () => {
  // Stub attention optimizer: true params follow SGD; the attended point is one extra step ahead.
  const lr = 0.1;
  const attn: Optimizer<{ truth: tf.Tensor[] }> = {
    name: "attn-stub",
    init: (params) => ({ truth: params.map((p) => p.clone()) }),
    update: (grads, state, params) =>
      tf.tidy(() => {
        const truth = state.truth.map((t, i) => tf.sub(t, tf.mul(lr, grads[i])));
        const attended = truth.map((t, i) => tf.sub(t, tf.mul(lr, grads[i])));
        return { updates: attended.map((a, i) => tf.sub(a, params[i])), state: { truth } };
      }),
    evalParams: (state) => state.truth,
  };
  const v = tf.variable(tf.tensor1d([1, -1]), true, "adapter_attn_v");
  const opt = toTfOptimizer(attn);
  opt.minimize(() => tf.sum(tf.square(v)) as tf.Scalar, false, [v]);
  // grad at [1,-1] is [2,-2]: truth = [0.8,-0.8], attended = [0.6,-0.6].
  assert.deepEqual(Array.from(v.dataSync()).map((x) => +x.toFixed(5)), [0.6, -0.6]);
  const seen = await opt.withEvalParams(() => Array.from(v.dataSync()).map((x) => +x.toFixed(5)));
  assert.deepEqual(seen, [0.8, -0.8]);
  assert.deepEqual(Array.from(v.dataSync()).map((x) => +x.toFixed(5)), [0.6, -0.6]);
  opt.assignEvalParams();
  assert.deepEqual(Array.from(v.dataSync()).map((x) => +x.toFixed(5)), [0.8, -0.8]);
  opt.dispose();
  v.dispose();
});
