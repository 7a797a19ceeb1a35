import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { makeBaseline } from "../../../models/optimizers/baselines.ts";
import { BatchNorm } from "../../../tasks/imagenet/batch_norm.ts";
import { SeededDropout } from "../../../tasks/imagenet/dropout.ts";
import { INCEPTION_V3_MIN_INPUT, inceptionV3 } from "../../../tasks/imagenet/inception_v3.ts";
import { resnetV2, resnetV2Blocks } from "../../../tasks/imagenet/resnet_v2.ts";
import {
  countParams,
  initOptimizerState,
  optimizerStateBytes,
  type StateTree,
  stateTreeTensors,
  trainStep,
} from "../../../tasks/imagenet/train_step.ts";

await initBackend();

/** A seeded batch of `n` images of `size` px with labels 0..classes-1. */
function batch(seed: number, n: number, size: number, classes: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const rng = new Rng(seed);
  const x = tf.tensor4d(rng.normalArray(n * size * size * 3), [n, size, size, 3]);
  const y = tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), "int32");
  return { x, y };
}

Deno.test("Inception V3 at full width has Keras' exact parameter count", () => {
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  const model = inceptionV3();
  const ms = performance.now() - t0;
  const c = countParams(model);
  // Keras InceptionV3(include_top=True, weights=None): Total 23,851,784 = 23,817,352 trainable
  // (conv kernels, batch-norm β, dense) + 34,432 non-trainable (batch-norm moving mean / variance).
  assert.equal(c.total, 23_851_784);
  assert.equal(c.trainable, 23_817_352);
  assert.equal(c.nonTrainable, 34_432);
  assert.equal(model.countParams(), c.total);
  assert.deepEqual(model.outputs[0].shape, [null, 1000]);
  const names = new Set(model.layers.map((l) => l.name.split("/")[0]));
  for (
    const b of [
      "Mixed_5b",
      "Mixed_5c",
      "Mixed_5d",
      "Mixed_6a",
      "Mixed_6b",
      "Mixed_6e",
      "Mixed_7a",
      "Mixed_7c",
    ]
  ) {
    assert.ok(names.has(b), `missing block ${b}`);
  }
  // Grid sizes at 299 px, as published.
  const grid = (n: string) => model.getLayer(n).outputShape as number[];
  assert.deepEqual(grid("MaxPool_5a_3x3"), [null, 35, 35, 192]);
  assert.deepEqual(grid("Mixed_5d/concat"), [null, 35, 35, 288]);
  assert.deepEqual(grid("Mixed_6e/concat"), [null, 17, 17, 768]);
  assert.deepEqual(grid("Mixed_7a/concat"), [null, 8, 8, 1280]);
  assert.deepEqual(grid("Mixed_7c/concat"), [null, 8, 8, 2048]);
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
  console.log(`inceptionV3 full width: built in ${ms.toFixed(0)} ms, ${c.total} params`);
});

Deno.test("ResNet-50 V2 at full width has Keras' exact parameter count", () => {
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  const model = resnetV2({ depth: 50 });
  const ms = performance.now() - t0;
  const c = countParams(model);
  // Keras ResNet50V2(include_top=True, weights=None): Total 25,613,800 = 25,568,360 trainable + 45,440
  // batch-norm moving statistics.
  assert.equal(c.total, 25_613_800);
  assert.equal(c.trainable, 25_568_360);
  assert.equal(c.nonTrainable, 45_440);
  assert.deepEqual(model.outputs[0].shape, [null, 1000]);
  assert.deepEqual(model.getLayer("pool1").outputShape, [null, 56, 56, 64]);
  assert.deepEqual(model.getLayer("block1/unit_3/add").outputShape, [null, 28, 28, 256]);
  assert.deepEqual(model.getLayer("block3/unit_6/add").outputShape, [null, 7, 7, 1024]);
  assert.deepEqual(model.getLayer("block4/unit_3/add").outputShape, [null, 7, 7, 2048]);
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
  console.log(`resnetV2 50 full width: built in ${ms.toFixed(0)} ms, ${c.total} params`);
});

