import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { buildProblem } from "../../tasks/registry.ts";
import { collectSeeds, ensemble, reseed } from "../../tasks/ensemble.ts";
import { GROUP_NAMES, GROUPS } from "../../tasks/ensemble_groups.ts";
import { groupContext } from "../../tasks/ensemble_seeds.ts";
import { heldoutSet, testProblems } from "../../tasks/heldout.ts";
import { fromImageArrays } from "../../tasks/datasets.ts";

await initBackend();

const EXPECTED_GROUP_SIZES: Record<string, number> = {
  sparse_softmax_2_class_sparse_problems: 1,
  one_hot_sparse_softmax_2_class_sparse_problems: 1,
  quadratic_problems: 4,
  quadratic_problems_noisy: 4,
  quadratic_problems_large: 3,
  bowl_problems: 4,
  bowl_problems_noisy: 4,
  softmax_2_class_problems: 4,
  softmax_2_class_problems_noisy: 4,
  optimization_test_problems: 9,
  optimization_test_problems_noisy: 9,
  fully_connected_random_2_class_problems: 12,
  matmul_problems: 10,
  log_objective_problems: 6,
  rescale_problems: 9,
  norm_problems: 3,
  norm_problems_noisy: 3,
  sum_problems: 6,
  sum_problems_noisy: 2,
  sparse_gradient_problems: 6,
  sparse_gradient_problems_mlp: 3,
  min_max_well_problems: 5,
  sum_of_quadratics_problems: 10,
  projection_quadratic_problems: 10,
  outward_snake_problems: 10,
  dependency_chain_problems: 10,
  multiclass_minibatch_problems: 8,
};

Deno.test("ensemble: paper configuration has 101 entries; per-group counts; switches", () => {
  const c = groupContext();
  for (const g of GROUP_NAMES) assert.equal(GROUPS[g](c).length, EXPECTED_GROUP_SIZES[g], g);
  const e = ensemble();
  assert.equal(e.length, 101);
  const counts: Record<string, number> = {};
  for (const x of e) counts[x.group] = (counts[x.group] ?? 0) + 1;
  assert.equal(counts.quadratic_problems, undefined);
  assert.equal(counts.sparse_gradient_problems_mlp, 3);
  assert.equal(counts.fully_connected_random_2_class_problems, 12);
  assert.equal(ensemble({ include: { quadratic_problems: true } }).length, 105);
  assert.equal(
    ensemble({ include: { fully_connected_random_2_class_problems: false } }).length,
    101 - 12 - 3,
  );
  const all = Object.fromEntries(GROUP_NAMES.map((g) => [g, true]));
  assert.equal(ensemble({ include: all }).length, 160);
  assert.throws(() => ensemble({ include: { nope: true } as never }), /unknown group 'nope'/);
  // reference order: the noisy quadratics come first in the default set, the sparse MLPs last
  assert.equal(e[0].group, "quadratic_problems_noisy");
  assert.equal(e[100].group, "sparse_gradient_problems_mlp");
  // deterministic, JSON round-trip safe
  assert.deepEqual(ensemble(), e);
  assert.deepEqual(JSON.parse(JSON.stringify(e)), e);
  // softmax data keep the reference's seed 123 in the train split
  const sm = e.find((x) => x.group === "softmax_2_class_problems")!;
  assert.equal((sm.spec.params.dataset as { seed: number }).seed, 123);
  assert.equal(sm.batchSize, 100);
  // wrappers carry the noise switch explicitly
  assert.ok(
    e.filter((x) => x.spec.family === "sum_task").every((x) => x.spec.params.faithfulNoise === false),
  );
  assert.ok(
    ensemble({ faithfulNoise: true }).filter((x) => x.spec.family === "rescale").every((x) =>
      x.spec.params.faithfulNoise === true
    ),
  );
});

Deno.test("held-out set: test seeds never equal train seeds; no shared spec; per-family counts", () => {
  const train = ensemble({ include: Object.fromEntries(GROUP_NAMES.map((g) => [g, true])) });
  const held = heldoutSet({
    perFamily: 3,
    ensemble: { include: Object.fromEntries(GROUP_NAMES.map((g) => [g, true])) },
  });
  const trainJson = new Set(train.map((e) => JSON.stringify(e.spec)));
  for (const h of held) assert.ok(!trainJson.has(JSON.stringify(h.spec)), `${h.name} also in train`);
  const trainSeeds = new Set(train.flatMap((e) => collectSeeds(e.spec)));
  for (const h of held) {
    for (const s of collectSeeds(h.spec)) assert.ok(!trainSeeds.has(s), `${h.name}: seed ${s} used in train`);
  }
  const names = held.map((h) => h.name);
  assert.equal(new Set(names).size, names.length, "unique names");
  const perFamily: Record<string, number> = {};
  for (const h of held) {
    if (h.group !== "test_problems") perFamily[h.spec.family] = (perFamily[h.spec.family] ?? 0) + 1;
  }
  assert.ok(Object.values(perFamily).every((n) => n === 3));
  assert.equal(Object.keys(perFamily).length, new Set(train.map((e) => e.spec.family)).size);
  const tp = held.filter((h) => h.group === "test_problems").map((h) => h.name);
  assert.deepEqual(tp, [
    "quad_problem",
    "quad_problem_noise",
    "rosenbrock",
    "rosenbrock_noise",
    "softmax",
    "softmax_noise",
    "mlp_small",
    "mlp_large",
    "mlp_mnist_sigmoid",
    "mlp_mnist_relu",
    "convnet_mnist_sigmoid",
    "convnet_mnist_relu",
  ]);
  assert.equal(held.filter((h) => h.externalData).length, 4);
  assert.deepEqual(heldoutSet({ perFamily: 3 }), heldoutSet({ perFamily: 3 }));
  assert.equal(testProblems(false).length, 8);
  // reseed gives fresh instances of the same structure
  const r = reseed(train[0].spec, (p) => p.length + 7);
  assert.equal(r.family, train[0].spec.family);
  assert.equal(r.seed, 7);
});

