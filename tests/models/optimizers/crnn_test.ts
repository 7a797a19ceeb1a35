import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import {
  crnnLearnedOptimizer,
  crnnSpecs,
  makeCrnn,
  makeCrnnConfig,
} from "../../../models/optimizers/crnn.ts";
import { createFromSpecs } from "../../../models/optimizers/param_specs.ts";
import { disposeCarry, makeEstimator } from "../../../models/metatrain/estimators.ts";
import { PAPER_UNROLL_CONFIG, startTrajectory } from "../../../models/metatrain/unroll.ts";
import { fdCheck, tinyQuadratic, tinySpec } from "../metatrain/fixtures.ts";

await initBackend();

const sig = (x: number) => 1 / (1 + Math.exp(-x));

Deno.test("cRNN first two steps equal a hand computation (one unit, constant initial learning rate)", () => {
  const cfg = makeCrnnConfig({ units: 1, initLrRange: [0.01, 0.01] });
  // BiasGRUCell rows: [x, h]; gate columns: reset, update.
  const w = {
    "gru0/gates_w": [[0.4, -0.7], [0.3, 0.2]],
    "gru0/gates_b": [0.1, -0.1],
    "gru0/cand_w": [[1.1], [-0.5]],
    "gru0/cand_b": [0.05],
    "init/state": [[0.25]],
    "readout/step_w": [[1.5]],
    "readout/decay_w": [[0.3]],
    "readout/decay_b": [2.2],
    "readout/lr_w": [[-0.8]],
    "readout/lr_b": [0.2],
  };
  const mp = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, tf.tensor(v)]));
  const opt = makeCrnn(mp, cfg);
  let ms = 1, h = 0.25, lr = 0.01, decay = 1;
  const byHand = (g: number) => {
    ms = (1 - decay) * (g * g + 1e-12) + decay * ms;
    const x = Math.asinh(g / Math.sqrt(ms + 1e-16));
    const r = sig(x * 0.4 + h * 0.3 + 0.1), u = sig(x * -0.7 + h * 0.2 - 0.1);
    const c = Math.tanh(x * 1.1 + r * h * -0.5 + 0.05);
    h = u * h + (1 - u) * c;
    decay = sig(h * 0.3 + 2.2);
    lr = lr * 2 * sig(h * -0.8 + 0.2);
    return -lr * h * 1.5;
  };
  const params = [tf.zeros([1])];
  let state = opt.init(params);
  for (const g of [0.5, -0.2]) {
    const want = byHand(g);
    const grad = tf.tensor1d([g]);
    const r = opt.update([grad], state, params);
    const got = r.updates[0].dataSync()[0];
    assert.ok(Math.abs(got - want) < 1e-7, `g=${g}: update ${got}, by hand ${want}`);
    for (const [k, v] of [["ms", ms], ["lr", lr], ["decay", decay], ["h", h]] as const) {
      assert.ok(
        Math.abs(r.state[k].dataSync()[0] - v) < 1e-6,
        `g=${g}: state ${k} ${r.state[k].dataSync()[0]} vs ${v}`,
      );
    }
    tf.dispose([grad, ...r.updates, ...Object.values(state)]);
    state = r.state;
  }
  tf.dispose([...params, ...Object.values(state), ...Object.values(mp)]);
});

Deno.test("cRNN initial learning rates are log-uniform in initLrRange, drawn from the rng", () => {
  const cfg = makeCrnnConfig({ initLrRange: [1e-4, 1e-2] });
  const mp = createFromSpecs(crnnSpecs(cfg), 0);
  const a = makeCrnn(mp, cfg, { rng: new Rng(5) }).init([tf.zeros([1000])]);
  const b = makeCrnn(mp, cfg, { rng: new Rng(5) }).init([tf.zeros([1000])]);
  const lr = Array.from(a.lr.dataSync());
  assert.deepEqual(lr, Array.from(b.lr.dataSync()), "same rng, same draws");
  assert.ok(lr.every((v) => v >= 1e-4 * 0.999 && v <= 1e-2 * 1.001));
  const below = lr.filter((v) => v < 1e-3).length;
  assert.ok(below > 400 && below < 600, `about half below the log-midpoint: ${below}`);
  assert.deepEqual(Array.from(a.h.dataSync()).slice(0, 20), Array.from(mp["init/state"].dataSync()));
  tf.dispose([...Object.values(a), ...Object.values(b), ...Object.values(mp)]);
  assert.throws(() => makeCrnnConfig({ initLrRange: [1e-2, 1e-4] }), /initLrRange/);
  assert.throws(() => makeCrnnConfig({ unit: 3 } as never), /unknown option/);
});

Deno.test("cRNN meta-gradient through a 4-step unroll matches central finite differences (state reset inside)", () => {
  const before = tf.memory().numTensors;
  const learned = crnnLearnedOptimizer({ initLrRange: [0.02, 0.1] });
  const est = makeEstimator({ kind: "tbptt" });
  const problem = tinyQuadratic(tinySpec(5, { noise: 0.1, minibatch: true }));
  const mp = learned.init(0);
  const start = startTrajectory(problem, new Rng(3));
  const carry = est.initCarry(start, [null], mp);
  tf.dispose(start.params);
  const run = (m: Record<string, tf.Tensor>) => {
    const r = est.estimate(learned, m, problem, carry, 4, 11, PAPER_UNROLL_CONFIG);
    disposeCarry(r.carry);
    return r;
  };
  const on = run(mp);
  assert.equal(on.stop, "length");
  // The learned initial state gets gradient through the reset in the unroll.
  assert.ok(on.grads["init/state"].dataSync().some((v) => v !== 0), "init/state receives meta-gradient");
  fdCheck(mp, on.grads, (m) => {
    const r = run(m);
    tf.dispose(Object.values(r.grads));
    return r.loss;
  }, { directions: 3, seed: 2, h: 0.05, tol: 1e-2, towardGradient: true, label: "cRNN" });
  tf.dispose(Object.values(on.grads));
  disposeCarry(carry);
  tf.dispose(Object.values(mp));
  problem.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});
