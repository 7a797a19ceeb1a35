import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { makeBaseline } from "../../models/optimizers/baselines.ts";
import { trainProblem, trainSeeds } from "../../models/inner_loop.ts";
import type { Optimizer, OptState } from "../../lib/optimizer.ts";
import type { Batch, Problem } from "../../tasks/problem.ts";

await initBackend();

/** Local stand-in problem: least-squares linear regression on 64 synthetic points, minibatches of 16. */
function regressionProblem(seed: number, noiseStdev = 0): Problem {
  const rng = new Rng(seed);
  const n = 64, d = 5, bs = 16;
  const X = tf.keep(tf.tensor2d(rng.normalArray(n * d), [n, d]));
  const wTrue = tf.tensor2d(rng.normalArray(d), [d, 1]);
  const Y = tf.keep(
    tf.tidy(() => tf.add(tf.matMul(X, wTrue), tf.tensor2d(rng.normalArray(n, 0, 0.1), [n, 1]))),
  );
  wTrue.dispose();
  const objective = (params: tf.Tensor[], batch: Batch | null): tf.Scalar =>
    tf.tidy(() => {
      const x = batch ? batch.x : X;
      const y = batch ? batch.y : Y;
      const pred = tf.add(tf.matMul(x, params[0]), params[1]);
      return tf.mean(tf.square(tf.sub(pred, y))) as tf.Scalar;
    });
  return {
    spec: { family: "test_regression", params: { noiseStdev }, seed },
    paramNames: ["w", "b"],
    paramShapes: [[d, 1], [1]],
    datasetSize: n,
    init: (r) => [tf.tensor2d(r.normalArray(d), [d, 1]), tf.tensor1d(r.normalArray(1))],
    sampleBatch: (r) => {
      const idx = tf.tensor1d(Int32Array.from({ length: bs }, () => r.int(n)), "int32");
      const batch = { x: tf.gather(X, idx), y: tf.gather(Y, idx) };
      idx.dispose();
      return batch;
    },
    objective,
    fullObjective: (params) => objective(params, null),
    gradients: (params, batch, r) => {
      const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) => objective(ps, batch))(params);
      const noisy = noiseStdev > 0
        ? grads.map((g) => tf.add(g, tf.tensor(r.normalArray(g.size, 0, noiseStdev), g.shape)))
        : grads;
      return { loss: value as tf.Scalar, grads: noisy };
    },
    dispose: () => tf.dispose([X, Y]),
  };
}

Deno.test("inner loop: loss decreases, records are complete, no tensor leaks", async () => {
  const problem = regressionProblem(1);
  const before = tf.memory().numTensors;
  const steps = 150;
  let calls = 0;
  const rec = await trainProblem({
    problem,
    optimizer: makeBaseline("adam", { learningRate: 0.05 }),
    steps,
    rng: new Rng(3),
    fullEvery: 25,
    onStep: (info) => {
      assert.equal(info.step, calls++);
      assert.equal(info.fullLoss !== undefined, info.step % 25 === 0);
    },
  });
  assert.equal(tf.memory().numTensors, before, "trainProblem leaked tensors");
  assert.equal(calls, steps);
  assert.equal(rec.optimizer, "adam");
  assert.equal(rec.stepsRun, steps);
  assert.equal(rec.minibatchLoss.length, steps);
  assert.equal(rec.stepSeconds.length, steps);
  assert.ok(rec.wallSeconds > 0);
  assert.equal(rec.diverged, false);
  assert.equal(rec.divergedAtStep, undefined);
  assert.deepEqual(rec.fullLoss.map((p) => p.step), [0, 25, 50, 75, 100, 125, 150]);
  assert.equal(rec.finalFullLoss, rec.fullLoss.at(-1)!.value);
  assert.ok(
    rec.finalFullLoss < 0.1 * rec.fullLoss[0].value,
    `full loss ${rec.fullLoss[0].value} -> ${rec.finalFullLoss}`,
  );
  const head = rec.minibatchLoss.slice(0, 10).reduce((a, b) => a + b);
  const tail = rec.minibatchLoss.slice(-10).reduce((a, b) => a + b);
  assert.ok(tail < 0.1 * head);
  problem.dispose();
});

