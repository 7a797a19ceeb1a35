import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { biasGruCell } from "../../../models/hrnn/gru.ts";
import { makeHrnn } from "../../../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams, type MetaParams } from "../../../models/hrnn/meta_params.ts";
import { disposeState, step, tinyQuadratic, vals } from "./helpers.ts";

await initBackend();

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const rms = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);

/** Paper-config meta-parameters with the decay readout weights zeroed, so the decays are exactly σ(bias). */
function zeroDecayWeights(mp: MetaParams): MetaParams {
  const out = { ...mp };
  for (const k of ["readout/scl_decay_w", "readout/inp_decay_w"]) out[k] = tf.zerosLike(mp[k]);
  return out;
}

Deno.test("first step of the paper config matches §4.7", () => {
  const config = makeHrnnConfig();
  const base = createMetaParams(config, 1);
  const mp = zeroDecayWeights(base);
  const opt = makeHrnn(mp, config, { seed: 2 });
  const params = [tf.tensor2d([[0.5, -1, 2], [0.1, 0.2, -0.3]]), tf.tensor1d([1, -2, 3, -4])];
  const grads = [tf.tensor2d([[0.3, -0.02, 4], [-1, 2e-3, 0.5]]), tf.tensor1d([-0.7, 0.1, 0.25, -3])];
  const s0 = opt.init(params);
  const r = step(opt, grads, s0, params);
  const s1 = r.state;
  assert.equal(s1.tensors.length, 2);
  assert.deepEqual(s1.global!.shape, [1, 20]);
  s1.tensors.forEach((t, j) => {
    const g = vals(grads[j]);
    const n = g.length;
    assert.deepEqual(t.parameter.shape, [n, 10]);
    assert.deepEqual(t.layer!.shape, [1, 20]);
    // Accumulators equal g; mean squares g² + 1e-12 (all decays were 0).
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(vals(t.grad_accum[i]), g);
      vals(t.ms[i]).forEach((m, c) => assert.ok(Math.abs(m - g[c] * g[c]) <= 1e-6 * m + 1e-11));
    }
    // Decay readouts at their initial values σ(3.2) ≈ 0.961 and σ(2.2) ≈ 0.900.
    vals(t.scl_decay).forEach((v) => assert.ok(Math.abs(v - sigmoid(3.2)) < 1e-6));
    vals(t.inp_decay).forEach((v) => assert.ok(Math.abs(v - sigmoid(2.2)) < 1e-6));
    // LR weights start at 0: ℓ̃ = ℓ, so ℓ' = ℓ and the step is exp(ℓ − 1)·δ.
    const l0 = vals(s0.tensors[j].log_learning_rate!);
    vals(t.log_learning_rate!).forEach((v, c) => assert.ok(Math.abs(v - l0[c]) < 1e-5));
    l0.forEach((l) => assert.ok(l >= Math.log(1e-6) - 1e-4 && l <= Math.log(1e-2) + 1e-4, `ℓ = ${l}`));
    const delta = vals(r.updates[j]).map((u, c) => -u / Math.exp(l0[c] - 1));
    assert.ok(Math.abs(rms(delta) - 1) < 1e-4, `per-tensor RMS of the direction = ${rms(delta)}`);
    // δ = normalise(h0'·w_u + x·W_gs) with x = sign(g)·asinh(1) on the first step.
    const h0 = t.parameter.arraySync();
    const wu = vals(mp["readout/update_w"]);
    const wgs = vals(mp["shortcut/update"]);
    const raw = h0.map((row, c) =>
      row.reduce((a, h, i) => a + h * wu[i], 0) +
      wgs.reduce((a, w) => a + w * Math.sign(g[c]) * Math.asinh(1), 0)
    );
    const want = raw.map((v) => v / rms(raw));
    delta.forEach((d, c) => assert.ok(Math.abs(d - want[c]) < 1e-3, `δ[${c}] ${d} vs ${want[c]}`));
  });
  // Second step: momentum decays 0.900, 0.949, …; RMS decay 0.961 applies now.
  const g2 = [tf.onesLike(grads[0]), tf.onesLike(grads[1])];
  const s2 = step(opt, g2, s1, r.params).state;
  const d1 = sigmoid(2.2);
  const ds = [d1, Math.sqrt(d1), Math.sqrt(Math.sqrt(d1)), Math.sqrt(Math.sqrt(Math.sqrt(d1)))];
  const g0 = vals(grads[1]);
  ds.forEach((d, i) => {
    const want = g0.map((g) => (1 - d) * 1 + d * g);
    vals(s2.tensors[1].grad_accum[i]).forEach((a, c) =>
      assert.ok(Math.abs(a - want[c]) < 1e-5, `a_${i + 1}`)
    );
    const s = sigmoid(3.2);
    const wantMs = want.map((a, c) => (1 - s) * a * a + s * g0[c] * g0[c]);
    vals(s2.tensors[1].ms[i]).forEach((m, c) => assert.ok(Math.abs(m - wantMs[c]) < 1e-4 * (1 + wantMs[c])));
  });
  tf.dispose([params, grads, g2, r.params, r.updates]);
  [s0, s1, s2].forEach(disposeState);
  disposeMetaParams(base);
});

