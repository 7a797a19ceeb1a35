import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { makeToyLearnedOptimizer } from "../../../models/optimizers/learned.ts";
import type { LearnedOptimizer } from "../../../models/optimizers/learned.ts";
import {
  cleanGradients,
  disposeCarry,
  type EstimatorCarry,
  type GradientEstimator,
  makeEstimator,
} from "../../../models/metatrain/estimators.ts";
import { PAPER_UNROLL_CONFIG, startTrajectory, type UnrollConfig } from "../../../models/metatrain/unroll.ts";
import type { Problem } from "../../../tasks/problem.ts";
import {
  cosine,
  dot,
  flat,
  randomDirection,
  recordGradients,
  replayGradients,
  shifted,
  tinyQuadratic,
  tinySpec,
} from "./fixtures.ts";

await initBackend();

const learned = makeToyLearnedOptimizer({ numLogLrs: 2, initLogLr: Math.log(0.08), initMomentumLogit: 0.5 });

function carryFor(
  est: GradientEstimator,
  problem: Problem,
  mp: Record<string, tf.Tensor>,
  seed = 3,
): EstimatorCarry {
  const start = startTrajectory(problem, new Rng(seed));
  const carry = est.initCarry(start, Array.from({ length: est.particles }, () => null), mp);
  tf.dispose(start.params);
  return carry;
}

/** Meta-loss and meta-gradient of one unroll (the carry is left untouched). */
function lossAndGrad(
  est: GradientEstimator,
  l: LearnedOptimizer,
  mp: Record<string, tf.Tensor>,
  problem: Problem,
  carry: EstimatorCarry,
  T: number,
  cfg: UnrollConfig,
  seed = 11,
): { loss: number; grads: Record<string, tf.Tensor> } {
  const r = est.estimate(l, mp, problem, carry, T, seed, cfg);
  disposeCarry(r.carry);
  return { loss: r.loss, grads: r.grads };
}

/** Checks ⟨∇L, d⟩ against central differences on a few random unit directions. */
function checkFd(
  lossOf: (mp: Record<string, tf.Tensor>) => number,
  grads: Record<string, tf.Tensor>,
  mp: Record<string, tf.Tensor>,
  h: number,
  directions: number,
  seed: number,
): void {
  const rng = new Rng(seed);
  for (let i = 0; i < directions; i++) {
    const d = randomDirection(mp, rng);
    const plus = shifted(mp, d, h), minus = shifted(mp, d, -h);
    const fd = (lossOf(plus) - lossOf(minus)) / (2 * h);
    const ad = dot(grads, d);
    const rel = Math.abs(fd - ad) / Math.max(Math.abs(fd), Math.abs(ad), 1e-3);
    assert.ok(
      rel < 1e-2,
      `direction ${i}: autodiff ${ad} vs finite differences ${fd} (relative error ${rel})`,
    );
    tf.dispose([...Object.values(d), ...Object.values(plus), ...Object.values(minus)]);
  }
}

Deno.test("TBPTT meta-gradient matches finite differences (second derivatives on, noisy minibatch grads)", () => {
  const before = tf.memory().numTensors;
  const est = makeEstimator({ kind: "tbptt" });
  const problem = tinyQuadratic(tinySpec(5, { noise: 0.1, minibatch: true }));
  const mp = learned.init(0);
  const carry = carryFor(est, problem, mp);
  const T = 5;
  const { grads } = lossAndGrad(est, learned, mp, problem, carry, T, PAPER_UNROLL_CONFIG);
  assert.ok(flat(grads).some((v) => Math.abs(v) > 1e-4), "gradient should not vanish");
  checkFd(
    (m) => {
      const r = lossAndGrad(est, learned, m, problem, carry, T, PAPER_UNROLL_CONFIG);
      tf.dispose(Object.values(r.grads));
      return r.loss;
    },
    grads,
    mp,
    1e-2,
    3,
    1,
  );
  // Also from a carried (non-reset) state: the second partial unroll of a trajectory.
  const first = est.estimate(learned, mp, problem, carry, 3, 7, PAPER_UNROLL_CONFIG);
  tf.dispose(Object.values(first.grads));
  const g2 = lossAndGrad(est, learned, mp, problem, first.carry, 4, PAPER_UNROLL_CONFIG);
  checkFd(
    (m) => {
      const r = lossAndGrad(est, learned, m, problem, first.carry, 4, PAPER_UNROLL_CONFIG);
      tf.dispose(Object.values(r.grads));
      return r.loss;
    },
    g2.grads,
    mp,
    1e-2,
    2,
    2,
  );
  disposeCarry(first.carry);
  tf.dispose([...Object.values(grads), ...Object.values(g2.grads), ...Object.values(mp)]);
  disposeCarry(carry);
  problem.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});

