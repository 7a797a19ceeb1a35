import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import {
  createL2lLstmMetaParams,
  L2L_LSTM_PAPER,
  l2lLstmLearnedOptimizer,
  logAndSign,
  makeL2lLstm,
  makeL2lLstmConfig,
} from "../../../models/optimizers/l2l_lstm.ts";
import { disposeCarry, makeEstimator } from "../../../models/metatrain/estimators.ts";
import { PAPER_UNROLL_CONFIG, startTrajectory } from "../../../models/metatrain/unroll.ts";
import { fdCheck, tinyQuadratic, tinySpec } from "../metatrain/fixtures.ts";

await initBackend();

const sig = (x: number) => 1 / (1 + Math.exp(-x));

Deno.test("L2L preprocessing: (ln|g|/10, sign g) above e^-10, (-1, e^10 g) below", () => {
  const g = [1, -Math.exp(-5), 1e-6, -2e-5, 0, 3];
  const out = tf.tidy(() => logAndSign(tf.tensor2d(g, [g.length, 1]), 10).arraySync());
  const want = [[0, 1], [-0.5, -1], [-1, Math.exp(10) * 1e-6], [-1, Math.exp(10) * -2e-5], [-1, 0], [
    Math.log(3) / 10,
    1,
  ]];
  out.forEach((row, i) =>
    row.forEach((v, j) =>
      assert.ok(Math.abs(v - want[i][j]) < 1e-6, `g=${g[i]} col ${j}: ${v} vs ${want[i][j]}`)
    )
  );
  // The gradient through the preprocessing is finite at g = 0 (no ln 0 in the tape).
  const dg = tf.tidy(() =>
    tf.grad((x: tf.Tensor) => tf.sum(logAndSign(x as tf.Tensor2D, 10)))(tf.tensor2d([0, 1e-6, 2], [3, 1]))
      .dataSync()
  );
  assert.deepEqual(Array.from(dg).map((v) => Number.isFinite(v)), [true, true, true]);
  assert.ok(Math.abs(dg[1] - Math.exp(10)) < 1e-1 && Math.abs(dg[2] - 1 / 20) < 1e-6, `d/dg: ${dg}`);
});

Deno.test("L2L LSTM first two steps equal a hand computation (two layers of one unit)", () => {
  const cfg = makeL2lLstmConfig({ layers: [1, 1] });
  // Gate order: input, forget, cell, output. Layer 0 reads (ln|g|/p, sign g); layer 1 reads h of layer 0.
  const w = {
    "lstm0/wx": [[0.5, -0.3, 0.8, 0.2], [0.1, 0.4, -0.6, 0.7]],
    "lstm0/wh": [[0.3, 0.2, -0.1, 0.5]],
    "lstm0/b": [0.1, 1, 0, -0.2],
    "lstm1/wx": [[0.9, -0.4, 1.2, 0.3]],
    "lstm1/wh": [[-0.2, 0.6, 0.4, 0.1]],
    "lstm1/b": [0, 1, 0.1, 0],
    "readout/w": [[2]],
    "readout/b": [0.05],
  };
  const mp = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, tf.tensor(v)]));
  const opt = makeL2lLstm(mp, cfg);
  // Hand computation for one coordinate, float64.
  const cell = (x: number[], wx: number[][], wh: number[][], b: number[], h: number, c: number) => {
    const z = [0, 1, 2, 3].map((k) => x.reduce((s, xi, i) => s + xi * wx[i][k], 0) + h * wh[0][k] + b[k]);
    const cn = sig(z[1]) * c + sig(z[0]) * Math.tanh(z[2]);
    return { h: sig(z[3]) * Math.tanh(cn), c: cn };
  };
  let s0 = { h: 0, c: 0 }, s1 = { h: 0, c: 0 };
  const byHand = (g: number) => {
    const x = Math.abs(g) >= Math.exp(-10)
      ? [Math.log(Math.abs(g)) / 10, Math.sign(g)]
      : [-1, Math.exp(10) * g];
    s0 = cell(x, w["lstm0/wx"], w["lstm0/wh"], w["lstm0/b"], s0.h, s0.c);
    s1 = cell([s0.h], w["lstm1/wx"], w["lstm1/wh"], w["lstm1/b"], s1.h, s1.c);
    return 0.1 * (2 * s1.h + 0.05);
  };
  const params = [tf.zeros([1])];
  let state = opt.init(params);
  for (const g of [0.3, -1e-6]) {
    const want = byHand(g);
    const grad = tf.tensor1d([g]);
    const r = opt.update([grad], state, params);
    const got = r.updates[0].dataSync()[0];
    assert.ok(Math.abs(got - want) < 1e-6, `g=${g}: update ${got}, by hand ${want}`);
    tf.dispose([grad, ...r.updates, ...state.h, ...state.c]);
    state = r.state;
  }
  tf.dispose([...params, ...state.h, ...state.c, ...Object.values(mp)]);
});

