import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import type { HrnnConfig } from "../../../models/hrnn/config.ts";
import { makeHrnn } from "../../../models/hrnn/hrnn.ts";
import { NATIVE_ENV, nativeKernelError } from "../../../models/hrnn/native.ts";
import { NATIVE_LIBS } from "../../../models/hrnn/kernel/hrnn_coords_native.ts";
import { hrnnLearnedOptimizer } from "../../../models/optimizers/hrnn_learned.ts";
import { disposeCarry, makeEstimator } from "../../../models/metatrain/estimators.ts";
import { PAPER_UNROLL_CONFIG, startTrajectory, type UnrollConfig } from "../../../models/metatrain/unroll.ts";
import type { Problem } from "../../../tasks/problem.ts";
import { dot, flat, randomDirection, shifted, tinyQuadratic, tinySpec } from "../metatrain/fixtures.ts";
import { tapedKernelCalls } from "../../../models/hrnn/taped_kernel.ts";
import { compareTapedGradients, type TapedComparison } from "./taped_compare.ts";
import { disposeState } from "./helpers.ts";

await initBackend("wasm");

const ENGINES: ("fused" | "native")[] = nativeKernelError() === null ? ["fused", "native"] : ["fused"];

/**
 * Gradient tolerance per input: 2e-4 relative to the input's largest gradient entry (measured worst 1.1e-4,
 * with all-zero gradients, where the RMS normalisation of tiny directions amplifies float32 rounding; most
 * inputs agree to 1e-5). The LR momentum logit gets 5e-4: its gradient Σ dℓ'·(ℓ − clip(ℓ + Δ)) is a small
 * difference of two large float32 sums on the ops path (ℓ ≈ −5 … −9, the difference ≈ 0.1), which loses about
 * that much there (measured worst 1.6e-4).
 */
function tolerance(what: string): number {
  return what === "meta lr_momentum_logit" ? 5e-4 : 2e-4;
}

function assertClose(r: TapedComparison, label: string): void {
  for (const { what, rel } of r.perInput) {
    assert.ok(rel <= tolerance(what), `${label}: gradient w.r.t. ${what} differs by ${rel} (relative)`);
  }
  assert.ok(r.worstValue < 1e-5, `${label}: forward values differ by ${r.worstValue}`);
}

/** The five other configurations (with the paper config, every non-attention switch is on and off). */
const CONFIGS: Partial<HrnnConfig>[] = [
  { numGradientScales: 1, levelSizes: [6] },
  { numGradientScales: 3, useExtremeIndicator: true, useLrShortcut: true, levelSizes: [7, 5] },
  { useMultipleScaleDecays: true, useProblemLrMean: false, globalInput: "mean" },
  { learnableDecay: false, useGradientShortcut: false, useGradProducts: false },
  { dynamicOutputScale: false, useRelativeLr: false, useLogMeansSquared: false, levelSizes: [4, 3, 2] },
  { numGradientScales: 2, learnableInpDecay: false, useLogMeansSquared: false, levelSizes: [5, 4] },
];

Deno.test("taped fused backward equals the ops path's gradients w.r.t. every input: paper config, 3 steps", () => {
  for (const kernel of ENGINES) {
    const r = compareTapedGradients({}, [3, 17, 70], { kernel, steps: 3 });
    assert.ok(r.inputs > 50, "meta-parameters, gradients of every step and every state tensor");
    assertClose(r, `${kernel} paper`);
  }
});

Deno.test("taped fused backward equals the ops path on six other configurations", () => {
  for (const overrides of CONFIGS) {
    for (const kernel of ENGINES) {
      assertClose(
        compareTapedGradients(overrides, [3, 17, 70], { kernel, steps: 3 }),
        `${kernel} ${JSON.stringify(overrides)}`,
      );
    }
  }
});

Deno.test("taped fused backward: tiny and zero gradients, and a tensor above 8,192 coordinates", () => {
  for (const kernel of ENGINES) {
    for (const gradScale of [1e-6, 0]) {
      assertClose(
        compareTapedGradients({}, [7, 300], { kernel, gradScale }),
        `${kernel} gradScale ${gradScale}`,
      );
    }
    assertClose(compareTapedGradients({}, [9001, 13], { kernel }), `${kernel} 9001 coordinates`);
  }
});

