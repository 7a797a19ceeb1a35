import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { type HrnnConfig, makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { biasGruCell } from "../../../models/hrnn/gru.ts";
import { type HrnnOptimizer, type HrnnState, makeHrnn } from "../../../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams, type MetaParams } from "../../../models/hrnn/meta_params.ts";
import { disposeState, tinyQuadratic, vals } from "./helpers.ts";

await initBackend();

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const rms = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);

/** One optimizer step; returns new params, the updates and the new state (inputs are not disposed). */
function step(opt: HrnnOptimizer, grads: tf.Tensor[], state: HrnnState, params: tf.Tensor[]) {
  return tf.tidy(() => {
    const r = opt.update(grads, state, params);
    return { params: params.map((p, i) => tf.add(p, r.updates[i])), updates: r.updates, state: r.state };
  });
}

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

Deno.test("state shapes for 1, 2 and 3 levels and several tensors (incl. a scalar)", () => {
  const shapes = [[7, 3], [5], [], [2, 2, 2]];
  for (const levelSizes of [[10], [10, 20], [10, 20, 20], [6, 9, 4]]) {
    const config = makeHrnnConfig({ levelSizes });
    const mp = createMetaParams(config, 1);
    const opt = makeHrnn(mp, config, { seed: 1 });
    const prob = tinyQuadratic(shapes, 3);
    const p = prob.init();
    const s0 = opt.init(p);
    const g = prob.grads(p);
    const r = step(opt, g, s0, p);
    r.updates.forEach((u, j) => assert.deepEqual(u.shape, p[j].shape));
    r.state.tensors.forEach((t, j) => {
      const n = p[j].size;
      assert.deepEqual(t.parameter.shape, [n, levelSizes[0]]);
      assert.deepEqual(t.scl_decay.shape, [1, n]);
      assert.deepEqual(t.log_learning_rate!.shape, [1, n]);
      assert.equal(t.grad_accum.length, 4);
      assert.equal(t.layer?.shape[1], levelSizes[1]);
      assert.equal(t.true_param, undefined);
    });
    assert.equal(r.state.global?.shape[1], levelSizes[2]);
    r.updates.forEach((u) => assert.ok(vals(u).every(Number.isFinite)));
    tf.dispose([p, g, r.params, r.updates]);
    [s0, r.state].forEach(disposeState);
    prob.dispose();
    disposeMetaParams(mp);
  }
});

/** Configs that switch each option away from the paper value (and a few combinations). */
function variants(): [string, Partial<HrnnConfig>][] {
  return [
    ["learnableDecay off", { learnableDecay: false }],
    ["dynamicOutputScale off", { dynamicOutputScale: false, useRelativeLr: false }],
    ["attention on", { useAttention: true }],
    ["attention without dynamic output scale", {
      useAttention: true,
      dynamicOutputScale: false,
      useRelativeLr: false,
    }],
    ["K = 1", { numGradientScales: 1 }],
    ["K = 2", { numGradientScales: 2 }],
    ["zeroInitLrWeights off", { zeroInitLrWeights: false }],
    ["useLogMeansSquared off", { useLogMeansSquared: false }],
    ["useRelativeLr off", { useRelativeLr: false }],
    ["extreme indicator on", { useExtremeIndicator: true }],
    ["useProblemLrMean off", { useProblemLrMean: false }],
    ["gradient shortcut off", { useGradientShortcut: false }],
    ["LR shortcut on", { useLrShortcut: true }],
    ["grad products off", { useGradProducts: false }],
    ["only scaled gradients", { useGradProducts: false, useLogMeansSquared: false, useRelativeLr: false }],
    ["multiple scale decays on", { useMultipleScaleDecays: true }],
    ["learnableInpDecay off", { learnableInpDecay: false }],
    ["learnableRnnInit off", { learnableRnnInit: false }],
    ["globalInput mean", { globalInput: "mean" }],
    ["min_lr = max_lr", { initLrRange: [1e-3, 1e-3] }],
  ];
}

