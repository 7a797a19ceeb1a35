import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { buildProblem, familyNames } from "../../tasks/registry.ts";
import { S, tinyData } from "./families/spec.ts";

await initBackend();

Deno.test("registry: family list and clear errors", () => {
  for (
    const f of [
      "quadratic",
      "bowl",
      "norm",
      "matmul_algorithm",
      "conv_net",
      "rescale",
      "sum_task",
      "log_objective",
      "sparse_problem",
      "sum_of_quadratics",
    ]
  ) assert.ok(familyNames().includes(f), f);
  assert.throws(() => buildProblem(S("nope")), /family 'nope'.*unknown family/);
  assert.throws(() => buildProblem(S("quadratic", { ndim: -1 })), /'quadratic'.*'ndim'/);
  assert.throws(
    () => buildProblem(S("quadratic", { ndim: 3, nDim: 4 })),
    /'quadratic'.*unknown param.*'nDim'/,
  );
  assert.throws(() => buildProblem(S("quadratic", {})), /'quadratic'.*'ndim'/);
  assert.throws(() => buildProblem(S("matmul_algorithm", { n: 2, k: 3 })), /'matmul_algorithm'.*'k'/);
  assert.throws(() => buildProblem(S("rescale", { inner: { family: "bowl" } })), /'rescale'.*'inner'/);
  assert.throws(() => buildProblem(S("rescale", { inner: S("bowl", { cond: -1 }) })), /'bowl'.*'cond'/);
  assert.throws(
    () => buildProblem(S("softmax_regression", { nFeatures: 3 })),
    /'softmax_regression'.*'dataset'/,
  );
  assert.throws(
    () => buildProblem(S("softmax_regression", { nFeatures: 3, dataset: { kind: "mnist" } })),
    /'dataset'.*resolver/,
  );
  const q = buildProblem(S("quadratic", { ndim: 3 }));
  assert.throws(() => q.fullObjective([tf.zeros([4, 1])]), /shape/);
  q.dispose();
});

Deno.test("no tensor leaks over repeated steps", () => {
  const specs = [
    S("quadratic", { ndim: 5, noiseStdev: 0.5 }),
    S("fully_connected", {
      nFeatures: 4,
      hiddenSizes: [3],
      dataset: tinyData("random_mlp", { nFeatures: 4 }),
      batchSize: 8,
      noiseStdev: 0.1,
    }),
    S("sparse_problem", {
      inner: S("sum_task", { problems: [S("rosenbrock"), S("quadratic", { ndim: 2 })] }),
    }),
    S("matmul_algorithm", { n: 2, k: 5 }),
  ];
  for (const s of specs) {
    const p = buildProblem(s);
    const rng = new Rng(1);
    const x = p.init(rng);
    const step = () => {
      const b = p.sampleBatch(rng);
      const r = p.gradients(x, b, rng);
      const f = p.fullObjective(x);
      tf.dispose([r.loss, r.grads, f]);
      if (b) tf.dispose([b.x, b.y]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) step();
    assert.equal(tf.memory().numTensors, before, `${s.family} leaks`);
    tf.dispose(x);
    p.dispose();
  }
});
