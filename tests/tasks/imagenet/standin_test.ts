import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import type { ImageDataset } from "../../../tasks/data/dataset.ts";
import {
  batchOrder,
  colouriseExample,
  mnistRgbSource,
  STANDIN_DATASET,
  standInColours,
} from "../../../tasks/imagenet/standin.ts";
import {
  gradMsAtBatch,
  planGroups,
  sliceLargeTensors,
  timeUpdate,
} from "../../../tasks/imagenet/overhead.ts";
import { makeBaseline } from "../../../models/optimizers/baselines.ts";

await initBackend();

/** Four 28×28 "digits": example i is a filled square of side 4(i+1), label i. */
function fakeMnist(): ImageDataset {
  const n = 4;
  const images = new Float32Array(n * 28 * 28);
  for (let i = 0; i < n; i++) {
    const s = 4 * (i + 1);
    for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) images[i * 784 + y * 28 + x] = 1;
  }
  return {
    name: "mnist",
    standIn: false,
    split: "train",
    images,
    labels: Int32Array.from([0, 1, 2, 3]),
    n,
    height: 28,
    width: 28,
    channels: 1,
    numClasses: 10,
  };
}

Deno.test("mnist-rgb stand-in: named as a stand-in, resized, coloured per example, deterministic", async () => {
  const src = mnistRgbSource(fakeMnist(), 40, 7);
  assert.equal(src.dataset, STANDIN_DATASET);
  assert.equal(src.dataset, "mnist-rgb (stand-in)");
  assert.equal(src.standIn, true);
  assert.equal(src.numClasses, 10);
  const before = tf.memory().numTensors;
  const { x, y } = await src.batch([3, 0]);
  assert.deepEqual(x.shape, [2, 40, 40, 3]);
  assert.deepEqual(Array.from(y.dataSync()), [3, 0]);
  const px = x.dataSync();
  // Top-left pixel is ink (fg), bottom-right is paper (bg) for example 3.
  const { fg, bg } = standInColours(7, 3);
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(px[c] - fg[c]) < 1e-5);
    const o = (39 * 40 + 39) * 3 + c;
    assert.ok(Math.abs(px[o] - bg[c]) < 1e-5);
  }
  assert.ok(px.every((v) => v >= 0 && v <= 1));
  // Same example → same pixels, whatever the batch.
  const again = await src.batch([1, 3]);
  assert.deepEqual(Array.from(again.x.dataSync().slice(40 * 40 * 3)), Array.from(px.slice(0, 40 * 40 * 3)));
  tf.dispose([x, y, again.x, again.y]);
  assert.equal(tf.memory().numTensors, before);
  await assert.rejects(() => src.batch([4]), /out of range/);
  assert.throws(
    () => colouriseExample({ ...fakeMnist(), channels: 3 }, 0, 8, 0, new Float32Array(192), 0),
    /1-channel/,
  );
});

Deno.test("batchOrder: seeded, epoch-wise permutations, identical for identical args", () => {
  const a = batchOrder(10, 4, 5, 3);
  const b = batchOrder(10, 4, 5, 3);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, batchOrder(10, 4, 5, 4));
  const flat = a.flatMap((x) => Array.from(x));
  assert.equal(flat.length, 20);
  assert.deepEqual([...flat.slice(0, 10)].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...flat.slice(10, 20)].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.throws(() => batchOrder(0, 4, 1, 0), /at least one example/);
});

Deno.test("overhead helpers: groups under a cap, grouped update timing, labelled extrapolation", async () => {
  assert.deepEqual(planGroups([5, 5, 5, 20, 1], 10), [[0, 1], [2], [3], [4]]);
  assert.deepEqual(planGroups([5, 5], Infinity), [[0, 1]]);
  const params = [tf.ones([30, 4]), tf.ones([50]), tf.ones([3, 3, 2, 2])];
  const before = tf.memory().numTensors;
  const adam = makeBaseline("adam", {});
  const one = await timeUpdate(adam, params);
  const split = await timeUpdate(adam, params, planGroups(params.map((p) => p.size), 60));
  assert.equal(one.groups, 1);
  assert.equal(split.groups, 3);
  for (const t of [one, split]) {
    assert.equal(t.params, 206);
    assert.ok(t.updateMs > 0);
    // m and v per parameter (8 bytes) plus two float32 scalars per state.
    assert.ok(t.stateBytesPerParam >= 8 && t.stateBytesPerParam < 8.5, String(t.stateBytesPerParam));
  }
  assert.equal(tf.memory().numTensors, before);
  const sliced = sliceLargeTensors(params, 40);
  assert.deepEqual(sliced.params.map((p) => p.size), [40, 40, 40, 40, 10, 36]);
  assert.equal(sliced.split, 2);
  assert.equal(sliced.created.length, 5);
  tf.dispose(sliced.created);
  tf.dispose(params);
  const m = { batch: 2, inputSize: 299, gradMs: 100, updateMs: 1, stepMs: 101, peakBytes: 0, repeats: 1 };
  assert.deepEqual(gradMsAtBatch(m, 2), { gradMs: 100, basis: "measured at batch 2, 299 px" });
  const e = gradMsAtBatch(m, 32);
  assert.equal(e.gradMs, 1600);
  assert.match(e.basis, /^EXTRAPOLATED to batch 32 .* batch-2 step at 299 px/);
});
