import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { hrnnLearnedOptimizer } from "../../../models/optimizers/hrnn_learned.ts";
import {
  cleanGradients,
  disposeCarry,
  instanceRngs,
  makeEstimator,
} from "../../../models/metatrain/estimators.ts";
import {
  PAPER_UNROLL_CONFIG,
  startTrajectories,
  unrollBatch,
  type UnrollConfig,
} from "../../../models/metatrain/unroll.ts";
import { stackInstances } from "../../../tasks/batched.ts";
import { ensemble } from "../../../tasks/ensemble.ts";
import { buildBatched, buildProblem } from "../../../tasks/registry.ts";
import type { ProblemSpec } from "../../../tasks/problem.ts";

await initBackend();

const learned = hrnnLearnedOptimizer({ initLrRange: [0.001, 0.05] });
const T = 5;
const SEED = 17;

function spec(family: string): ProblemSpec {
  return ensemble().find((e) => e.spec.family === family)!.spec;
}

/** Meta-gradient (raw, not cleaned) of one batched unroll over `problem`'s instances, instance b from `rngs[b]`. */
function metaGradient(
  mp: Record<string, tf.Tensor>,
  problem: ReturnType<typeof buildBatched>,
  instanceIds: number[],
  cfg: UnrollConfig,
): { loss: number; grads: Float32Array[]; steps: number } {
  const names = Object.keys(mp).sort();
  const xs = names.map((n) => mp[n]);
  const starts = startTrajectories(problem, instanceIds.map((b) => new Rng(100 + b)));
  let steps = 0;
  const { value, grads } = tf.engine().gradients(
    () => {
      const m: Record<string, tf.Tensor> = {};
      names.forEach((n, i) => (m[n] = xs[i]));
      const rngs = instanceIds.map((b) => instanceRngs(SEED, b));
      const r = unrollBatch(
        rngs.map((q) => learned.optimizer(m, { rng: q.opt })),
        problem,
        starts,
        T,
        rngs.map((q) => q.batch),
        cfg,
        { taped: true },
      );
      steps = r.steps;
      disposeCarry({ trajectories: r.carries, pesAccum: null });
      return r.loss;
    },
    xs,
    undefined,
    true,
  );
  const out = {
    loss: value.dataSync()[0],
    grads: grads.map((g, i) => (g ?? tf.zerosLike(xs[i])).dataSync() as Float32Array),
    steps,
  };
  tf.dispose([value, ...grads.filter((g) => g)]);
  tf.dispose(starts.flatMap((s) => s.params));
  return out;
}

for (const family of ["quadratic", "fully_connected", "rosenbrock", "sum_task"]) {
  for (const second of [true, false]) {
    Deno.test(`batched unroll: ${family}, 3 instances = 3 separate unrolls averaged (loss, meta-gradient), second derivatives ${second ? "on" : "off"}`, () => {
      const cfg = { ...PAPER_UNROLL_CONFIG, secondDerivatives: second };
      const mp = learned.init(3);
      const before = tf.memory().numTensors;
      const batch = buildBatched(spec(family), 3);
      assert.equal(batch.vectorized, true);
      const together = metaGradient(mp, batch, [0, 1, 2], cfg);
      assert.equal(together.steps, T);
      const alone = batch.specs.map((s, b) => {
        const single = stackInstances([buildProblem(s)]);
        const r = metaGradient(mp, single, [b], cfg);
        single.dispose();
        return r;
      });
      const meanLoss = alone.reduce((a, r) => a + r.loss, 0) / 3;
      assert.ok(
        Math.abs(together.loss - meanLoss) <= 1e-5 * (1 + Math.abs(meanLoss)),
        `${together.loss} vs ${meanLoss}`,
      );
      let checked = 0;
      together.grads.forEach((g, i) => {
        const ref = g.map((_, j) => (alone[0].grads[i][j] + alone[1].grads[i][j] + alone[2].grads[i][j]) / 3);
        const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let j = 0; j < g.length; j++) {
          assert.ok(
            Math.abs(g[j] - ref[j]) <= 2e-3 * scale + 1e-7,
            `meta-param ${i}[${j}]: ${g[j]} vs ${ref[j]}`,
          );
        }
        if (scale > 0) checked++;
      });
      assert.ok(checked > 10, "most meta-parameters get a gradient");
      batch.dispose();
      assert.equal(tf.memory().numTensors, before, "no tensor leak");
      tf.dispose(Object.values(mp));
    });
  }
}

