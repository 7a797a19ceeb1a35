import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { buildProblem } from "../../tasks/registry.ts";
import type { ProblemSpec } from "../../tasks/problem.ts";
import { checkGradientFd, close, meanStd, num } from "./helpers.ts";

await initBackend();

const S = (family: string, params: Record<string, unknown> = {}, seed = 3): ProblemSpec => ({
  family,
  params,
  seed,
});
const arr = (t: tf.Tensor) => Array.from(t.dataSync());

Deno.test("rescale: f(θ) = f_inner(θ/s), gradient / s, init × s", () => {
  const inner = S("quadratic", { ndim: 5 }, 12);
  const q = buildProblem(inner);
  const r = buildProblem(S("rescale", { inner, scale: 8 }));
  const x = r.init(new Rng(1));
  const xs = x.map((t) => tf.div(t, 8));
  close(num(r.fullObjective(x)), num(q.fullObjective(xs)), 1e-3, "rescaled value");
  const gr = r.gradients(x, null, new Rng(1)), gq = q.gradients(xs, null, new Rng(1));
  arr(gr.grads[0]).forEach((v, i) => close(v, arr(gq.grads[0])[i] / 8, 1e-4 * (1 + Math.abs(v)), "grad / s"));
  checkGradientFd(r, x, null);
  const draws = Array.from({ length: 200 }, (_, i) => r.init(new Rng(100 + i))[0]);
  close(meanStd(draws).std, 8, 0.5, "init std = scale");
  tf.dispose([x, xs, gr.loss, gr.grads, gq.loss, gq.grads, draws]);
  q.dispose();
  r.dispose();
});

Deno.test("sum_task: concatenated params, summed value, per-part gradients", () => {
  const parts = [S("rosenbrock"), S("quadratic", { ndim: 3 }, 5), S("bowl", { cond: 2 })];
  const sum = buildProblem(S("sum_task", { problems: parts }));
  assert.deepEqual(sum.paramShapes, [[2], [3, 1], [2, 1]]);
  assert.deepEqual(sum.paramNames, ["p0/v", "p1/x", "p2/x"]);
  const x = sum.init(new Rng(4));
  const single = parts.map((p) => buildProblem(p));
  const want = single.reduce((s, p, k) => s + num(p.fullObjective([x[k]])), 0);
  close(num(sum.fullObjective(x)), want, 1e-3 * Math.abs(want), "sum value");
  const g = sum.gradients(x, null, new Rng(1));
  single.forEach((p, k) => {
    const gk = p.gradients([x[k]], null, new Rng(1));
    assert.deepEqual(arr(g.grads[k]), arr(gk.grads[0]));
    tf.dispose([gk.loss, gk.grads]);
  });
  checkGradientFd(sum, x, null, { absStep: 1e-2 });
  tf.dispose([x, g.loss, g.grads]);
  single.forEach((p) => p.dispose());
  sum.dispose();
});

Deno.test("log_objective: ln(f + 1e-6) − ln(1e-6) >= 0, gradient ∇f / (f + 1e-6)", () => {
  const inner = S("bowl", { cond: 3 });
  const b = buildProblem(inner);
  const l = buildProblem(S("log_objective", { inner }));
  const x = l.init(new Rng(2));
  const f = num(b.fullObjective(x));
  close(num(l.fullObjective(x)), Math.log(f + 1e-6) - Math.log(1e-6), 1e-4, "log value");
  const zero = [tf.zeros([2, 1])];
  const atMin = num(l.fullObjective(zero));
  assert.ok(atMin >= 0 && atMin < 1e-3, `log objective at the minimum is ~0 (${atMin})`);
  const gl = l.gradients(x, null, new Rng(1)), gb = b.gradients(x, null, new Rng(1));
  arr(gl.grads[0]).forEach((v, i) =>
    close(v, arr(gb.grads[0])[i] / (f + 1e-6), 1e-4 * (1 + Math.abs(v)), "grad")
  );
  checkGradientFd(l, x, null);
  tf.dispose([x, zero, gl.loss, gl.grads, gb.loss, gb.grads]);
  b.dispose();
  l.dispose();
});

