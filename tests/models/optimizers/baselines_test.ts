import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { BASELINE_NAMES, makeBaseline } from "../../../models/optimizers/baselines.ts";
import { disposeReplaced, treeTensors as stateTensors } from "../../../lib/state_tree.ts";
import type { OptState } from "../../../lib/optimizer.ts";

await initBackend();

/** A fixed ill-conditioned quadratic over two tensors: 0.5·|A·x − b|² + 0.5·|W ⊙ y|² + Σ x·y₀. */
function makeQuadratic(seed: number) {
  const rng = new Rng(seed);
  const A = tf.tensor2d(rng.normalArray(6 * 4), [6, 4]);
  const b = tf.tensor2d(rng.normalArray(6), [6, 1]);
  const W = tf.tensor2d(rng.uniformArray(6, 0.1, 3), [2, 3]);
  const x0 = rng.normalArray(4);
  const y0 = rng.normalArray(6);
  const f = (x: tf.Tensor, y: tf.Tensor): tf.Scalar =>
    tf.tidy(() => {
      const r = tf.sub(tf.matMul(A, x.reshape([4, 1])), b);
      const quad = tf.add(tf.mul(0.5, tf.sum(tf.square(r))), tf.mul(0.5, tf.sum(tf.square(tf.mul(W, y)))));
      return tf.add(quad, tf.sum(tf.mul(x, y.reshape([6]).slice(0, 4)))) as tf.Scalar;
    });
  return {
    f,
    init: (): tf.Tensor[] => [tf.tensor1d(x0), tf.tensor2d(y0, [2, 3])],
    dispose: () => tf.dispose([A, b, W]),
  };
}

interface Case {
  label: string;
  name: string;
  hparams: Record<string, unknown>;
  tfOpt: () => tf.Optimizer;
}

const CASES: Case[] = [
  { label: "sgd", name: "sgd", hparams: { learningRate: 0.05 }, tfOpt: () => tf.train.sgd(0.05) },
  {
    label: "momentum",
    name: "momentum",
    hparams: { learningRate: 0.03, momentum: 0.9 },
    tfOpt: () => tf.train.momentum(0.03, 0.9),
  },
  {
    label: "momentum useNesterov",
    name: "momentum",
    hparams: { learningRate: 0.03, momentum: 0.8, useNesterov: true },
    tfOpt: () => tf.train.momentum(0.03, 0.8, true),
  },
  {
    label: "nesterov",
    name: "nesterov",
    hparams: { learningRate: 0.03, momentum: 0.8 },
    tfOpt: () => tf.train.momentum(0.03, 0.8, true),
  },
  { label: "rmsprop", name: "rmsprop", hparams: { learningRate: 0.01 }, tfOpt: () => tf.train.rmsprop(0.01) },
  {
    label: "rmsprop momentum",
    name: "rmsprop",
    hparams: { learningRate: 0.01, decay: 0.95, momentum: 0.7, epsilon: 1e-6 },
    tfOpt: () => tf.train.rmsprop(0.01, 0.95, 0.7, 1e-6),
  },
  {
    label: "rmsprop centered",
    name: "rmsprop",
    hparams: { learningRate: 0.01, decay: 0.9, momentum: 0.5, centered: true },
    tfOpt: () => tf.train.rmsprop(0.01, 0.9, 0.5, null as unknown as number, true),
  },
  { label: "adam defaults", name: "adam", hparams: {}, tfOpt: () => tf.train.adam() },
  {
    label: "adam",
    name: "adam",
    hparams: { learningRate: 0.05, beta1: 0.8, beta2: 0.99, epsilon: 1e-5 },
    tfOpt: () => tf.train.adam(0.05, 0.8, 0.99, 1e-5),
  },
];

Deno.test("baselines match tf.train optimizers step for step", async (t) => {
  const q = makeQuadratic(7);
  for (const c of CASES) {
    await t.step(c.label, () => {
      const opt = makeBaseline(c.name, c.hparams);
      const tfOpt = c.tfOpt();
      const vars = q.init().map((p) => tf.variable(p));
      let params = q.init();
      let state: OptState = opt.init(params);
      const gradFn = tf.grads((x: tf.Tensor, y: tf.Tensor) => q.f(x, y));
      for (let step = 0; step < 20; step++) {
        tfOpt.minimize(() => q.f(vars[0], vars[1]), false, vars);
        const grads = gradFn(params);
        const { updates, state: newState } = opt.update(grads, state, params);
        const newParams = tf.tidy(() => params.map((p, i) => tf.add(p, updates[i])));
        disposeReplaced([params, state, grads, updates], newParams, newState);
        params = newParams;
        state = newState;
        for (let i = 0; i < vars.length; i++) {
          const a = vars[i].dataSync();
          const b = params[i].dataSync();
          for (let j = 0; j < a.length; j++) {
            const tol = 2e-6 * (1 + Math.abs(a[j]));
            assert.ok(
              Math.abs(a[j] - b[j]) <= tol,
              `${c.label} step ${step} tensor ${i}[${j}]: tfjs ${a[j]} vs lopt ${b[j]}`,
            );
          }
        }
      }
      // The run must have moved the parameters (the comparison is not vacuous).
      const start = q.init();
      assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(start[0], params[0]))).dataSync()[0]) > 1e-3);
      tf.dispose([...start, ...vars, ...params, ...stateTensors(state)]);
      tfOpt.dispose();
    });
  }
  q.dispose();
});