Deno.test("inner loop: divergence is recorded, not thrown, and leaks nothing", async () => {
  const problem = regressionProblem(2);
  const before = tf.memory().numTensors;
  const rec = await trainProblem({
    problem,
    optimizer: makeBaseline("sgd", { learningRate: 1e3 }),
    steps: 500,
    rng: new Rng(4),
    fullEvery: 10,
  });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(rec.diverged, true);
  assert.ok(rec.divergedAtStep !== undefined && rec.divergedAtStep < 500);
  assert.ok(rec.stepsRun < 500);
  assert.ok(!Number.isFinite(rec.finalFullLoss) || !Number.isFinite(rec.minibatchLoss.at(-1)!));
  // Every recorded value before the divergence point is finite.
  assert.ok(rec.minibatchLoss.slice(0, rec.stepsRun).every(Number.isFinite));
  problem.dispose();
});

Deno.test("inner loop: deterministic per seed; trainSeeds runs every seed; noisy gradients still train", async () => {
  const problem = regressionProblem(3, 0.5);
  const opt = makeBaseline("momentum", { learningRate: 0.02, momentum: 0.9 });
  const before = tf.memory().numTensors;
  const recs = await trainSeeds({ problem, optimizer: opt, steps: 60, seeds: [11, 12, 11] });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(recs.length, 3);
  assert.deepEqual(recs[0].minibatchLoss, recs[2].minibatchLoss);
  assert.notDeepEqual(recs[0].minibatchLoss, recs[1].minibatchLoss);
  for (const r of recs) assert.ok(r.finalFullLoss < r.fullLoss[0].value);
  problem.dispose();
});

Deno.test("inner loop: objective is evaluated at evalParams when the optimizer defines it", async () => {
  const problem = regressionProblem(4);
  // A stand-in "attention" optimizer: SGD whose evaluation point is always zero.
  const sgd = makeBaseline("sgd", { learningRate: 0.05 });
  const attn: Optimizer = {
    name: "attn-stub",
    init: (p) => sgd.init(p),
    update: (g, s: OptState, p) => sgd.update(g, s, p),
    evalParams: (_s, params) => params.map((p) => tf.zerosLike(p)),
  };
  const zeroFull = tf.tidy(() => problem.fullObjective([tf.zeros([5, 1]), tf.zeros([1])]).dataSync()[0]);
  const before = tf.memory().numTensors;
  const rec = await trainProblem({ problem, optimizer: attn, steps: 20, rng: new Rng(5), fullEvery: 5 });
  assert.equal(tf.memory().numTensors, before);
  for (const p of rec.fullLoss) assert.ok(Math.abs(p.value - zeroFull) < 1e-5 * zeroFull);
  problem.dispose();
});

Deno.test("inner loop: abort signal stops the run cleanly; bad options are rejected", async () => {
  const problem = regressionProblem(5);
  const before = tf.memory().numTensors;
  const ac = new AbortController();
  await assert.rejects(
    trainProblem({
      problem,
      optimizer: makeBaseline("sgd", { learningRate: 0.01 }),
      steps: 100,
      rng: new Rng(1),
      signal: ac.signal,
      onStep: (i) => {
        if (i.step === 4) ac.abort(new Error("stop requested"));
      },
    }),
    /stop requested/,
  );
  assert.equal(tf.memory().numTensors, before);
  await assert.rejects(
    trainProblem({
      problem,
      optimizer: makeBaseline("sgd", { learningRate: 0.01 }),
      steps: -1,
      rng: new Rng(1),
    }),
    /steps must be an integer/,
  );
  problem.dispose();
});