Deno.test("TBPTT linear meta-objective also matches finite differences", () => {
  const est = makeEstimator({ kind: "tbptt" });
  const problem = tinyQuadratic(tinySpec(6));
  const mp = learned.init(0);
  const carry = carryFor(est, problem, mp);
  const cfg = { ...PAPER_UNROLL_CONFIG, logObjective: false };
  const { grads } = lossAndGrad(est, learned, mp, problem, carry, 4, cfg);
  checkFd(
    (m) => {
      const r = lossAndGrad(est, learned, m, problem, carry, 4, cfg);
      tf.dispose(Object.values(r.grads));
      return r.loss;
    },
    grads,
    mp,
    1e-2,
    2,
    3,
  );
  tf.dispose([...Object.values(grads), ...Object.values(mp)]);
  disposeCarry(carry);
  problem.dispose();
});

Deno.test("second derivatives off = gradient with the problem gradients held constant, and differs from on", () => {
  const before = tf.memory().numTensors;
  const est = makeEstimator({ kind: "tbptt" });
  const base = tinyQuadratic(tinySpec(7, { noise: 0.05 }));
  const mp = learned.init(0);
  const carry = carryFor(est, base, mp);
  const T = 5;
  const off = { ...PAPER_UNROLL_CONFIG, secondDerivatives: false };
  const gOff = lossAndGrad(est, learned, mp, base, carry, T, off);
  const gOn = lossAndGrad(est, learned, mp, base, carry, T, PAPER_UNROLL_CONFIG);
  assert.ok(Math.abs(gOff.loss - gOn.loss) < 1e-6, "forward values are identical");
  // Record the gradients the optimizer saw at these meta-params, then replay them as constants.
  const rec = recordGradients(base);
  tf.dispose(Object.values(lossAndGrad(est, learned, mp, rec.problem, carry, T, off).grads));
  const replay = replayGradients(base, rec.recorded.slice(rec.recorded.length - T));
  const gReplay = lossAndGrad(est, learned, mp, replay, carry, T, PAPER_UNROLL_CONFIG);
  const a = flat(gOff.grads), b = flat(gReplay.grads), c = flat(gOn.grads);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= 1e-5 + 1e-4 * Math.abs(b[i]),
      `entry ${i}: off ${a[i]} vs replay ${b[i]}`,
    );
  }
  // Finite differences of the replay objective (gradients constant) verify the "off" gradient independently.
  checkFd(
    (m) => {
      replay.rewind();
      const r = lossAndGrad(est, learned, m, replay, carry, T, PAPER_UNROLL_CONFIG);
      tf.dispose(Object.values(r.grads));
      return r.loss;
    },
    gOff.grads,
    mp,
    1e-2,
    2,
    4,
  );
  const diff = Math.sqrt(a.reduce((s, v, i) => s + (v - c[i]) ** 2, 0));
  const norm = Math.sqrt(c.reduce((s, v) => s + v * v, 0));
  assert.ok(
    diff > 1e-3 * norm,
    `on and off should differ on a problem with curvature (diff ${diff}, |on| ${norm})`,
  );
  tf.dispose([...Object.values(gOff.grads), ...Object.values(gOn.grads), ...Object.values(gReplay.grads)]);
  tf.dispose(Object.values(mp));
  disposeCarry(carry);
  base.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});

Deno.test("cleanGradients: non-finite → 0, element-wise clip, optional global-norm clip", () => {
  const g = { a: tf.tensor1d([NaN, Infinity, -Infinity, 2e4, -3, 5]), b: tf.tensor1d([-5e4]) };
  const c = cleanGradients(g, 1e4, 0);
  assert.deepEqual(Array.from(c.a.dataSync()), [0, 0, 0, 1e4, -3, 5]);
  assert.deepEqual(Array.from(c.b.dataSync()), [-1e4]);
  const n = cleanGradients({ a: tf.tensor1d([3, NaN]), b: tf.tensor1d([4]) }, 1e4, 1);
  assert.ok(Math.abs(n.a.dataSync()[0] - 0.6) < 1e-6 && n.a.dataSync()[1] === 0);
  assert.ok(Math.abs(n.b.dataSync()[0] - 0.8) < 1e-6);
  tf.dispose([...Object.values(g), ...Object.values(c), ...Object.values(n)]);
});