Deno.test("L2L LSTM (paper config) treats every coordinate of every tensor alike; zero weights give 0.1·bias", () => {
  const before = tf.memory().numTensors;
  const mp = createL2lLstmMetaParams(L2L_LSTM_PAPER, 7);
  const opt = makeL2lLstm(mp, L2L_LSTM_PAPER);
  const params = [tf.zeros([2, 3]), tf.zeros([4])];
  const state = opt.init(params);
  const g = [tf.tensor2d([[0.1, -2, 1e-7], [0.1, 3, 0]]), tf.tensor1d([-2, 0.1, 1e-7, 5])];
  const r = opt.update(g, state, params);
  assert.deepEqual(r.updates.map((u) => u.shape), [[2, 3], [4]]);
  const a = r.updates[0].dataSync(), b = r.updates[1].dataSync();
  // Same gradient, same state, same weights: same update, wherever the coordinate is.
  assert.ok(Math.abs(a[0] - a[3]) < 1e-7 && Math.abs(a[0] - b[1]) < 1e-7 && Math.abs(a[1] - b[0]) < 1e-7);
  assert.ok(Math.abs(a[2] - b[2]) < 1e-7);
  assert.equal(r.state.h[0].shape[0], 10);
  tf.dispose([...r.updates, ...r.state.h, ...r.state.c, ...state.h, ...state.c]);
  // All weights zero but the readout bias: every update is 0.1 × that bias.
  const zero = Object.fromEntries(
    Object.entries(mp).map((
      [k, t],
    ) => [k, k === "readout/b" ? tf.tensor1d([0.7]) : tf.zerosLike(t)]),
  );
  const z = makeL2lLstm(zero, L2L_LSTM_PAPER);
  const zs = z.init(params);
  const zr = z.update(g, zs, params);
  for (const u of zr.updates) for (const v of u.dataSync()) assert.ok(Math.abs(v - 0.07) < 1e-7, `${v}`);
  tf.dispose([...zr.updates, ...zr.state.h, ...zr.state.c, ...zs.h, ...zs.c, ...Object.values(zero)]);
  tf.dispose([...params, ...g, ...Object.values(mp)]);
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});

Deno.test("L2L LSTM meta-gradient through a 4-step unroll matches central finite differences (log and linear objective)", () => {
  const before = tf.memory().numTensors;
  const learned = l2lLstmLearnedOptimizer();
  const est = makeEstimator({ kind: "tbptt" });
  const problem = tinyQuadratic(tinySpec(5, { noise: 0.1, minibatch: true }));
  const mp = learned.init(0);
  const start = startTrajectory(problem, new Rng(3));
  const carry = est.initCarry(start, [null], mp);
  tf.dispose(start.params);
  for (
    const cfg of [PAPER_UNROLL_CONFIG, {
      ...PAPER_UNROLL_CONFIG,
      logObjective: false,
      secondDerivatives: false,
    }]
  ) {
    const run = (m: Record<string, tf.Tensor>) => {
      const r = est.estimate(learned, m, problem, carry, 4, 11, cfg);
      disposeCarry(r.carry);
      return r;
    };
    const on = run(mp);
    assert.equal(on.stop, "length");
    assert.ok(Object.values(on.grads).some((g) => g.dataSync().some((v) => v !== 0)), "some meta-gradient");
    fdCheck(mp, on.grads, (m) => {
      const r = run(m);
      tf.dispose(Object.values(r.grads));
      return r.loss;
    }, {
      directions: 3,
      seed: 1,
      h: 0.05,
      tol: 1e-2,
      towardGradient: true,
      label: `L2L LSTM (log objective ${cfg.logObjective})`,
    });
    tf.dispose(Object.values(on.grads));
  }
  disposeCarry(carry);
  tf.dispose(Object.values(mp));
  problem.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});
