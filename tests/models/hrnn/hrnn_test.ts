import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { type HrnnConfig, makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { makeHrnn } from "../../../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams, type MetaParams } from "../../../models/hrnn/meta_params.ts";
import { disposeState, step, tinyQuadratic, vals } from "./helpers.ts";

await initBackend();

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