/** Runs `code` in a fresh Deno process with `env`; returns its stdout (fails on a non-zero exit). */
async function runDeno(code: string, env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    env: { ...env, RUST_BACKTRACE: "0" },
    cwd: new URL("../../../", import.meta.url).pathname,
  }).output();
  assert.ok(out.success, `child process failed:\n${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

const CHILD = `
import { initBackend } from "./lib/backend.ts";
import { nativeKernel, nativeKernelError } from "./models/hrnn/native.ts";
import { compareTapedGradients } from "./tests/models/hrnn/taped_compare.ts";
await initBackend("wasm");
const err = nativeKernelError();
if (err) { console.log(JSON.stringify({ error: err.message })); Deno.exit(0); }
const r = compareTapedGradients({ numGradientScales: 3, useExtremeIndicator: true, levelSizes: [7, 5, 3] },
  [5, 33], { kernel: "native" });
const p = compareTapedGradients({}, [5, 33], { kernel: "native" });
console.log(JSON.stringify({ march: nativeKernel().march, perInput: [...r.perInput, ...p.perInput],
  worstValue: Math.max(r.worstValue, p.worstValue) }));
`;

Deno.test({
  name: `taped fused backward on each native library (${NATIVE_ENV}=<march>, child processes)`,
  ignore: ENGINES.length < 2,
  fn: async (t) => {
    for (const { march } of NATIVE_LIBS) {
      await t.step(march, async () => {
        const r = JSON.parse(await runDeno(CHILD, { [NATIVE_ENV]: march }));
        if (r.error && /does not run/.test(r.error)) return; // not this CPU's
        assert.equal(r.error, undefined);
        assert.equal(r.march, march);
        assertClose(r as TapedComparison, march);
      });
    }
  },
});

Deno.test("taped fused path: no tensors leak over repeated taped updates and backward passes", () => {
  const learned = hrnnLearnedOptimizer({ zeroInitLrWeights: false });
  const mp = learned.init(1);
  const w = mp["readout/update_w"];
  const params = [tf.tensor1d([0.5, -1, 2]), tf.ones([4, 5])];
  const run = () => {
    const g = tf.grad((x: tf.Tensor) => {
      const opt = makeHrnn({ ...mp, "readout/update_w": x }, learned.config as HrnnConfig, {
        seed: 1,
        kernel: "fused",
      });
      let s = opt.init(params);
      let total = tf.scalar(0);
      for (let t = 0; t < 3; t++) {
        const r = opt.update(params.map((p) => tf.mul(p, 0.1 * (t + 1))), s, params);
        total = tf.add(total, tf.addN(r.updates.map((u) => tf.sum(tf.square(u)))));
        s = r.state;
      }
      return total as tf.Scalar;
    })(w);
    g.dispose();
  };
  run();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) run();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([...params, ...Object.values(mp)]);
});

const T_UNROLL = 10;
const est = makeEstimator({ kind: "tbptt" });

/** Meta-gradient of a T-step unroll (reset state inside) on the tiny quadratic, with a learned optimizer. */
function metaGrad(
  kernel: "auto" | "ops",
  mp: Record<string, tf.Tensor>,
  problem: Problem,
  cfg: UnrollConfig,
  steps: number,
) {
  const learned = hrnnLearnedOptimizer({ initLrRange: [0.02, 0.1] }, { kernel });
  const start = startTrajectory(problem, new Rng(3));
  const carry = est.initCarry(start, [null], mp);
  tf.dispose(start.params);
  const r = est.estimate(learned, mp, problem, carry, steps, 11, cfg);
  disposeCarry(r.carry);
  disposeCarry(carry);
  return r;
}

Deno.test("meta-gradient through unroll: fused path equals the ops path, second derivatives on and off", () => {
  if (nativeKernelError() !== null) console.error("native kernel unavailable: the wasm engine is tested");
  const before = tf.memory().numTensors;
  const problem = tinyQuadratic(tinySpec(5, { noise: 0.1, minibatch: true }));
  const mp = hrnnLearnedOptimizer({ initLrRange: [0.02, 0.1] }).init(0);
  for (const secondDerivatives of [true, false]) {
    const cfg = { ...PAPER_UNROLL_CONFIG, secondDerivatives };
    const calls = tapedKernelCalls();
    const a = metaGrad("ops", mp, problem, cfg, 6);
    assert.equal(tapedKernelCalls(), calls, "kernel 'ops' runs no fused update");
    const b = metaGrad("auto", mp, problem, cfg, 6);
    assert.equal(tapedKernelCalls(), calls + 6, "kernel 'auto' runs every taped update fused");
    assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * Math.abs(a.loss) + 1e-6, `losses ${a.loss} vs ${b.loss}`);
    for (const k of Object.keys(a.grads)) {
      const x = a.grads[k].dataSync(), y = b.grads[k].dataSync();
      const scale = Math.max(...Array.from(x, Math.abs)) + 1e-30;
      let diff = 0;
      for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(x[i] - y[i]));
      assert.ok(
        diff / scale < 2e-4,
        `secondDerivatives ${secondDerivatives}: ${k} differs by ${diff / scale}`,
      );
    }
    tf.dispose([...Object.values(a.grads), ...Object.values(b.grads)]);
  }
  tf.dispose(Object.values(mp));
  problem.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});

Deno.test("meta-gradient of a 10-step unroll on the fused path matches central finite differences", () => {
  const problem = tinyQuadratic(tinySpec(7, { noise: 0.1, minibatch: true }));
  const mp = hrnnLearnedOptimizer({ initLrRange: [0.02, 0.1] }).init(2);
  const on = metaGrad("auto", mp, problem, PAPER_UNROLL_CONFIG, T_UNROLL);
  assert.equal(on.stop, "length");
  const lossOf = (m: Record<string, tf.Tensor>) => {
    const r = metaGrad("auto", m, problem, PAPER_UNROLL_CONFIG, T_UNROLL);
    tf.dispose(Object.values(r.grads));
    return r.loss;
  };
  // Random unit directions in the 8k meta-parameters; h = 0.1 balances float32 rounding of the meta-loss
  // against its curvature. Tolerance: 1e-2 relative.
  const rng = new Rng(4);
  const h = 0.1;
  for (let i = 0; i < 3; i++) {
    const d = randomDirection(mp, rng);
    const p = shifted(mp, d, h), m = shifted(mp, d, -h);
    const fd = (lossOf(p) - lossOf(m)) / (2 * h);
    const ad = dot(on.grads, d);
    const rel = Math.abs(fd - ad) / Math.max(Math.abs(fd), Math.abs(ad));
    assert.ok(rel < 1e-2, `direction ${i}: autodiff ${ad} vs finite differences ${fd} (relative ${rel})`);
    tf.dispose([...Object.values(d), ...Object.values(p), ...Object.values(m)]);
  }
  assert.ok(flat(on.grads).some((v) => v !== 0));
  tf.dispose([...Object.values(on.grads), ...Object.values(mp)]);
  problem.dispose();
});

Deno.test("kernel 'fused' while recording a gradient runs the differentiable kernel; attention stays on ops", () => {
  const learned = hrnnLearnedOptimizer({ useAttention: true });
  const mp = learned.init(0);
  assert.throws(
    () => makeHrnn(mp, learned.config as HrnnConfig, { kernel: "fused" }),
    /cannot run this config: attention \(useAttention\) is only implemented on the ops path/,
  );
  const auto = makeHrnn(mp, learned.config as HrnnConfig, { kernel: "auto" });
  const params = [tf.ones([3])];
  const g = tf.grad((x: tf.Tensor) => {
    const s = auto.init(params);
    const r = auto.update([tf.mul(x, tf.ones([3]))], s, params);
    const out = tf.sum(r.updates[0]);
    disposeState(s);
    return out;
  })(tf.scalar(0.5));
  assert.ok(Number.isFinite(g.dataSync()[0]));
  tf.dispose([g, ...params, ...Object.values(mp)]);
  assert.throws(() => hrnnLearnedOptimizer({}, { kernel: "fast" as "ops" }), /"auto" or "ops"/);
});
