import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { makeToyLearnedOptimizer } from "../../../models/optimizers/learned.ts";
import { metaLoss, PAPER_UNROLL_CONFIG, startTrajectory, unroll } from "../../../models/metatrain/unroll.ts";
import { scoped } from "../../../models/metatrain/tape.ts";
import { disposeTree } from "../../../lib/state_tree.ts";
import { tinyQuadratic, tinySpec } from "./fixtures.ts";

await initBackend();

Deno.test("meta-loss formula on known values (log, numerator-ε, linear)", () => {
  const o = [2, 2, 1, 0.5, 0];
  const f0 = 2, eps = 1e-6;
  const t = tf.tensor1d(o);
  const expectLog = o.reduce((s, v) => s + Math.log(v / (f0 + eps) + eps), 0) / o.length;
  const expectNum = o.reduce((s, v) => s + Math.log((v + eps) / (f0 + eps)), 0) / o.length;
  const expectLin = (2 + 1 + 0.5 + 0) / (4 * (f0 + eps));
  const log = metaLoss(t, f0, 4, PAPER_UNROLL_CONFIG);
  const num = metaLoss(t, f0, 4, { ...PAPER_UNROLL_CONFIG, numeratorEpsilon: true });
  const lin = metaLoss(t, f0, 4, { ...PAPER_UNROLL_CONFIG, logObjective: false });
  assert.ok(Math.abs(log.dataSync()[0] - expectLog) < 1e-5, `${log.dataSync()[0]} vs ${expectLog}`);
  assert.ok(Math.abs(num.dataSync()[0] - expectNum) < 1e-5, `${num.dataSync()[0]} vs ${expectNum}`);
  assert.ok(Math.abs(lin.dataSync()[0] - expectLin) < 1e-6);
  // The zero objective is what ε guards: ln(ε) rather than −∞.
  assert.ok(Number.isFinite(log.dataSync()[0]));
  tf.dispose([t, log, num, lin]);
});

Deno.test("unroll records the duplicated start, carries state, and frees everything but the carry", () => {
  const learned = makeToyLearnedOptimizer();
  const problem = tinyQuadratic(tinySpec(2));
  const mp = learned.init(0);
  const start = startTrajectory(problem, new Rng(1));
  const before = tf.memory().numTensors;
  for (const taped of [true, false]) {
    const res = scoped(() => {
      const r = unroll(learned.optimizer(mp), problem, start, 6, new Rng(2), PAPER_UNROLL_CONFIG, { taped });
      return {
        objectives: r.objectives,
        steps: r.steps,
        stop: r.stop,
        carry: r.carry,
        loss: r.loss.dataSync()[0],
      };
    });
    assert.equal(res.steps, 6);
    assert.equal(res.stop, "length");
    assert.equal(res.objectives.length, 7);
    assert.equal(res.objectives[0], res.objectives[1], "o_0 and o_1 are the same iterate");
    assert.ok(Math.abs(res.objectives[0] - start.f0) < 1e-6, "first unroll starts at F0");
    assert.ok(res.objectives[6] < res.objectives[0], "the toy optimizer makes progress");
    const expect = res.objectives.reduce((s, v) => s + Math.log(v / (start.f0 + 1e-6) + 1e-6), 0) / 7;
    assert.ok(Math.abs(res.loss - expect) < 1e-5);
    // Continue from the carry: the next unroll's o_0 is f at the carried params (never evaluated before).
    const next = scoped(() => {
      const r = unroll(learned.optimizer(mp), problem, res.carry, 2, new Rng(3), PAPER_UNROLL_CONFIG, {
        taped,
      });
      disposeTree(r.carry.params);
      disposeTree(r.carry.optState);
      return r.objectives;
    });
    assert.ok(
      next[0] < res.objectives[6],
      "the carried params are one step beyond the last recorded objective",
    );
    disposeTree(res.carry.params);
    disposeTree(res.carry.optState);
    assert.equal(tf.memory().numTensors, before, `no leak (taped=${taped})`);
  }
  tf.dispose([...start.params, ...Object.values(mp)]);
  problem.dispose();
});

Deno.test("objective blow-up stop (obj_train_max_multiplier) and negative objectives", () => {
  const learned = makeToyLearnedOptimizer({ initLogLr: Math.log(3) }); // diverges
  const problem = tinyQuadratic(tinySpec(2));
  const mp = learned.init(0);
  const start = startTrajectory(problem, new Rng(1));
  const r = scoped(() => {
    const u = unroll(learned.optimizer(mp), problem, start, 50, new Rng(2), {
      ...PAPER_UNROLL_CONFIG,
      objTrainMaxMultiplier: 2,
    }, { taped: false });
    disposeTree(u.carry.params);
    disposeTree(u.carry.optState);
    return { stop: u.stop, steps: u.steps, last: u.objectives[u.objectives.length - 1] };
  });
  assert.equal(r.stop, "multiplier");
  assert.ok(r.steps < 50 && r.last >= 2 * start.f0);
  const neg = tinyQuadratic(tinySpec(2, { offset: -100 }));
  assert.throws(() => startTrajectory(neg, new Rng(1)), /negative objective/);
  neg.dispose();
  tf.dispose([...start.params, ...Object.values(mp)]);
  problem.dispose();
});