Deno.test("architecture options are validated with actionable errors", () => {
  assert.throws(() => inceptionV3({ inputSize: INCEPTION_V3_MIN_INPUT - 1 }), /at least 75/);
  assert.throws(() => inceptionV3({ inputSize: 80, auxLogits: true }), /auxLogits needs inputSize ≥ 107/);
  assert.throws(() => inceptionV3({ widthMultiplier: 0 }), /widthMultiplier must be a positive number/);
  assert.throws(() => inceptionV3({ dropout: 1 }), /dropout/);
  assert.throws(() => resnetV2({ depth: 18 }), /no preset for depth 18.*blocks/);
  assert.throws(() => resnetV2({ blocks: [1, 2, 3] }), /four positive integers/);
  assert.deepEqual(resnetV2Blocks({ depth: 101 }), [3, 4, 23, 3]);
  assert.deepEqual(resnetV2Blocks({ depth: 152 }), [3, 8, 36, 3]);
  assert.deepEqual(resnetV2Blocks({ blocks: [1, 1, 2, 1], depth: 50 }), [1, 1, 2, 1]);
});

Deno.test("tiny-width models give [B, classes] logits at small inputs", () => {
  const before = tf.memory().numTensors;
  const inc = inceptionV3({ widthMultiplier: 0.1, inputSize: 75, numClasses: 7 });
  const { x, y } = batch(1, 2, 75, 7);
  const out = inc.predict(x) as tf.Tensor;
  assert.deepEqual(out.shape, [2, 7]);
  assert.ok(Array.from(out.dataSync()).every(Number.isFinite));
  // Width 0.1 hits the minimum depth 16 almost everywhere, so channel counts are 16 · branches.
  assert.deepEqual(inc.getLayer("Mixed_5b/concat").outputShape, [null, 7, 7, 64]);
  tf.dispose([out, x, y]);
  inc.dispose();

  const aux = inceptionV3({
    widthMultiplier: 0.1,
    inputSize: 107,
    numClasses: 5,
    auxLogits: true,
    dropout: 0.2,
  });
  assert.equal(aux.outputs.length, 2);
  assert.deepEqual(aux.outputs.map((o) => o.shape), [[null, 5], [null, 5]]);
  aux.dispose();

  const res = resnetV2({ depth: 26, widthMultiplier: 0.25, inputSize: 32, numClasses: 7 });
  const b = batch(2, 3, 32, 7);
  const r = res.predict(b.x) as tf.Tensor;
  assert.deepEqual(r.shape, [3, 7]);
  assert.ok(Array.from(r.dataSync()).every(Number.isFinite));
  // Base depths 16/32/64/128 → unit outputs 64/128/256/512; strides 2,2,2,1 after the /4 root: 8→4→2→1→1.
  assert.deepEqual(res.getLayer("block1/unit_2/add").outputShape, [null, 4, 4, 64]);
  assert.deepEqual(res.getLayer("block4/unit_2/add").outputShape, [null, 1, 1, 512]);
  tf.dispose([r, b.x, b.y]);
  res.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("BatchNorm without scale normalizes with batch statistics and updates moving averages", () => {
  const bn = new BatchNorm({ decay: 0.9, epsilon: 1e-3, scale: false });
  const x = tf.tensor4d([1, 10, 3, 20, 5, 30, 7, 40], [2, 2, 1, 2]);
  const y = bn.apply(x, { training: true }) as tf.Tensor;
  // Channel 0: values 1,3,5,7 (mean 4, var 5); channel 1: 10..40 (mean 25, var 125).
  const expect = [1, 10, 3, 20, 5, 30, 7, 40].map((v, i) =>
    i % 2 === 0 ? (v - 4) / Math.sqrt(5 + 1e-3) : (v - 25) / Math.sqrt(125 + 1e-3)
  );
  Array.from(y.dataSync()).forEach((v, i) =>
    assert.ok(Math.abs(v - expect[i]) < 1e-5, `${v} vs ${expect[i]}`)
  );
  assert.deepEqual(bn.trainableWeights.map((w) => w.originalName.split("/").pop()), ["beta"]);
  const [mm, mv] = bn.nonTrainableWeights.map((w) => Array.from(w.read().dataSync()));
  assert.ok(Math.abs(mm[0] - 0.4) < 1e-6 && Math.abs(mm[1] - 2.5) < 1e-5);
  // Unbiased variance: 5·4/3, 125·4/3.
  assert.ok(Math.abs(mv[0] - (0.9 + 0.1 * 20 / 3)) < 1e-5 && Math.abs(mv[1] - (0.9 + 0.1 * 500 / 3)) < 1e-4);
  const inf = bn.apply(x, { training: false }) as tf.Tensor;
  assert.ok(Math.abs(inf.dataSync()[0] - (1 - mm[0]) / Math.sqrt(mv[0] + 1e-3)) < 1e-5);
  tf.dispose([x, y, inf]);
  bn.dispose();
});

Deno.test("SeededDropout: a fresh mask per training call, reproducible from the seed, identity at inference", () => {
  const x = tf.ones([4, 64]);
  const masks = (seed: number) => {
    const d = new SeededDropout({ rate: 0.5, seed });
    const out = [0, 1].map(() => {
      const y = d.apply(x, { training: true }) as tf.Tensor;
      const v = Array.from(y.dataSync());
      y.dispose();
      return v;
    });
    const inf = d.apply(x, { training: false }) as tf.Tensor;
    assert.ok(Array.from(inf.dataSync()).every((v) => v === 1));
    inf.dispose();
    return out;
  };
  const [a1, a2] = masks(5);
  const [b1] = masks(5);
  assert.ok(a1.every((v) => v === 0 || v === 2));
  assert.notDeepEqual(a1, a2);
  assert.deepEqual(a1, b1);
  x.dispose();
});

Deno.test("one Adam training step at tiny width: finite loss, learning, no tensor leaks", async (t) => {
  const cases = [
    {
      name: "inception_v3 w0.1 75px",
      make: () => inceptionV3({ widthMultiplier: 0.1, inputSize: 75, numClasses: 4, seed: 1 }),
      size: 75,
      steps: 3,
    },
    {
      name: "resnet_v2_26 w0.125 32px",
      make: () => resnetV2({ depth: 26, widthMultiplier: 0.125, inputSize: 32, numClasses: 4, seed: 1 }),
      size: 32,
      steps: 6,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const model = c.make();
      const opt = makeBaseline("adam", { learningRate: 1e-3 });
      const { x, y } = batch(3, 4, c.size, 4);
      let state: StateTree = initOptimizerState(model, opt);
      const { trainable } = countParams(model);
      // m and v for every trainable weight plus the two β-power scalars.
      assert.equal(optimizerStateBytes(state), 8 * trainable + 8);
      const w0 = Array.from(model.trainableWeights[0].read().dataSync());
      const base = tf.memory().numTensors;
      const losses: number[] = [];
      const times: string[] = [];
      for (let i = 0; i < c.steps; i++) {
        const r = await trainStep(model, opt, state, x, y);
        state = r.state;
        assert.ok(r.applied && Number.isFinite(r.loss), `step ${i}: loss ${r.loss}`);
        assert.ok(r.gradMs > 0 && r.updateMs >= 0 && r.stepMs >= r.gradMs);
        losses.push(r.loss);
        times.push(`${r.stepMs.toFixed(0)} (grad ${r.gradMs.toFixed(0)}, update ${r.updateMs.toFixed(0)})`);
        if (i >= 1) assert.equal(tf.memory().numTensors, base, `tensor leak after step ${i}`);
      }
      const w1 = Array.from(model.trainableWeights[0].read().dataSync());
      assert.ok(w0.some((v, i) => v !== w1[i]), "weights did not change");
      // Same batch every step: the loss goes down overall.
      assert.ok(Math.min(...losses.slice(1)) < losses[0], `loss did not decrease: ${losses.join(", ")}`);
      console.log(
        `${c.name}: losses ${losses.map((l) => l.toFixed(3)).join(" ")}; step ms ${times.join(", ")}`,
      );
      tf.dispose([x, y]);
      tf.dispose(stateTreeTensors(state));
      model.dispose();
    });
  }
});

Deno.test("trainStep handles auxiliary logits and rejects mismatched batches", async () => {
  const model = inceptionV3({
    widthMultiplier: 0.1,
    inputSize: 107,
    numClasses: 3,
    auxLogits: true,
    seed: 2,
  });
  const opt = makeBaseline("sgd", { learningRate: 0.01 });
  let state: StateTree = initOptimizerState(model, opt);
  assert.equal(optimizerStateBytes(state), 0);
  const { x, y } = batch(4, 2, 107, 3);
  const r = await trainStep(model, opt, state, x, y, { auxLossWeight: 0.4 });
  state = r.state;
  assert.ok(r.applied && Number.isFinite(r.loss));
  const bad = tf.zeros([2, 75, 75, 3]);
  await assert.rejects(
    () => trainStep(model, opt, state, bad, y),
    /images must have shape \[B, 107, 107, 3\]/,
  );
  const badLabels = tf.zeros([3], "int32");
  await assert.rejects(
    () => trainStep(model, opt, state, x, badLabels),
    /labels must be class indices \[2\]/,
  );
  tf.dispose([x, y, bad, badLabels]);
  model.dispose();
});
