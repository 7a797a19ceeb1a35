// ConvNets of tasks/convnets.ts on the wasm backend (with lib/kernels/ registered by initBackend): shapes and
// init, the custom-gradient conv/dense ops against stock tfjs ops, the loss, the tfjs-layers twin, and model.fit
// with the learned optimizer (an untrained HRNN) through the tf.Optimizer adapter.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { makeHrnnConfig } from "../../models/hrnn/config.ts";
import { makeHrnn } from "../../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams } from "../../models/hrnn/meta_params.ts";
import { toTfOptimizer } from "../../models/optimizers/tf_adapter.ts";
import { makeBaseline } from "../../models/optimizers/baselines.ts";
import {
  buildLayersConvNet,
  compileConvNet,
  CONVNET_NAMES,
  convNetLogits,
  convNetLoss,
  convNetLossAndGrads,
  convNetParamNames,
  convNetParamShapes,
  convNetSpec,
  countConvNetParams,
  dense,
  initConvNet,
  sameConv2d,
  softmaxCrossEntropy,
} from "../../tasks/convnets.ts";
import { loadDataset } from "../../tasks/data/index.ts";
import { batchTensors } from "../../tasks/data/dataset.ts";

await initBackend("wasm");

function randn(rng: Rng, shape: number[], std = 1): tf.Tensor {
  return tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), 0, std), shape);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function maxAbs(a: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);
}

Deno.test("convnets: architectures, parameter shapes and seeded init", () => {
  assert.equal(tf.getBackend(), "wasm");
  const mnist = convNetSpec("convnet_mnist_relu");
  assert.deepEqual(convNetParamShapes(mnist), [[3, 3, 1, 8], [5, 5, 8, 8], [28 * 28 * 8, 10], [10]]);
  assert.deepEqual(convNetParamNames(mnist), ["conv0", "conv1", "dense/w", "dense/b"]);
  assert.equal(countConvNetParams(mnist), 72 + 1600 + 62720 + 10);
  assert.equal(convNetSpec("convnet_mnist_sigmoid").activation, "sigmoid");
  // The validation ConvNet: the MNIST ReLU architecture on another dataset.
  const fashion = convNetSpec("convnet_fashion_relu");
  assert.equal(fashion.dataset, "fashion-mnist");
  assert.deepEqual({ ...fashion, name: mnist.name, dataset: mnist.dataset }, mnist);
  const cifar = convNetSpec("convnet_cifar10");
  assert.deepEqual(convNetParamShapes(cifar), [[3, 3, 3, 16], [3, 3, 16, 32], [3, 3, 32, 32], [512, 10], [
    10,
  ]]);
  assert.throws(() => convNetSpec("lenet"), /Unknown ConvNet 'lenet'.*convnet_mnist_relu/);

  // Reference init: N(0, 0.01²) for every tensor; same rng state -> same values.
  const a = initConvNet(mnist, new Rng(3)),
    b = initConvNet(mnist, new Rng(3)),
    c = initConvNet(mnist, new Rng(4));
  const flat = new Float32Array(a.flatMap((t) => [...t.dataSync()]));
  const std = Math.sqrt(flat.reduce((s, v) => s + v * v, 0) / flat.length);
  assert.ok(Math.abs(std - 0.01) < 5e-4, `init std ${std}`);
  a.forEach((t, i) => assert.equal(maxAbsDiff(t, b[i]), 0));
  assert.ok(maxAbsDiff(a[2], c[2]) > 0);
  // He init for the CIFAR net: filter std √(2/fan_in), zero bias.
  const h = initConvNet(cifar, new Rng(1));
  const s1 = Math.sqrt(tf.tidy(() => tf.mean(tf.square(h[1])).dataSync()[0]));
  assert.ok(Math.abs(s1 - Math.sqrt(2 / (9 * 16))) < 0.01, `conv1 std ${s1}`);
  assert.equal(maxAbs(h[4]), 0);
  tf.dispose([a, b, c, h]);
});

