import * as tf from "@tensorflow/tfjs";
import { treeTensors } from "../../../lib/state_tree.ts";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { makeBaseline } from "../../../models/optimizers/baselines.ts";
import { trainProblem } from "../../../models/inner_loop.ts";
import { inceptionV3 } from "../../../tasks/imagenet/inception_v3.ts";
import { resnetV2 } from "../../../tasks/imagenet/resnet_v2.ts";
import {
  classifierLossAndGrads,
  classifierProblem,
  countParams,
  initOptimizerState,
  optimizerStateBytes,
} from "../../../tasks/imagenet/classifier_problem.ts";

import { batch } from "./helpers.ts";

await initBackend();

Deno.test("Adam trains the networks at tiny width on the inner loop: finite loss, learning, no tensor leaks", async (t) => {
  const cases = [
    {
      name: "inception_v3 w0.1 75px",
      make: () => inceptionV3({ widthMultiplier: 0.1, inputSize: 75, numClasses: 4, seed: 1 }),
      size: 75,
      steps: 3,
    },
    {
      name: "resnet_v2_26 w0.125 32px",
      make: () => resnetV2({ depth: 26, widthMultiplier: 0.125, inputSize: 32, numClasses: 4, seed: 1 }),
      size: 32,
      steps: 6,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const model = c.make();
      const opt = makeBaseline("adam", { learningRate: 1e-3 });
      const { x, y } = batch(3, 4, c.size, 4);
      const state = initOptimizerState(model, opt);
      // m and v for every trainable weight plus the two β-power scalars.
      assert.equal(optimizerStateBytes(state), 8 * countParams(model).trainable + 8);
      tf.dispose(treeTensors(state));
      const w0 = Array.from(model.trainableWeights[0].read().dataSync());
      const base = tf.memory().numTensors;
      const rec = await trainProblem({
        problem: classifierProblem(model, { dataset: "random", n: 4 }),
        optimizer: opt,
        steps: c.steps,
        rng: new Rng(0),
        // Same batch every step (the loop frees each step's batch).
        batches: () => ({ x: x.clone(), y: y.clone() }),
        evaluate: null,
        lossAt: "params",
      });
      assert.equal(tf.memory().numTensors, base, "the run leaked tensors");
      const losses = Array.from(rec.minibatchLoss);
      assert.equal(rec.stepsRun, c.steps);
      assert.ok(!rec.diverged && losses.every(Number.isFinite), `losses ${losses}`);
      assert.ok(Array.from(rec.stepSeconds).every((s) => s > 0));
      assert.deepEqual(rec.fullLoss, []);
      const w1 = Array.from(model.trainableWeights[0].read().dataSync());
      assert.ok(w0.some((v, i) => v !== w1[i]), "weights did not change");
      assert.ok(Math.min(...losses.slice(1)) < losses[0], `loss did not decrease: ${losses.join(", ")}`);
      tf.dispose([x, y]);
      model.dispose();
    });
  }
});

Deno.test("classifier loss adds the auxiliary head and rejects mismatched batches", () => {
  const model = inceptionV3({
    widthMultiplier: 0.1,
    inputSize: 107,
    numClasses: 3,
    auxLogits: true,
    seed: 2,
  });
  const { x, y } = batch(4, 2, 107, 3);
  const [without, withAux] = [0, 0.4].map((w) =>
    tf.tidy(() =>
      classifierLossAndGrads(model, x, y, { auxLossWeight: w, training: false }).loss.dataSync()[0]
    )
  );
  assert.ok(Number.isFinite(without) && withAux > without, `${without} vs ${withAux}`);
  const bad = tf.zeros([2, 75, 75, 3]);
  assert.throws(() => classifierLossAndGrads(model, bad, y), /images must have shape \[B, 107, 107, 3\]/);
  const badLabels = tf.zeros([3], "int32");
  assert.throws(() => classifierLossAndGrads(model, x, badLabels), /labels must be class indices \[2\]/);
  tf.dispose([x, y, bad, badLabels]);
  model.dispose();
});
