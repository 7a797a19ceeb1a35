import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import {
  BatchIndexer,
  type DatasetSpec,
  fromImageArrays,
  generateDataArrays,
  loadDataset,
} from "../../tasks/datasets.ts";
import { close } from "./helpers.ts";

await initBackend();

Deno.test("random (make_classification): shapes, balance, cluster structure, flips, determinism", () => {
  const spec: DatasetSpec = { kind: "random", nFeatures: 6, nSamples: 2001, nClasses: 2, sep: 3, seed: 1 };
  const a = generateDataArrays(spec), b = generateDataArrays(spec);
  assert.deepEqual(a.xShape, [2001, 6]);
  assert.deepEqual(a.x, b.x);
  assert.deepEqual(a.y, b.y);
  const c = generateDataArrays({ ...spec, seed: 2 } as DatasetSpec);
  assert.notDeepEqual(a.x, c.x);
  const ones = a.y.reduce((s, v) => s + v, 0);
  close(ones / 2001, 0.5, 0.03, "class balance");
  // each feature's values cluster around ±sep: the mean |x| is near sep (N(0,1)·A adds spread)
  let absMean = 0;
  for (const v of a.x) absMean += Math.abs(v);
  absMean /= a.x.length;
  assert.ok(absMean > 2 && absMean < 4.5, `|x| around sep: ${absMean}`);
  // flip_y = 0 vs default: no flips keeps every label equal to cluster mod 2; flips change ~0.5% of labels
  const noFlip = generateDataArrays({ ...spec, flipY: 0 } as DatasetSpec);
  let diff = 0;
  for (let i = 0; i < 2001; i++) if (noFlip.y[i] !== a.y[i]) diff++;
  assert.ok(diff > 0 && diff < 40, `about 0.5% of labels flipped (${diff})`);
  const ten = generateDataArrays({ kind: "random", nFeatures: 5, nSamples: 500, nClasses: 10, seed: 3 });
  const seen = new Set(ten.y);
  assert.equal(seen.size, 10);
  assert.throws(
    () => generateDataArrays({ kind: "random", nFeatures: 1, nSamples: 10, nClasses: 3, seed: 1 }),
    /hypercube/,
  );
});

Deno.test("random_mlp, random_binary, random_symmetric, noisy_parity_class, empty", () => {
  const mlp = generateDataArrays({ kind: "random_mlp", nFeatures: 8, nSamples: 3000, seed: 4 });
  assert.deepEqual(mlp.xShape, [3000, 8]);
  assert.ok(mlp.y.every((v) => v === 0 || v === 1));
  const frac = mlp.y.reduce((s, v) => s + v, 0) / 3000;
  assert.ok(frac > 0.02 && frac < 0.98, `both labels occur (${frac})`);
  const bin = generateDataArrays({ kind: "random_binary", nFeatures: 10, nSamples: 500, seed: 4 });
  assert.ok(bin.x.every((v) => v === 0 || v === 1));
  close(Array.from(bin.x).reduce((s, v) => s + v, 0) / 5000, 0.5, 0.03, "binary mean");
  assert.ok(bin.y.every((v) => v === 0));
  const sym = generateDataArrays({ kind: "random_symmetric", nFeatures: 3, nSamples: 11, seed: 4 });
  assert.deepEqual(sym.xShape, [10, 3]);
  for (let i = 0; i < 15; i++) assert.equal(sym.x[i], -sym.x[15 + i]);
  const par = generateDataArrays({ kind: "noisy_parity_class", nSamples: 4000, seed: 4 });
  assert.deepEqual(par.xShape, [4000, 5]);
  assert.ok(par.x instanceof Int32Array);
  let agree = 0;
  for (let i = 0; i < 4000; i++) {
    let s = 0;
    for (let j = 0; j < 5; j++) s += par.x[i * 5 + j];
    if (s % 2 === par.y[i]) agree++;
  }
  close(agree / 4000, 0.75, 0.03, "parity label correct with prob 1 − 0.25");
  const empty = generateDataArrays({ kind: "empty" });
  assert.equal(empty.xShape[0], 0);
  assert.throws(() => generateDataArrays({ kind: "mnist" }), /resolver/);
  assert.throws(
    () => generateDataArrays({ kind: "random_binary", nFeatures: 0, nSamples: 3, seed: 1 }),
    /nFeatures/,
  );
});

Deno.test("batch index scheme: consecutive slices of a shuffle, reshuffle at the end, bs > size", () => {
  const ix = new BatchIndexer(10, 3);
  const rng = new Rng(1);
  const epoch = [...ix.next(rng), ...ix.next(rng), ...ix.next(rng)];
  assert.equal(new Set(epoch).size, 9); // no repeats within an epoch
  const after = ix.next(rng); // 9 + 3 > 10: reshuffle and restart
  assert.equal(after.length, 3);
  const same = new BatchIndexer(10, 3), rng2 = new Rng(1);
  assert.deepEqual([...same.next(rng2), ...same.next(rng2), ...same.next(rng2)], epoch);
  const big = new BatchIndexer(5, 8);
  const whole = big.next(rng);
  assert.deepEqual([...whole].sort(), [0, 1, 2, 3, 4]);
  assert.equal(new BatchIndexer(0, 0).next(rng).length, 0);
  assert.equal(new BatchIndexer(0, 4).next(rng).length, 0);
});

Deno.test("dataset tensors, resolver hook and image adapter", () => {
  const ds = loadDataset({ kind: "random_binary", nFeatures: 3, nSamples: 7, seed: 1 });
  assert.deepEqual(ds.x.shape, [7, 3]);
  assert.equal(ds.y.dtype, "int32");
  tf.dispose([ds.x, ds.y]);
  assert.throws(() => loadDataset({ kind: "mnist" }), /resolver/);
  const img = fromImageArrays({
    images: new Float32Array(2 * 4 * 4),
    labels: new Int32Array([3, 1]),
    n: 2,
    height: 4,
    width: 4,
    channels: 1,
    name: "mnist",
    standIn: true,
  });
  assert.deepEqual(img.x.shape, [2, 4, 4, 1]);
  assert.match(img.standIn ?? "", /stand-in/);
  const viaHook = loadDataset({ kind: "mnist" }, () => img);
  assert.equal(viaHook, img);
  tf.dispose([img.x, img.y]);
});