Deno.test("every train entry and every synthetic held-out entry builds and runs one step without leaks", () => {
  const entries = [
    ...ensemble().map((e) => ({ name: e.group, spec: e.spec, bs: e.batchSize, init: 1 })),
    ...heldoutSet({ perFamily: 1 }).filter((h) => !h.externalData).map((h) => ({
      name: h.name,
      spec: h.spec,
      bs: h.batchSize,
      init: h.initSeed,
    })),
  ];
  const before = tf.memory().numTensors;
  for (const e of entries) {
    const p = buildProblem(e.spec);
    const rng = new Rng(e.init);
    const x = p.init(rng);
    const b = p.sampleBatch(rng);
    if (e.bs !== null) assert.equal(b?.x.shape[0], Math.min(e.bs, p.datasetSize), `${e.name} batch size`);
    const r = p.gradients(x, b, rng);
    const f = p.fullObjective(x);
    const vals = [r.loss.dataSync()[0], f.dataSync()[0]];
    assert.ok(vals.every(Number.isFinite), `${e.name} (${e.spec.family}) finite objective`);
    assert.ok(r.grads.every((g) => g.dataSync().every(Number.isFinite)), `${e.name} finite gradients`);
    if (!["sum_of_quadratics"].includes(e.spec.family)) assert.ok(vals[1] >= 0, `${e.name} objective >= 0`);
    tf.dispose([x, r.loss, r.grads, f]);
    if (b) tf.dispose([b.x, b.y]);
    p.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("MNIST-backed held-out specs build through the dataset resolver hook", () => {
  const fake = fromImageArrays({
    images: new Rng(1).uniformArray(20 * 28 * 28, 0, 1),
    labels: Int32Array.from({ length: 20 }, (_, i) => i % 10),
    n: 20,
    height: 28,
    width: 28,
    channels: 1,
    name: "mnist",
    standIn: true,
  });
  const resolveDataset = () => fake;
  for (const h of testProblems().filter((t) => t.externalData)) {
    assert.throws(() => buildProblem(h.spec), /resolver/);
    const p = buildProblem(h.spec, { resolveDataset });
    const x = p.init(new Rng(h.initSeed));
    const b = p.sampleBatch(new Rng(1))!;
    assert.equal(b.x.shape[0], 20); // batch 64 > 20 rows: whole dataset
    const f = p.objective(x, b);
    assert.ok(Number.isFinite(f.dataSync()[0]));
    if (h.spec.family === "fully_connected") {
      const r = p.gradients(x, b, new Rng(1));
      assert.ok(r.grads.every((g) => g.dataSync().every(Number.isFinite)));
      tf.dispose([r.loss, r.grads]);
    }
    tf.dispose([x, b.x, b.y, f]);
    p.dispose();
  }
  assert.ok(!fake.x.isDisposed, "resolver-owned data is not disposed by the problem");
  tf.dispose([fake.x, fake.y]);
});

Deno.test("ensemble: the multiclass minibatch group (off in the paper configuration) builds 5- and 10-class MLPs and ConvNets", () => {
  assert.equal(ensemble().filter((e) => e.group === "multiclass_minibatch_problems").length, 0);
  const entries = ensemble({ include: { multiclass_minibatch_problems: true } })
    .filter((e) => e.group === "multiclass_minibatch_problems");
  assert.equal(entries.length, 8);
  assert.deepEqual([...new Set(entries.map((e) => e.spec.family))], ["fully_connected", "conv_net"]);
  for (const e of entries) {
    const p = buildProblem(e.spec);
    const dims = p.paramShapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
    p.dispose();
    assert.ok(dims >= 500 && dims <= 2000, `${e.spec.family}: ${dims} parameters`);
    assert.ok([5, 10].includes(e.spec.params.nClasses as number));
    assert.ok(e.batchSize !== null && e.batchSize <= 128);
  }
});
