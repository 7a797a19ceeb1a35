import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { hrnnLearnedOptimizer } from "../../../models/optimizers/hrnn_learned.ts";
import { disposeCarry, type EstimatorCarry, makeEstimator } from "../../../models/metatrain/estimators.ts";
import { PAPER_UNROLL_CONFIG, startTrajectory, type UnrollConfig } from "../../../models/metatrain/unroll.ts";
import type { Problem } from "../../../tasks/problem.ts";
import {
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

// Paper config except larger initial learning rates, so that 4 steps move the tiny quadratic measurably.
const learned = hrnnLearnedOptimizer({ initLrRange: [0.02, 0.1] });
const est = makeEstimator({ kind: "tbptt" });
const T = 4;

function estimate(mp: Record<string, tf.Tensor>, problem: Problem, carry: EstimatorCarry, cfg: UnrollConfig) {
  const r = est.estimate(learned, mp, problem, carry, T, 11, cfg);
  disposeCarry(r.carry);
  return r;
}

function fdCheck(
  mp: Record<string, tf.Tensor>,
  grads: Record<string, tf.Tensor>,
  lossOf: (m: Record<string, tf.Tensor>) => number,
  directions: number,
  seed: number,
): void {
  const rng = new Rng(seed);
  // The meta-loss is smooth along a random unit direction in 8k dimensions: h = 0.1 balances float32 rounding
  // against curvature (errors ~1e-4 relative, measured).
  const h = 0.1;
  for (let i = 0; i < directions; i++) {
    const d = randomDirection(mp, rng);
    const p = shifted(mp, d, h), m = shifted(mp, d, -h);
    const fd = (lossOf(p) - lossOf(m)) / (2 * h);
    const ad = dot(grads, d);
    const rel = Math.abs(fd - ad) / Math.max(Math.abs(fd), Math.abs(ad));
    assert.ok(
      rel < 1e-2,
      `HRNN direction ${i}: autodiff ${ad} vs finite differences ${fd} (relative ${rel})`,
    );
    tf.dispose([...Object.values(d), ...Object.values(p), ...Object.values(m)]);
  }
}

Deno.test("HRNN meta-gradient (reset state inside the unroll) matches finite differences, 2nd derivatives on/off", () => {
  const before = tf.memory().numTensors;
  const problem = tinyQuadratic(tinySpec(5, { noise: 0.1, minibatch: true }));
  const mp = learned.init(0);
  const start = startTrajectory(problem, new Rng(3));
  const carry = est.initCarry(start, [null], mp);
  tf.dispose(start.params);

  const on = estimate(mp, problem, carry, PAPER_UNROLL_CONFIG);
  assert.equal(on.stop, "length");
  // Learned initial RNN states get gradient through the in-unroll reset.
  assert.ok(flat({ g: on.grads["init/level0"] }).some((v) => v !== 0), "init/level0 receives meta-gradient");
  fdCheck(
    mp,
    on.grads,
    (m) => {
      const r = estimate(m, problem, carry, PAPER_UNROLL_CONFIG);
      tf.dispose(Object.values(r.grads));
      return r.loss;
    },
    3,
    1,
  );

  const offCfg = { ...PAPER_UNROLL_CONFIG, secondDerivatives: false };
  const off = estimate(mp, problem, carry, offCfg);
  const rec = recordGradients(problem);
  tf.dispose(Object.values(estimate(mp, rec.problem, carry, offCfg).grads));
  const replay = replayGradients(problem, rec.recorded);
  const held = estimate(mp, replay, carry, PAPER_UNROLL_CONFIG);
  const a = flat(off.grads), b = flat(held.grads), c = flat(on.grads);
  const dist = (x: number[], y: number[]) => Math.sqrt(x.reduce((s, v, i) => s + (v - y[i]) ** 2, 0));
  const norm = Math.sqrt(b.reduce((s, v) => s + v * v, 0));
  assert.ok(dist(a, b) < 1e-4 * norm, `off vs gradients-held-constant: ${dist(a, b)} (norm ${norm})`);
  assert.ok(dist(a, c) > 10 * dist(a, b), `on and off differ: |on − off| ${dist(a, c)}`);
  fdCheck(
    mp,
    off.grads,
    (m) => {
      replay.rewind();
      const r = estimate(m, replay, carry, PAPER_UNROLL_CONFIG);
      tf.dispose(Object.values(r.grads));
      return r.loss;
    },
    2,
    2,
  );

  for (const r of [on, off, held]) tf.dispose(Object.values(r.grads));
  disposeCarry(carry);
  tf.dispose(Object.values(mp));
  problem.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});