Deno.test("baselines: no mutation, no disposal of inputs, no leaks, differentiable", async (t) => {
  const hp: Record<string, Record<string, unknown>> = {
    sgd: { learningRate: 0.1 },
    momentum: { learningRate: 0.1, momentum: 0.9 },
    nesterov: { learningRate: 0.1, momentum: 0.9 },
    rmsprop: { learningRate: 0.1, momentum: 0.5, centered: true },
    adam: { learningRate: 0.1 },
  };
  for (const name of BASELINE_NAMES) {
    await t.step(name, () => {
      const opt = makeBaseline(name, hp[name]);
      const params = [tf.tensor1d([1, -2, 3]), tf.tensor2d([[0.5, 0.25]])];
      const grads = [tf.tensor1d([0.3, -0.1, 2]), tf.tensor2d([[-1, 0.5]])];
      let state: OptState = opt.init(params);
      // One warm-up step so the state is non-trivial.
      const first = opt.update(grads, state, params);
      disposeReplaced([state, first.updates], first.state);
      state = first.state;
      const snapshot = (ts: tf.Tensor[]) => ts.map((x) => Array.from(x.dataSync()));
      const before = [snapshot(params), snapshot(grads), snapshot(stateTensors(state))];
      const n0 = tf.memory().numTensors;
      const { updates, state: s2 } = opt.update(grads, state, params);
      const created = updates.length + stateTensors(s2).length;
      assert.equal(tf.memory().numTensors, n0 + created, "update leaked intermediate tensors");
      for (const x of [...params, ...grads, ...stateTensors(state)]) assert.ok(!x.isDisposed);
      assert.deepEqual([snapshot(params), snapshot(grads), snapshot(stateTensors(state))], before);
      updates.forEach((u, i) => assert.deepEqual(u.shape, params[i].shape));
      // Differentiable with respect to the gradient (as inside a meta-training graph).
      const d = tf.grad((g: tf.Tensor) => tf.sum(opt.update([g, grads[1]], state, params).updates[0]))(
        grads[0],
      );
      const dv = Array.from(d.dataSync());
      assert.ok(dv.every(Number.isFinite) && dv.some((v) => v !== 0), `${name}: bad derivative ${dv}`);
      tf.dispose([...params, ...grads, ...updates, d, ...stateTensors(state), ...stateTensors(s2)]);
    });
  }
});

Deno.test("makeBaseline rejects unknown names and bad hyperparameters", () => {
  assert.throws(() => makeBaseline("adagrad", {}), /Unknown baseline optimizer 'adagrad'.*sgd, momentum/);
  assert.throws(() => makeBaseline("sgd", {}), /needs a learningRate/);
  assert.throws(() => makeBaseline("sgd", { learningRate: -1 }), /learningRate.*≥ 0/);
  assert.throws(() => makeBaseline("sgd", { learningRate: "0.1" }), /learningRate/);
  assert.throws(() => makeBaseline("sgd", { learningRate: 0.1, lr: 1 }), /Unknown hyperparameter\(s\) 'lr'/);
  assert.throws(() => makeBaseline("momentum", { learningRate: 0.1 }), /needs 'momentum'/);
  assert.throws(() => makeBaseline("momentum", { learningRate: 0.1, momentum: 1 }), /\[0, 1\)/);
  assert.throws(
    () => makeBaseline("nesterov", { learningRate: 0.1, momentum: 0.9, useNesterov: false }),
    /Unknown/,
  );
  assert.throws(() => makeBaseline("rmsprop", { learningRate: 0.1, centered: "yes" }), /true or false/);
  assert.throws(() => makeBaseline("rmsprop", { learningRate: 0.1, epsilon: NaN }), /epsilon/);
  assert.throws(() => makeBaseline("adam", { beta2: 1.5 }), /beta2/);
  assert.equal(makeBaseline("nesterov", { learningRate: 0.1, momentum: 0.9 }).name, "nesterov");
  assert.deepEqual(makeBaseline("adam").hparams, {
    learningRate: 0.001,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-7,
  });
});
