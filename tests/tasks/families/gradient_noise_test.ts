import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { buildProblem } from "../../../tasks/registry.ts";
import { close, meanStd } from "../helpers.ts";
import { S, tinyData } from "./spec.ts";

await initBackend();

Deno.test("gradient noise: N(0, σ²) around the exact gradient, reproducible from the Rng", () => {
  const p = buildProblem(S("quadratic", { ndim: 100, noiseStdev: 2 }));
  const exact = buildProblem(S("quadratic", { ndim: 100 }));
  const x = p.init(new Rng(1));
  const rng = new Rng(5);
  const diffs: tf.Tensor[] = [];
  for (let i = 0; i < 20; i++) {
    const a = p.gradients(x, null, rng), b = exact.gradients(x, null, rng);
    diffs.push(tf.sub(a.grads[0], b.grads[0]));
    tf.dispose([a.loss, a.grads, b.loss, b.grads]);
  }
  const ms = meanStd(diffs);
  close(ms.mean, 0, 0.15, "noise mean");
  close(ms.std, 2, 0.1, "noise std");
  const g1 = p.gradients(x, null, new Rng(9)), g2 = p.gradients(x, null, new Rng(9));
  assert.deepEqual(g1.grads[0].dataSync(), g2.grads[0].dataSync());
  tf.dispose([diffs, x, g1.loss, g1.grads, g2.loss, g2.grads]);
  p.dispose();
  exact.dispose();
});

Deno.test("second derivatives flow through gradients (noise is a constant)", () => {
  for (const noiseStdev of [0, 1]) {
    const p = buildProblem(S("quadratic", { ndim: 4, noiseStdev }, 8));
    const r = new Rng(8);
    const w = r.normalArray(16);
    const v = [0.3, -1, 0.5, 2];
    // ∂/∂x Σ_i g_i(x) v_i = Wᵀ W v
    const hv = tf.tidy(() =>
      tf.grad((x: tf.Tensor) =>
        tf.sum(tf.mul(p.gradients([x], null, new Rng(1)).grads[0], tf.tensor2d(v, [4, 1])))
      )(
        tf.tensor2d([1, 2, 3, 4], [4, 1]),
      )
    );
    const wv = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) wv[i] += w[i * 4 + j] * v[j];
    const want = [0, 0, 0, 0];
    for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) want[j] += w[i * 4 + j] * wv[i];
    hv.dataSync().forEach((h, j) => close(h, want[j], 1e-3 * (1 + Math.abs(want[j])), "Hessian-vector"));
    hv.dispose();
    p.dispose();
  }
  // finite second derivatives through the MLP, matmul solve and a wrapper
  const specs = [
    S("fully_connected", {
      nFeatures: 3,
      hiddenSizes: [4],
      dataset: tinyData("random_mlp", { nFeatures: 3 }),
    }),
    S("matmul_algorithm", { n: 2, k: 6 }),
    S("log_objective", { inner: S("bowl", { cond: 2 }) }),
  ];
  for (const s of specs) {
    const p = buildProblem(s);
    const x = p.init(new Rng(2));
    const h = tf.tidy(() =>
      tf.grads((...ps: tf.Tensor[]) =>
        tf.addN(p.gradients(ps, null, new Rng(1)).grads.map((g) => tf.sum(tf.square(g))))
      )(x)
    );
    for (const t of h) {
      assert.ok(t.dataSync().every(Number.isFinite), `${s.family}: finite second derivatives`);
    }
    tf.dispose([h, x]);
    p.dispose();
  }
});