Deno.test("batched unroll: the TBPTT estimator carries one trajectory per instance; PES refuses batches", () => {
  const mp = learned.init(1);
  const batch = buildBatched(spec("quadratic"), 2);
  const tb = makeEstimator({ kind: "tbptt" });
  assert.equal(tb.trajectoriesFor(2), 2);
  const starts = startTrajectories(batch, [new Rng(1), new Rng(2)]);
  const carry = tb.initCarry(starts, [null, null], mp);
  tf.dispose(starts.flatMap((s) => s.params));
  const r = tb.estimate(learned, mp, batch, carry, 3, 5, PAPER_UNROLL_CONFIG);
  assert.equal(r.carry.trajectories.length, 2);
  assert.equal(r.innerSteps, 6);
  assert.ok(Number.isFinite(r.loss));
  disposeCarry(carry);
  disposeCarry(r.carry);
  tf.dispose(Object.values(r.grads));
  const pes = makeEstimator({ kind: "pes", pesPairs: 1 });
  assert.throws(() => pes.trajectoriesFor(2), /one problem instance per slot/);
  batch.dispose();
  tf.dispose(Object.values(mp));
});

Deno.test("batched TBPTT with clipPerInstance = each instance's meta-gradient cleaned on its own, then averaged", () => {
  const mp = learned.init(4);
  const names = Object.keys(mp).sort();
  const before = tf.memory().numTensors;
  const clipCfg = { clip: 1e4, globalNormClip: 1e-3 }; // small enough that every instance's norm is clipped
  // A fresh problem per estimate: a problem's minibatch cursor advances as it trains.
  const probe = buildBatched(spec("fully_connected"), 3);
  const specs = probe.specs;
  probe.dispose();
  const estimateWith = (clipPerInstance: boolean) => {
    const batch = buildBatched(spec("fully_connected"), 3);
    const est = makeEstimator({ kind: "tbptt", ...clipCfg, clipPerInstance });
    const starts = startTrajectories(batch, [0, 1, 2].map((b) => new Rng(100 + b)));
    const carry = est.initCarry(starts, [null, null, null], mp);
    tf.dispose(starts.flatMap((s) => s.params));
    const r = est.estimate(learned, mp, batch, carry, T, SEED, PAPER_UNROLL_CONFIG);
    disposeCarry(carry);
    disposeCarry(r.carry);
    const grads = names.map((n) => r.grads[n].dataSync() as Float32Array);
    tf.dispose(Object.values(r.grads));
    batch.dispose();
    return { loss: r.loss, grads };
  };
  const separate = estimateWith(true);
  const pooled = estimateWith(false);
  // Reference: each instance alone (its own random streams), cleaned, then the mean.
  const cleanedAlone = specs.map((s, b) => {
    const single = stackInstances([buildProblem(s)]);
    const r = metaGradient(mp, single, [b], PAPER_UNROLL_CONFIG);
    single.dispose();
    const raw: Record<string, tf.Tensor> = {};
    names.forEach((n, i) => (raw[n] = tf.tensor(r.grads[i], mp[n].shape)));
    const clean = cleanGradients(raw, clipCfg.clip, clipCfg.globalNormClip);
    const out = names.map((n) => clean[n].dataSync() as Float32Array);
    tf.dispose([...Object.values(raw), ...Object.values(clean)]);
    return out;
  });
  let norm2 = 0, diffPooled = 0;
  names.forEach((_, i) => {
    const got = separate.grads[i];
    for (let j = 0; j < got.length; j++) {
      const ref = (cleanedAlone[0][i][j] + cleanedAlone[1][i][j] + cleanedAlone[2][i][j]) / 3;
      assert.ok(
        Math.abs(got[j] - ref) <= 2e-3 * clipCfg.globalNormClip + 1e-9,
        `${names[i]}[${j}]: ${got[j]} vs ${ref}`,
      );
      norm2 += got[j] * got[j];
      diffPooled = Math.max(diffPooled, Math.abs(pooled.grads[i][j] - got[j]));
    }
  });
  assert.ok(Math.sqrt(norm2) > 0.1 * clipCfg.globalNormClip, "the averaged clipped gradient is not zero");
  assert.ok(
    diffPooled > 1e-3 * clipCfg.globalNormClip,
    "cleaning the mean instead gives a different gradient",
  );
  assert.ok(
    Math.abs(separate.loss - pooled.loss) < 1e-5 * (1 + Math.abs(pooled.loss)),
    `same meta-loss either way: ${separate.loss} vs ${pooled.loss}`,
  );
  assert.equal(tf.memory().numTensors, before, "no tensor leak");
  tf.dispose(Object.values(mp));
});
