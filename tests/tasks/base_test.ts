import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { buildProblem } from "../../tasks/registry.ts";
import { FULL_OBJECTIVE_CHUNK } from "../../tasks/base.ts";

Deno.test("base: chunked full-dataset objective equals the one-pass mean (value and gradient)", async () => {
  await initBackend();
  const n = 2 * FULL_OBJECTIVE_CHUNK + 123;
  const problem = buildProblem({
    family: "fully_connected",
    params: {
      nFeatures: 6,
      nClasses: 3,
      hiddenSizes: [5],
      dataset: { kind: "random", nFeatures: 6, nSamples: n, nClasses: 3, seed: 4 },
      batchSize: n,
    },
    seed: 1,
  });
  try {
    assert.equal(problem.datasetSize, n);
    const params = problem.init(new Rng(3));
    const batch = problem.sampleBatch(new Rng(5))!; // the whole dataset (batch size n), reshuffled
    const onePass = problem.objective(params, batch).dataSync()[0];
    const chunked = problem.fullObjective(params).dataSync()[0];
    assert.ok(Math.abs(onePass - chunked) < 1e-5 * Math.abs(onePass), `${onePass} vs ${chunked}`);
    const g1 = tf.grads((...ps: tf.Tensor[]) => problem.objective(ps, batch))(params);
    const g2 = tf.grads((...ps: tf.Tensor[]) => problem.fullObjective(ps))(params);
    for (let i = 0; i < g1.length; i++) {
      const a = g1[i].dataSync(), b = g2[i].dataSync();
      for (let j = 0; j < a.length; j++) assert.ok(Math.abs(a[j] - b[j]) < 1e-4 + 1e-3 * Math.abs(a[j]));
    }
    tf.dispose([...params, batch.x, batch.y, ...g1, ...g2]);
  } finally {
    problem.dispose();
  }
});