Deno.test("a diverging unroll stops early and yields a finite (zeroed) meta-gradient", () => {
  const est = makeEstimator({ kind: "tbptt" });
  // The full objective turns NaN after 3 calls: F0, o_0 (reused at step 0), step 1; NaN at step 2.
  const problem = tinyQuadratic(tinySpec(8, { nanAfter: 3 }));
  const mp = learned.init(0);
  const carry = carryFor(est, problem, mp);
  const r = est.estimate(learned, mp, problem, carry, 10, 1, PAPER_UNROLL_CONFIG);
  assert.equal(r.stop, "nonfinite");
  assert.equal(r.steps, 3, "stops right after recording the non-finite objective");
  assert.ok(Number.isNaN(r.loss));
  assert.ok(flat(r.grads).every((v) => v === 0), "NaN meta-gradient entries are zeroed");
  tf.dispose([...Object.values(r.grads), ...Object.values(mp)]);
  disposeCarry(r.carry);
  disposeCarry(carry);
  problem.dispose();
});

Deno.test("PES estimate correlates positively with TBPTT; accumulators persist across truncations", () => {
  const before = tf.memory().numTensors;
  const problem = tinyQuadratic(tinySpec(9));
  const mp = learned.init(0);
  const tb = makeEstimator({ kind: "tbptt" });
  const pes = makeEstimator({ kind: "pes", pesPairs: 24, pesSigma: 0.02 });
  const tbCarry = carryFor(tb, problem, mp);
  const pesCarry = carryFor(pes, problem, mp);
  const T = 5;
  const gt = tb.estimate(learned, mp, problem, tbCarry, T, 21, PAPER_UNROLL_CONFIG);
  const gp = pes.estimate(learned, mp, problem, pesCarry, T, 21, PAPER_UNROLL_CONFIG);
  const cos = cosine(flat(gt.grads), flat(gp.grads));
  assert.ok(cos > 0.5, `cosine(PES, TBPTT) = ${cos}`);
  assert.ok(Math.abs(gp.loss - gt.loss) < 0.05, `PES mean loss ${gp.loss} near the unperturbed ${gt.loss}`);
  assert.equal(gp.innerSteps, 2 * 24 * T);
  // Second truncation: ξ_j accumulates, so the accumulator norm grows on average (√2 for iid draws).
  const norm = (c: EstimatorCarry) =>
    Math.sqrt(c.pesAccum!.reduce((s, a) => s + flat(a).reduce((t, v) => t + v * v, 0), 0));
  const gp2 = pes.estimate(learned, mp, problem, gp.carry, T, 22, PAPER_UNROLL_CONFIG);
  const r = norm(gp2.carry) / norm(gp.carry);
  assert.ok(r > 1.2 && r < 1.7, `accumulator norm ratio ${r}`);
  // Antithetic particles end in different states.
  const p0 = flat({ a: gp2.carry.trajectories[0].params[0] }),
    p1 = flat({ a: gp2.carry.trajectories[1].params[0] });
  assert.notDeepEqual(p0, p1);
  for (const g of [gt, gp, gp2]) tf.dispose(Object.values(g.grads));
  for (const c of [tbCarry, pesCarry, gt.carry, gp.carry, gp2.carry]) disposeCarry(c);
  tf.dispose(Object.values(mp));
  problem.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});

Deno.test("a 1-step unroll does not depend on the meta-params: zero gradient, no error", () => {
  const est = makeEstimator({ kind: "tbptt" });
  const problem = tinyQuadratic(tinySpec(4));
  const mp = learned.init(0);
  const carry = carryFor(est, problem, mp);
  const r = est.estimate(learned, mp, problem, carry, 1, 1, PAPER_UNROLL_CONFIG);
  assert.equal(r.steps, 1);
  assert.ok(flat(r.grads).every((v) => v === 0));
  assert.deepEqual(Object.keys(r.grads).sort(), Object.keys(mp).sort());
  tf.dispose([...Object.values(r.grads), ...Object.values(mp)]);
  disposeCarry(r.carry);
  disposeCarry(carry);
  problem.dispose();
});