Deno.test("straight-through log-LR clip inside the update: value clipped, gradient passes", () => {
  // Initial ℓ is clipped to maxLogLr = −4 at init; a readout bias of +1 proposes ℓ̃ = −3, which is clipped back.
  const config = makeHrnnConfig({ maxLogLr: -4, initLrRange: [0.1, 0.5], useGradientShortcut: false });
  const mp = createMetaParams(config, 3);
  const params = [tf.tensor1d([1, -2, 0.5, 3])];
  const grads = [tf.tensor1d([0.2, -0.4, 0.1, 0.6])];
  const run = (lrB: tf.Tensor) => {
    const opt = makeHrnn({ ...mp, "readout/lr_b": lrB }, config, { seed: 4 });
    const s = opt.init(params);
    return { r: opt.update(grads, s, params), s };
  };
  const lrB = tf.tensor1d([1]);
  const { r, s } = run(lrB);
  vals(s.tensors[0].log_learning_rate!).forEach((l) => assert.ok(Math.abs(l + 4) < 1e-6, `initial ℓ ${l}`));
  // Step size exp(−4 − 1) for every coordinate, so RMS(update) = e^{-5}·RMS(δ) = e^{-5}.
  assert.ok(Math.abs(rms(vals(r.updates[0])) - Math.exp(-5)) < 1e-6);
  // ℓ' = m·ℓ + (1 − m)·clip(ℓ + 1) = −4.
  vals(r.state.tensors[0].log_learning_rate!).forEach((v) => assert.ok(Math.abs(v + 4) < 1e-5));
  // d(Σ c⊙update)/d lr_b is non-zero (it would be exactly 0 through a plain clip).
  const coef = tf.tensor1d([1, 2, 3, 4]);
  const g = tf.grad((b: tf.Tensor) => tf.sum(tf.mul(run(b).r.updates[0], coef)))(lrB);
  const expected = vals(tf.sum(tf.mul(r.updates[0], coef)))[0]; // d/db of exp(b + ...)·δ is the value itself
  assert.ok(
    Math.abs(vals(g)[0] - expected) < 1e-6 + 1e-3 * Math.abs(expected),
    `gradient ${vals(g)[0]} vs ${expected}`,
  );
  disposeMetaParams(mp);
});