Deno.test("convnets: sameConv2d and dense match stock tfjs ops in value and gradient", () => {
  const rng = new Rng(7);
  // odd kernels (symmetric SAME padding) and an even one (asymmetric), several channel counts
  for (const [kh, kw, ci, co] of [[3, 3, 1, 4], [5, 5, 3, 2], [2, 3, 2, 3], [4, 4, 2, 2]]) {
    const x = randn(rng, [2, 7, 6, ci]) as tf.Tensor4D;
    const w = randn(rng, [kh, kw, ci, co]) as tf.Tensor4D;
    const dy = randn(rng, [2, 7, 6, co]);
    const f = (conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor) => (xx: tf.Tensor, ww: tf.Tensor) =>
      tf.sum(tf.mul(conv(xx as tf.Tensor4D, ww as tf.Tensor4D), dy));
    const ref = tf.grads(f((a, b) => tf.conv2d(a, b, 1, "same")))([x, w]);
    const ours = tf.grads(f((a, b) => sameConv2d(a, b)))([x, w]);
    const noDx = tf.grads(f((a, b) => sameConv2d(a, b, { inputGrad: false })))([x, w]);
    const label = `${kh}x${kw}x${ci}x${co}`;
    assert.ok(maxAbsDiff(sameConv2d(x, w), tf.conv2d(x, w, 1, "same")) < 1e-4, `${label} value`);
    assert.ok(maxAbsDiff(ours[0], ref[0]) < 1e-3 * (1 + maxAbs(ref[0])), `${label} dx`);
    assert.ok(maxAbsDiff(ours[1], ref[1]) < 1e-3 * (1 + maxAbs(ref[1])), `${label} dw`);
    assert.equal(maxAbs(noDx[0]), 0);
    assert.ok(maxAbsDiff(noDx[1], ref[1]) < 1e-3 * (1 + maxAbs(ref[1])), `${label} dw (no dx)`);
    tf.dispose([x, w, dy, ref, ours, noDx]);
  }
  const x = randn(rng, [5, 12]) as tf.Tensor2D, w = randn(rng, [12, 3]) as tf.Tensor2D;
  const b = randn(rng, [3]) as tf.Tensor1D, dy = randn(rng, [5, 3]);
  const g = (fn: typeof dense) => (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
    tf.sum(tf.mul(fn(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D), dy));
  const stock = (a: tf.Tensor2D, c: tf.Tensor2D, d: tf.Tensor1D) => tf.add(tf.matMul(a, c), d) as tf.Tensor2D;
  const ref = tf.grads(g(stock))([x, w, b]);
  const ours = tf.grads(g(dense))([x, w, b]);
  ref.forEach((r, i) => assert.ok(maxAbsDiff(r, ours[i]) < 1e-4, `dense grad ${i}`));
  tf.dispose([x, w, b, dy, ref, ours]);
});

Deno.test("convnets: softmax cross-entropy, loss and gradients, no tensor leak", () => {
  const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
  const labels = tf.tensor1d([2, 0], "int32");
  const ce = softmaxCrossEntropy(logits, labels).dataSync()[0];
  const expect = ((Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3) + Math.log(3)) / 2;
  assert.ok(Math.abs(ce - expect) < 1e-5, `${ce} vs ${expect}`);
  tf.dispose([logits, labels]);

  for (const name of CONVNET_NAMES) {
    const spec = convNetSpec(name);
    const rng = new Rng(2);
    const params = initConvNet(spec, rng);
    const [h, w, c] = spec.inputShape;
    const x = tf.tensor4d(rng.uniformArray(4 * h * w * c, 0, 1), [4, h, w, c]);
    const y = tf.tensor1d([0, 3, 9, 1], "int32");
    // ReLU at the reference init: the logits are tiny, the loss is close to ln 10.
    const l0 = convNetLoss(spec, params, x, y).dataSync()[0];
    if (name === "convnet_mnist_relu") assert.ok(Math.abs(l0 - Math.log(10)) < 0.01, `${name}: ${l0}`);
    assert.ok(l0 > 1 && l0 < 4, `${name}: ${l0}`);
    const withL2 = convNetLoss(spec, params, x, y, 0.5).dataSync()[0];
    assert.ok(withL2 > l0);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const { loss, grads } = convNetLossAndGrads(spec, params, x, y);
      assert.ok(Math.abs(loss.dataSync()[0] - l0) < 1e-5);
      assert.equal(grads.length, params.length);
      grads.forEach((g, j) => assert.deepEqual(g.shape, params[j].shape));
      assert.ok(grads.every((g) => maxAbs(g) > 0 && Number.isFinite(maxAbs(g))), `${name}: zero/NaN grad`);
      tf.dispose([loss, grads]);
    }
    assert.equal(tf.memory().numTensors, before, `${name}: loss/gradient leaked tensors`);
    tf.dispose([params, x, y]);
  }
});

