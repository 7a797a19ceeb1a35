import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { buildProblem } from "../../../tasks/registry.ts";
import { hrnnLearnedOptimizer } from "../../../models/optimizers/hrnn_learned.ts";
import { adam } from "../../../models/optimizers/baselines.ts";
import { summariseLogLr, traceLogLearningRate } from "../../../models/diagnostics/lr_trace.ts";
import { MIN_LOG_LR } from "../../../models/hrnn/config.ts";

await initBackend();

const spec = { family: "quadratic", params: { ndim: 6 }, seed: 4 };

Deno.test("summariseLogLr: mean and share at the floor", () => {
  assert.deepEqual(summariseLogLr([MIN_LOG_LR, -5]), { meanLogLr: (MIN_LOG_LR - 5) / 2, atFloor: 0.5 });
  assert.deepEqual(summariseLogLr([-1, -2, -3]), { meanLogLr: -2, atFloor: 0 });
});

Deno.test("traceLogLearningRate samples the HRNN's log learning rates at the asked steps", async () => {
  const learned = hrnnLearnedOptimizer({ initLrRange: [0.02, 0.1], zeroInitLrWeights: false });
  const meta = learned.init(0);
  const problem = buildProblem(spec);
  try {
    const trace = await traceLogLearningRate({
      optimizer: learned.optimizer(meta, { rng: new Rng(1) }),
      problem,
      steps: 6,
      at: [6, 0, 3, 99],
      rng: new Rng(2),
    });
    assert.deepEqual(trace.samples.map((s) => s.step), [0, 3, 6]);
    const [s0, s3] = trace.samples;
    // Random (not zero) learning-rate readout weights, so that ℓ moves. Initial ℓ is drawn log-uniformly in [ln 0.02, ln 0.1].
    assert.ok(s0.meanLogLr > Math.log(0.02) && s0.meanLogLr < Math.log(0.1), `${s0.meanLogLr}`);
    assert.equal(s0.atFloor, 0);
    assert.notEqual(s3.meanLogLr, s0.meanLogLr);
    assert.equal(trace.fullLoss.length, 3);
    assert.ok(trace.fullLoss.every(Number.isFinite));
    assert.ok(Number.isFinite(trace.finalLoss));
    assert.equal(trace.fullLoss[2], trace.finalLoss);
  } finally {
    problem.dispose();
    tf.dispose(Object.values(meta));
  }
});

Deno.test("traceLogLearningRate refuses an optimizer without log learning rates", async () => {
  const problem = buildProblem(spec);
  try {
    await assert.rejects(
      traceLogLearningRate({
        optimizer: adam({ learningRate: 0.01 }),
        problem,
        steps: 2,
        at: [0],
        rng: new Rng(0),
      }),
      /no per-coordinate log learning rate/,
    );
  } finally {
    problem.dispose();
  }
});
