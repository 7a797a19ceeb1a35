import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { ensemble } from "../../tasks/ensemble.ts";
import { buildBatched, buildProblem, isVectorized } from "../../tasks/registry.ts";
import { instanceSpec } from "../../tasks/batched.ts";
import type { ProblemSpec } from "../../tasks/problem.ts";

await initBackend();

function firstSpec(family: string, pred: (s: ProblemSpec) => boolean = () => true): ProblemSpec {
  const e = ensemble().find((e) => e.spec.family === family && pred(e.spec));
  if (!e) throw new Error(`no ${family} in the ensemble`);
  return e.spec;
}

const CASES: [string, ProblemSpec][] = [
  ["quadratic", firstSpec("quadratic")],
  ["quadratic with noise", { family: "quadratic", params: { ndim: 6, noiseStdev: 0.3 }, seed: 11 }],
  ["norm", firstSpec("norm")],
  ["bowl", firstSpec("bowl")],
  ["softmax_regression (minibatches)", firstSpec("softmax_regression")],
  ["fully_connected (minibatches)", firstSpec("fully_connected")],
  ["rosenbrock", firstSpec("rosenbrock")],
  ["log_sum_exp", firstSpec("log_sum_exp")],
  ["michalewicz", firstSpec("michalewicz")],
  ["rosenbrock with noise", { family: "rosenbrock", params: { noiseStdev: 1 }, seed: 5 }],
  ["matmul_algorithm", firstSpec("matmul_algorithm")],
  ["sum_task of quadratics", firstSpec("sum_task")],
  [
    "sum_task of test functions and noisy quadratics",
    firstSpec("sum_task", (s) => (s.params.problems as ProblemSpec[]).length === 11),
  ],
  [
    "sum_task with a classifier part (stacked, not vectorized)",
    {
      family: "sum_task",
      params: {
        problems: [
          { family: "quadratic", params: { ndim: 3 }, seed: 1 },
          {
            family: "conv_net",
            params: {
              imageShape: [1, 3, 3],
              nClasses: 2,
              filters: [[2, 2, 1]],
              dataset: { kind: "random", nFeatures: 9, nSamples: 8, nClasses: 2, seed: 2 },
            },
            seed: 3,
          },
        ],
      },
      seed: 4,
    },
  ],
  ["rescale of norm", firstSpec("rescale", (s) => (s.params.inner as ProblemSpec).family === "norm")],
  [
    "log_objective of quadratic",
    firstSpec("log_objective", (s) => (s.params.inner as ProblemSpec).family === "quadratic"),
  ],
  [
    "log_objective of bowl",
    firstSpec("log_objective", (s) => (s.params.inner as ProblemSpec).family === "bowl"),
  ],
  [
    "sparse_problem of an MLP (gradient masks)",
    firstSpec("sparse_problem", (s) => (s.params.inner as ProblemSpec).family === "fully_connected"),
  ],
  [
    "rescale with faithfulNoise (stacked, not vectorized)",
    {
      family: "rescale",
      params: { inner: { family: "quadratic", params: { ndim: 4 }, seed: 3 }, faithfulNoise: true },
      seed: 4,
    },
  ],
];

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    assert.ok(d <= tol * (1 + Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
};

Deno.test("batched problems: instance 0 is the spec itself, others get fresh seeds in the same split", () => {
  const spec = firstSpec("fully_connected");
  assert.deepEqual(instanceSpec(spec, 0), spec);
  const s1 = instanceSpec(spec, 1), s2 = instanceSpec(spec, 2);
  assert.notEqual(s1.seed, spec.seed);
  assert.notEqual(s1.seed, s2.seed);
  assert.ok(s1.seed >= 0 && s1.seed < 2 ** 30);
  const ds = (s: ProblemSpec) => (s.params.dataset as { seed: number }).seed;
  assert.notEqual(ds(s1), ds(spec));
  assert.ok(instanceSpec({ ...spec, seed: 2 ** 30 + 5 }, 1).seed >= 2 ** 30);
});

for (const [label, spec] of CASES) {
  Deno.test(`batched problems: ${label}: 3 instances equal 3 separate problems (values, gradients, noise)`, () => {
    const size = 3;
    const bp = buildBatched(spec, size);
    assert.equal(bp.vectorized, !label.includes("stacked"));
    assert.equal(isVectorized(spec.family), true);
    const separate = bp.specs.map((s) => buildProblem(s));
    const before = tf.memory().numTensors;
    for (let round = 0; round < 2; round++) {
      tf.tidy(() => {
        const params = bp.init([0, 1, 2].map((b) => new Rng(100 + b)));
        const sepParams = separate.map((p, b) => p.init(new Rng(100 + b)));
        params.forEach((ps, b) =>
          ps.forEach((t, i) => close(t.dataSync(), sepParams[b][i].dataSync(), 0, "init"))
        );
        close(
          bp.fullObjectives(params).dataSync(),
          separate.map((p, b) => p.fullObjective(sepParams[b]).dataSync()[0]),
          2e-6,
          "full objective",
        );
        const rngs = [0, 1, 2].map((b) => new Rng(7 + b + 10 * round));
        const sepRngs = [0, 1, 2].map((b) => new Rng(7 + b + 10 * round));
        const batch = bp.sampleBatch(rngs);
        const g = bp.gradients(params, batch, rngs);
        const losses: number[] = [];
        separate.forEach((p, b) => {
          const sb = p.sampleBatch(sepRngs[b]);
          const r = p.gradients(sepParams[b], sb, sepRngs[b]);
          losses.push(r.loss.dataSync()[0]);
          r.grads.forEach((t, i) => close(g.grads[b][i].dataSync(), t.dataSync(), 2e-5, `grad ${b}/${i}`));
        });
        close(g.losses.dataSync(), losses, 2e-6, "minibatch losses");
      });
    }
    assert.equal(tf.memory().numTensors, before, "no tensor leak");
    bp.dispose();
    separate.forEach((p) => p.dispose());
  });
}

Deno.test("batched problems: Hessian-vector products through the batch equal the separate ones", () => {
  const spec = firstSpec("fully_connected");
  const bp = buildBatched(spec, 2);
  const separate = bp.specs.map((s) => buildProblem(s));
  tf.tidy(() => {
    const params = bp.init([new Rng(1), new Rng(2)]);
    const v = params.map((ps) => ps.map((t) => tf.randomNormal(t.shape, 0, 1, "float32", 5)));
    const batch = bp.sampleBatch([new Rng(3), new Rng(4)]);
    const hv = tf.grads((...flat: tf.Tensor[]) => {
      const per = [flat.slice(0, params[0].length), flat.slice(params[0].length)];
      const g = bp.gradients(per, batch, [new Rng(0), new Rng(0)]).grads;
      return tf.addN(g.flatMap((gs, b) => gs.map((t, i) => tf.sum(tf.mul(t, v[b][i]))))) as tf.Scalar;
    })(params.flat());
    separate.forEach((p, b) => {
      const sb = p.sampleBatch([new Rng(3), new Rng(4)][b]);
      const sep = tf.grads((...ps: tf.Tensor[]) => {
        const g = p.gradients(ps, sb, new Rng(0)).grads;
        return tf.addN(g.map((t, i) => tf.sum(tf.mul(t, v[b][i])))) as tf.Scalar;
      })(params[b]);
      sep.forEach((t, i) =>
        close(hv[b * params[0].length + i].dataSync(), t.dataSync(), 1e-4, `hvp ${b}/${i}`)
      );
    });
  });
  bp.dispose();
  separate.forEach((p) => p.dispose());
});