Deno.test("inner loop hooks: given init stream and batches reproduce the default run; custom and no evaluation", async () => {
  const problem = regressionProblem(6);
  const sgd = makeBaseline("sgd", { learningRate: 0.05 });
  const before = tf.memory().numTensors;
  const plain = await trainProblem({ problem, optimizer: sgd, steps: 12, rng: new Rng(7), fullEvery: 4 });
  const batchRng = new Rng(7).fork("batch");
  const seen: number[] = [];
  const hooked = await trainProblem({
    problem,
    optimizer: sgd,
    steps: 12,
    rng: new Rng(99),
    initRng: new Rng(7).fork("init"),
    batches: () => problem.sampleBatch(batchRng)!,
    fullEvery: 4,
    evaluate: async (params, step) => {
      seen.push(step);
      const v = problem.fullObjective(params);
      const x = (await v.data())[0];
      v.dispose();
      return x;
    },
  });
  assert.deepEqual(hooked.minibatchLoss, plain.minibatchLoss);
  assert.deepEqual(hooked.fullLoss, plain.fullLoss);
  assert.deepEqual(seen, [0, 4, 8, 12]);
  const none = await trainProblem({ problem, optimizer: sgd, steps: 5, rng: new Rng(7), evaluate: null });
  assert.deepEqual(none.fullLoss, []);
  assert.ok(Number.isNaN(none.finalFullLoss) && !none.diverged);
  assert.deepEqual(none.minibatchLoss, plain.minibatchLoss.slice(0, 5));
  assert.equal(tf.memory().numTensors, before);
  problem.dispose();
});

Deno.test("inner loop hooks: loss at the parameters, divergence factor, no evaluation after divergence", async () => {
  const problem = regressionProblem(7);
  const sgd = makeBaseline("sgd", { learningRate: 0.05 });
  const attn: Optimizer = {
    ...sgd,
    name: "attn-stub",
    evalParams: (_s, ps) => ps.map((p) => tf.zerosLike(p)),
  };
  const atParams = await trainProblem({
    problem,
    optimizer: attn,
    steps: 8,
    rng: new Rng(2),
    lossAt: "params",
  });
  const plain = await trainProblem({ problem, optimizer: sgd, steps: 8, rng: new Rng(2) });
  assert.deepEqual(atParams.minibatchLoss, plain.minibatchLoss);
  const before = tf.memory().numTensors;
  const wild = makeBaseline("sgd", { learningRate: 3 });
  const free = await trainProblem({ problem, optimizer: wild, steps: 40, rng: new Rng(2) });
  const capped = await trainProblem({
    problem,
    optimizer: wild,
    steps: 40,
    rng: new Rng(2),
    divergenceFactor: 100,
    evaluateAfterDivergence: false,
  });
  const losses = Array.from(capped.minibatchLoss);
  assert.ok(capped.diverged && capped.stepsRun < free.stepsRun, `${capped.stepsRun} vs ${free.stepsRun}`);
  assert.ok(losses.at(-1)! > 100 * Math.max(losses[0], 1));
  assert.ok(losses.slice(0, -1).every((l) => l <= 100 * Math.max(losses[0], 1)));
  assert.deepEqual(capped.fullLoss.map((p) => p.step), [0]);
  assert.ok(Number.isNaN(capped.finalFullLoss));
  assert.equal(tf.memory().numTensors, before);
  problem.dispose();
});

Deno.test("inner loop: a problem owning its parameter variables is updated in place and keeps them", async () => {
  const base = regressionProblem(8);
  const vars = tf.tidy(() => base.init(new Rng(1)).map((t) => tf.variable(t)));
  const problem: Problem = {
    ...base,
    init: () => vars,
    applyUpdates: (params, updates) =>
      params.map((p, i) => {
        (p as tf.Variable).assign(tf.add(p, updates[i]));
        return p;
      }),
  };
  const w0 = Array.from(vars[0].dataSync());
  const before = tf.memory().numTensors;
  const rec = await trainProblem({
    problem,
    optimizer: makeBaseline("sgd", { learningRate: 0.05 }),
    steps: 20,
    rng: new Rng(3),
  });
  assert.equal(tf.memory().numTensors, before, "leaked or freed tensors");
  assert.ok(vars.every((v) => !v.isDisposed), "the loop disposed the problem's variables");
  assert.ok(Array.from(vars[0].dataSync()).some((v, i) => v !== w0[i]), "variables not updated");
  assert.ok(rec.finalFullLoss < rec.fullLoss[0].value);
  tf.dispose(vars);
  base.dispose();
});