Deno.test("convnets: the tfjs-layers model computes the same logits as the pure function", () => {
  for (const name of ["convnet_mnist_sigmoid", "convnet_cifar10"]) {
    const spec = convNetSpec(name);
    const rng = new Rng(5);
    const params = initConvNet(spec, rng).map((t, i) => i < 2 ? tf.mul(t, 30) : t);
    const model = buildLayersConvNet(spec, { params });
    const [h, w, c] = spec.inputShape;
    const x = tf.tensor4d(rng.uniformArray(3 * h * w * c, 0, 1), [3, h, w, c]);
    const a = model.predict(x) as tf.Tensor;
    const b = convNetLogits(spec, params, x);
    assert.ok(maxAbsDiff(a, b) < 1e-4 * (1 + maxAbs(b)), `${name}: layers vs pure ${maxAbsDiff(a, b)}`);
    tf.dispose([params, x, a, b]);
    model.dispose();
  }
});

Deno.test("convnets: model.fit on wasm with the learned optimizer through toTfOptimizer", async () => {
  assert.equal(tf.getBackend(), "wasm");
  const spec = convNetSpec("convnet_mnist_relu");
  const ds = await loadDataset({ kind: "mnist", split: "train", limit: 96 });
  const { x, y } = batchTensors(ds, Int32Array.from({ length: ds.n }, (_, i) => i), { oneHot: true });
  // No trained weights in a unit test: an untrained HRNN stands in for the meta-trained one.
  const config = makeHrnnConfig();
  const mp = createMetaParams(config, 0);
  const learned = toTfOptimizer(makeHrnn(mp, config, { seed: 0, name: "learned" }));
  const adam = toTfOptimizer(makeBaseline("adam", { learningRate: 3e-3 }));
  for (const [label, opt] of [["learned", learned], ["adam", adam]] as const) {
    const model = buildLayersConvNet(spec, { rng: new Rng(1) });
    compileConvNet(model, opt);
    const w0 = model.getWeights().map((t) => t.dataSync().slice());
    const fitArgs = { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 as const };
    const h1 = await model.fit(x, y, fitArgs);
    const n1 = tf.memory().numTensors;
    const h2 = await model.fit(x, y, fitArgs);
    assert.equal(tf.memory().numTensors, n1, `${label}: fit leaked tensors`);
    assert.equal(opt.iterations, 6);
    const losses = [...h1.history.loss, ...h2.history.loss] as number[];
    assert.ok(losses.every(Number.isFinite), `${label}: ${losses}`);
    assert.ok(Math.abs(losses[0] - Math.log(10)) < 0.05, `${label}: first loss ${losses[0]}`);
    const moved = model.getWeights().map((t, i) => {
      const v = t.dataSync();
      return v.some((e, j) => e !== w0[i][j]);
    });
    assert.deepEqual(moved, [true, true, true, true], `${label}: every weight tensor must change`);
    if (label === "adam") assert.ok(losses[1] < losses[0], `adam should reduce the loss: ${losses}`);
    model.dispose();
    opt.dispose();
  }
  disposeMetaParams(mp);
  tf.dispose([x, y]);
});