Deno.test("attention (§5): true and attended points, attended step = e × true step at init", () => {
  for (const shortcut of [false, true]) {
    const config = makeHrnnConfig({
      useAttention: true,
      useGradientShortcut: shortcut,
      initLrRange: [0.05, 0.2],
    });
    const mp = createMetaParams(config, 5);
    const opt = makeHrnn(mp, config, { seed: 6 });
    assert.ok(opt.evalParams);
    const p0 = [tf.tensor1d([1, 2, 3, 4, 5, 6]), tf.tensor2d([[1, -1], [0.5, 2]])];
    const g0 = [tf.tensor1d([0.1, -0.2, 0.3, 0.05, -1, 2]), tf.tensor2d([[0.3, 0.1], [-0.2, 0.7]])];
    const s0 = opt.init(p0);
    const r1 = step(opt, g0, s0, p0);
    const true1 = opt.evalParams!(r1.state, r1.params);
    for (let j = 0; j < 2; j++) {
      const t0 = vals(p0[j]), t1 = vals(true1[j]), phi1 = vals(r1.params[j]);
      const trueStep = t1.map((v, c) => v - t0[c]);
      const attStep = phi1.map((v, c) => v - t0[c]);
      if (!shortcut) {
        attStep.forEach((a, c) => assert.ok(Math.abs(a - Math.E * trueStep[c]) < 2e-3 * Math.abs(a) + 1e-6));
      } else {
        const dot = attStep.reduce((a, x, c) => a + x * trueStep[c], 0);
        const ratio = Math.sqrt(
          attStep.reduce((a, x) => a + x * x, 0) / trueStep.reduce((a, x) => a + x * x, 0),
        );
        assert.ok(dot > 0 && Math.abs(ratio - Math.E) < 1, `attended/true step ratio ${ratio}`);
      }
    }
    // Second step: both points are offsets from the OLD TRUE params (state), not from the attended params.
    const g1 = g0.map((g) => tf.mul(g, -0.5));
    const r2 = step(opt, g1, r1.state, r1.params);
    const true2 = opt.evalParams!(r2.state, r2.params);
    if (!shortcut) {
      for (let j = 0; j < 2; j++) {
        const t1 = vals(true1[j]), t2 = vals(true2[j]), phi2 = vals(r2.params[j]);
        phi2.forEach((v, c) => {
          const want = t1[c] + Math.E * (t2[c] - t1[c]);
          assert.ok(Math.abs(v - want) < 5e-3 * Math.abs(t2[c] - t1[c]) + 2e-6, `φ2[${c}] ${v} vs ${want}`);
        });
      }
    }
    tf.dispose([p0, g0, g1, r1.params, r1.updates, r2.params, r2.updates, true1, true2]);
    [s0, r1.state, r2.state].forEach(disposeState);
    disposeMetaParams(mp);
  }
  const plain = makeHrnn(createMetaParams(makeHrnnConfig(), 1), makeHrnnConfig());
  assert.equal(plain.evalParams, undefined);
});

Deno.test("globalInput: last tensor (reference quirk) vs mean over tensors", () => {
  const prob = tinyQuadratic([[3], [4]], 5);
  const globals = (["last-tensor", "mean"] as const).map((globalInput) => {
    const config = makeHrnnConfig({ globalInput });
    const mp = createMetaParams(config, 1);
    const opt = makeHrnn(mp, config, { seed: 1 });
    const p = prob.init();
    const g = prob.grads(p);
    const s0 = opt.init(p);
    const r = step(opt, g, s0, p);
    const layers = r.state.tensors.map((t) => vals(t.layer!));
    const global = vals(r.state.global!);
    // Recompute GRU2 on the expected input to check which one was used.
    const gru2 = {
      gatesW: mp["gru2/gates_w"],
      gatesB: mp["gru2/gates_b"],
      candW: mp["gru2/cand_w"],
      candB: mp["gru2/cand_b"],
    };
    const input = globalInput === "mean" ? layers[0].map((v, i) => (v + layers[1][i]) / 2) : layers[1];
    return { global, input, gru2, s0 };
  });
  for (const { global, input, gru2, s0 } of globals) {
    const want = vals(biasGruCell(gru2, tf.tensor2d([input]), s0.global!, null));
    global.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5));
  }
  assert.notDeepEqual(globals[0].global, globals[1].global);
  prob.dispose();
});
