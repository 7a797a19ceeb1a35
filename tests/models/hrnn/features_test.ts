import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { makeHrnnConfig } from "../../../models/hrnn/config.ts";
import {
  coordinateFeatures,
  featureNames,
  newMeanSquared,
  rmsScaling,
} from "../../../models/hrnn/features.ts";
import { vals } from "./helpers.ts";

await initBackend();

const zeros = (n: number) => tf.zeros([1, n]) as tf.Tensor2D;

Deno.test("§2.3: decay is forced to 0 while ms is all zero, used otherwise", () => {
  const g = tf.tensor1d([1, -2, 0]);
  const first = vals(newMeanSquared(g, 0.9, tf.zeros([3])));
  [1, 4, 0].forEach((v, i) => assert.ok(Math.abs(first[i] - (v + 1e-12)) < 1e-7));
  const ms = tf.tensor1d([0, 1, 0]); // one non-zero element: the decay applies everywhere
  const second = vals(newMeanSquared(g, 0.9, ms));
  const want = [0.1 * 1, 0.1 * 4 + 0.9, 0];
  second.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `${v} vs ${want[i]}`));
  const r = rmsScaling(tf.tensor1d([3]), 0.5, tf.zeros([1]));
  assert.ok(Math.abs(vals(r.scaled)[0] - Math.asinh(1)) < 1e-5);
});

Deno.test("first step after a reset: accumulators = g, x = ±asinh(1), products 0.776, log-ms deviations 0", () => {
  const c = makeHrnnConfig();
  const g = tf.tensor2d([[0.3, -2, 1e-3, -5e-4, 7]]);
  const n = 5;
  const logLr = tf.tensor2d([[-5, -6, -7, -8, -9]]);
  const out = coordinateFeatures({
    grad: g,
    accum: [zeros(n), zeros(n), zeros(n), zeros(n)],
    ms: [zeros(n), zeros(n), zeros(n), zeros(n)],
    inpDecay: zeros(n),
    sclDecay: zeros(n),
    logLr,
    lrMean: tf.scalar(-7),
  }, c);
  assert.deepEqual(out.features.shape, [12, n]);
  const f = out.features.arraySync();
  const names = featureNames(c);
  const sign = vals(g).map(Math.sign);
  for (let i = 0; i < 4; i++) {
    assert.deepEqual(vals(out.accum[i]), vals(g), `a'_${i + 1} = g`);
    vals(out.ms[i]).forEach((m, j) => assert.ok(Math.abs(m - (vals(g)[j] ** 2 + 1e-12)) <= 1e-6 * m + 1e-15));
    f[i].forEach((x, j) => assert.ok(Math.abs(x - sign[j] * 0.8813736) < 1e-5, `${names[i]}[${j}] = ${x}`));
  }
  for (let i = 4; i < 7; i++) {
    f[i].forEach((x) => assert.ok(Math.abs(x - 0.7768) < 1e-3, `${names[i]} = ${x}`));
  }
  for (let i = 7; i < 11; i++) f[i].forEach((x) => assert.ok(Math.abs(x) < 1e-5, `${names[i]} = ${x}`));
  assert.deepEqual(f[11], [2, 1, 0, -1, -2]); // ℓ − μ_ℓ
});

Deno.test("momentum timescales: d_{i+1} = sqrt(d_i); the ms is of the accumulated gradient", () => {
  const c = makeHrnnConfig({ useRelativeLr: false });
  const d = 0.9;
  const n = 1;
  const a = [0.5, -0.5, 1, 2].map((v) => tf.tensor2d([[v]]));
  const ms = [1, 2, 3, 4].map((v) => tf.tensor2d([[v]]));
  const out = coordinateFeatures({
    grad: tf.tensor2d([[1]]),
    accum: a,
    ms,
    inpDecay: tf.fill([1, n], d) as tf.Tensor2D,
    sclDecay: tf.fill([1, n], 0.96) as tf.Tensor2D,
  }, c);
  let di = d;
  for (let i = 0; i < 4; i++) {
    const ai = (1 - di) * 1 + di * vals(a[i])[0];
    const msi = (1 - 0.96) * (ai * ai + 1e-12) + 0.96 * (i + 1);
    assert.ok(Math.abs(vals(out.accum[i])[0] - ai) < 1e-6, `a_${i}`);
    assert.ok(Math.abs(vals(out.ms[i])[0] - msi) < 1e-5, `ms_${i}`);
    assert.ok(Math.abs(vals(out.scaled[i])[0] - Math.asinh(ai / Math.sqrt(msi))) < 1e-5, `x_${i}`);
    di = Math.sqrt(di);
  }
});

Deno.test("optional features: extreme indicator, LR shortcut, per-tensor LR mean, K = 1", () => {
  const c = makeHrnnConfig({ useExtremeIndicator: true, useLrShortcut: true, numGradientScales: 1 });
  const logLr = tf.tensor2d([[2, -3, -20]]);
  const out = coordinateFeatures({
    grad: tf.tensor2d([[1, 1, 1]]),
    accum: [zeros(3)],
    ms: [zeros(3)],
    inpDecay: zeros(3),
    sclDecay: zeros(3),
    logLr,
    lrMean: tf.scalar(0),
  }, c);
  assert.deepEqual(featureNames(c), [
    "scaled_grad_1",
    "log_ms_dev_1",
    "relative_log_lr",
    "extreme_lr_indicator",
    "lr_shortcut",
  ]);
  const f = out.features.arraySync();
  const extreme = [2, 0, -(Math.log(1e-6) + 20)]; // relu(ℓ − ln 1) − relu(ln 1e-6 − ℓ)
  f[3].forEach((v, j) => assert.ok(Math.abs(v - extreme[j]) < 1e-5, `extreme[${j}] = ${v}`));
  f[4].forEach((v, j) => assert.ok(Math.abs(v - ([2, -3, -20][j] - Math.log(1e-3))) < 1e-5));
});