Deno.test("every switch runs (3 steps, finite updates)", () => {
  const prob = tinyQuadratic([[4, 3], [6]], 4);
  for (const [name, over] of variants()) {
    const config = makeHrnnConfig(over);
    const mp = createMetaParams(config, 2);
    const opt = makeHrnn(mp, config, { seed: 3 });
    let p = prob.init();
    let s = opt.init(p);
    if (over.initLrRange) {
      vals(s.tensors[0].log_learning_rate!).forEach((l) => assert.ok(Math.abs(l - Math.log(1e-3)) < 1e-5));
    }
    for (let t = 0; t < 3; t++) {
      const g = prob.grads(p);
      const r = step(opt, g, s, p);
      assert.ok(
        r.updates.every((u) => vals(u).every(Number.isFinite)),
        `${name}: non-finite update at step ${t}`,
      );
      tf.dispose([g, p, r.updates]);
      disposeState(s);
      p = r.params;
      s = r.state;
    }
    if (over.learnableDecay === false) {
      vals(s.tensors[0].scl_decay).forEach((v) => assert.ok(Math.abs(v - 0.93) < 1e-6));
    }
    if (over.learnableInpDecay === false) {
      vals(s.tensors[0].inp_decay).forEach((v) => assert.ok(Math.abs(v - 0.89) < 1e-6));
    }
    if (over.dynamicOutputScale === false) assert.equal(s.tensors[0].log_learning_rate, undefined);
    tf.dispose(p);
    disposeState(s);
    disposeMetaParams(mp);
  }
  prob.dispose();
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

Deno.test("deterministic from the seeds", () => {
  const config = makeHrnnConfig();
  const prob = tinyQuadratic([[5, 2], [3]], 6);
  const run = (mpSeed: number, optSeed: number) => {
    const mp = createMetaParams(config, mpSeed);
    const opt = makeHrnn(mp, config, { rng: new Rng(optSeed) });
    let p = prob.init();
    let s = opt.init(p);
    for (let t = 0; t < 3; t++) {
      const g = prob.grads(p);
      const r = step(opt, g, s, p);
      tf.dispose([g, p, r.updates]);
      disposeState(s);
      p = r.params;
      s = r.state;
    }
    const out = p.map(vals);
    tf.dispose(p);
    disposeState(s);
    disposeMetaParams(mp);
    return out;
  };
  assert.deepEqual(run(1, 2), run(1, 2));
  assert.notDeepEqual(run(1, 2), run(1, 3));
  assert.notDeepEqual(run(1, 2), run(4, 2));
  prob.dispose();
});

Deno.test("no tensor leaks over 20 steps under the caller's tidy", () => {
  for (const over of [{}, { useAttention: true }] as Partial<HrnnConfig>[]) {
    const config = makeHrnnConfig(over);
    const mp = createMetaParams(config, 1);
    const opt = makeHrnn(mp, config, { seed: 1 });
    const prob = tinyQuadratic([[6, 4], [4], []], 7);
    let p = prob.init();
    let s = opt.init(p);
    const counts: number[] = [];
    for (let t = 0; t < 20; t++) {
      const next = tf.tidy(() => {
        const r = opt.update(prob.grads(p), s, p);
        return { p: p.map((x, i) => tf.add(x, r.updates[i])), s: r.state };
      });
      tf.dispose(p);
      disposeState(s);
      p = next.p;
      s = next.s;
      counts.push(tf.memory().numTensors);
    }
    assert.equal(counts[counts.length - 1], counts[0], `tensor counts ${counts.join(",")}`);
    // The state never aliases meta-parameters (disposing it must not free them).
    const ids = new Set(Object.values(mp).map((t) => t.id));
    const stateTensors = [...Object.values(s.tensors[0]).flat(), s.global].filter((t) =>
      t instanceof tf.Tensor
    );
    assert.ok(stateTensors.every((t) => !ids.has((t as tf.Tensor).id)));
    tf.dispose(p);
    disposeState(s);
    prob.dispose();
    disposeMetaParams(mp);
  }
});

Deno.test("init does not alias meta-parameters or inputs (disposing a state is safe)", () => {
  const config = makeHrnnConfig({ useAttention: true });
  const mp = createMetaParams(config, 1);
  const opt = makeHrnn(mp, config, { seed: 1 });
  const p = [tf.tensor1d([1, 2])];
  const s = opt.init(p);
  disposeState(s);
  assert.ok(!p[0].isDisposed);
  assert.ok(Object.values(mp).every((t) => !t.isDisposed));
  tf.dispose(p);
  disposeMetaParams(mp);
});

Deno.test("meta-gradient of a 5-step unroll matches central finite differences", () => {
  const config = makeHrnnConfig({ initLrRange: [0.05, 0.3], zeroInitLrWeights: false });
  const mp = createMetaParams(config, 11);
  const names = [
    "readout/lr_b",
    "readout/lr_w",
    "readout/update_w",
    "gru0/gates_w",
    "gru0/cand_w",
    "gru1/gates_w",
    "bias0/from_level1_w",
    "bias0/from_level2_w",
    "init/level0",
    "shortcut/update",
    "readout/inp_decay_w",
    "lr_momentum_logit",
  ];
  const prob = tinyQuadratic([[3, 4], [5]], 2);
  const unrollLoss = (list: tf.Tensor[]): tf.Scalar => {
    const m: MetaParams = { ...mp };
    names.forEach((n, i) => (m[n] = list[i]));
    const opt = makeHrnn(m, config, { seed: 5 });
    let params = prob.init();
    let state = opt.init(params);
    // Meta-loss like §6.2: logs of the objective relative to the start (small values keep float32 FD precise).
    const f0 = prob.f(params);
    const losses: tf.Tensor[] = [];
    for (let t = 0; t < 5; t++) {
      // The gradient depends on the params, so the meta-gradient includes the second-derivative path.
      const r = opt.update(prob.grads(params), state, params);
      params = params.map((p, i) => tf.add(p, r.updates[i]));
      state = r.state;
      losses.push(tf.log(tf.div(prob.f(params), f0)));
    }
    return tf.addN(losses) as tf.Scalar;
  };
  const xs = names.map((n) => mp[n]);
  const grads = tf.tidy(() => tf.grads((...a: tf.Tensor[]) => unrollLoss(a))(xs));
  const rng = new Rng(9);
  const eps = 1e-2;
  names.forEach((name, i) => {
    const v = tf.tidy(() => {
      const r = tf.tensor(rng.normalArray(xs[i].size), xs[i].shape);
      return tf.div(r, tf.norm(r));
    });
    const analytic = vals(tf.sum(tf.mul(grads[i], v)))[0];
    const at = (sign: number) =>
      tf.tidy(() => vals(unrollLoss(xs.map((x, k) => (k === i ? tf.add(x, tf.mul(v, sign * eps)) : x))))[0]);
    const fd = (at(1) - at(-1)) / (2 * eps);
    const err = Math.abs(fd - analytic);
    assert.ok(
      err <= 1e-2 * Math.max(Math.abs(fd), Math.abs(analytic)) + 2e-5,
      `${name}: analytic ${analytic}, finite differences ${fd}`,
    );
    v.dispose();
  });
  tf.dispose(grads);
  prob.dispose();
  disposeMetaParams(mp);
});