Deno.test("sparse_problem: ~99% of gradient entries zeroed per step; the rest exact", () => {
  const inner = S("quadratic", { ndim: 100 }, 6);
  const q = buildProblem(inner);
  const sp = buildProblem(S("sparse_problem", { inner }));
  const x = sp.init(new Rng(3));
  const exact = arr(q.gradients(x, null, new Rng(0)).grads[0]);
  const rng = new Rng(4);
  let zeros = 0, total = 0;
  for (let step = 0; step < 300; step++) {
    const r = sp.gradients(x, null, rng);
    arr(r.grads[0]).forEach((v, i) => {
      total++;
      if (v === 0) zeros++;
      else close(v, exact[i], 1e-4 * (1 + Math.abs(v)), "kept entry is exact");
    });
    tf.dispose([r.loss, r.grads]);
  }
  close(zeros / total, 0.99, 0.004, "zero fraction");
  close(num(sp.fullObjective(x)), num(q.fullObjective(x)), 1e-3, "objective is the inner one");
  tf.dispose(x);
  q.dispose();
  sp.dispose();
  // data-backed inner problem: batches come from the inner problem
  const mlp = S("fully_connected", {
    nFeatures: 3,
    hiddenSizes: [4],
    dataset: { kind: "random_mlp", nFeatures: 3, nSamples: 50, seed: 1 },
    batchSize: 10,
  });
  const sm = buildProblem(S("sparse_problem", { inner: mlp, zeroProbability: 0.5 }));
  assert.equal(sm.datasetSize, 50);
  const b = sm.sampleBatch(new Rng(1))!;
  assert.equal(b.x.shape[0], 10);
  tf.dispose([b.x, b.y]);
  sm.dispose();
});

Deno.test("wrapper noise: inner noise effective by default, ignored with faithfulNoise", () => {
  const noisyParts = [
    S("quadratic", { ndim: 50, noiseStdev: 0.5 }, 1),
    S("quadratic", { ndim: 50, noiseStdev: 0.5 }, 2),
  ];
  const exactParts = noisyParts.map((s) => ({ ...s, params: { ndim: 50 } }));
  const exact = buildProblem(S("sum_task", { problems: exactParts }));
  for (const faithful of [false, true]) {
    for (
      const spec of [
        S("sum_task", { problems: noisyParts, faithfulNoise: faithful }),
        S("rescale", { inner: noisyParts[0], scale: 1, faithfulNoise: faithful }),
        S("log_objective", { inner: noisyParts[0], faithfulNoise: faithful }),
        S("sparse_problem", { inner: noisyParts[0], zeroProbability: 0, faithfulNoise: faithful }),
      ]
    ) {
      const p = buildProblem(spec);
      const x = p.init(new Rng(1));
      const ref = spec.family === "sum_task" ? exact : buildProblem(exactParts[0]);
      const g = p.gradients(x, null, new Rng(2)), ge = ref.gradients(x, null, new Rng(2));
      let scale = 1;
      if (spec.family === "log_objective") scale = 1 / (num(ref.fullObjective(x)) + 1e-6);
      const d = tf.tidy(() => g.grads.map((t, k) => tf.sub(t, tf.mul(ge.grads[k], scale))));
      const ms = meanStd(d);
      if (faithful) close(ms.std, 0, 1e-3 * (1 + scale), `${spec.family} faithful: exact gradient`);
      else close(ms.std / scale, 0.5, 0.12, `${spec.family} effective: inner noise present`);
      tf.dispose([x, g.loss, g.grads, ge.loss, ge.grads, d]);
      if (ref !== exact) ref.dispose();
      p.dispose();
    }
  }
  exact.dispose();
  // a wrapper's own noise always applies
  const own = buildProblem(
    S("rescale", { inner: S("bowl", { cond: 1 }), scale: 1, noiseStdev: 3, faithfulNoise: true }),
  );
  const plain = buildProblem(S("bowl", { cond: 1 }));
  const x = own.init(new Rng(1));
  const diffs: tf.Tensor[] = [];
  const rng = new Rng(7);
  for (let i = 0; i < 300; i++) {
    const a = own.gradients(x, null, rng), b = plain.gradients(x, null, rng);
    diffs.push(tf.sub(a.grads[0], b.grads[0]));
    tf.dispose([a.loss, a.grads, b.loss, b.grads]);
  }
  close(meanStd(diffs).std, 3, 0.3, "own noise");
  tf.dispose([x, diffs]);
  own.dispose();
  plain.dispose();
});
