import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { type HrnnConfig, makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { type HrnnState, makeHrnn } from "../../../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams } from "../../../models/hrnn/meta_params.ts";
import { WEBGPU_KERNEL_NAME } from "../../../models/hrnn/webgpu.ts";
import { disposeState } from "./helpers.ts";
import { webgpuIgnore } from "../../helpers/webgpu.ts";

const ignore = webgpuIgnore();
// The ops path runs on wasm (the reference result, and it spares the software adapter compiling every op's
// shader); the WGSL pass on webgpu, from the same seeded arrays. Data never moves between the backends.
if (!ignore) {
  await initBackend("wasm");
  await initBackend("webgpu");
}
const on = async <T>(backend: "wasm" | "webgpu", fn: () => T): Promise<T> => {
  await tf.setBackend(backend);
  return fn();
};

/** Every tensor of a state, flattened in a fixed order. */
function stateTensors(s: HrnnState): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const t of s.tensors) {
    out.push(t.parameter, t.scl_decay, t.inp_decay, ...t.grad_accum, ...t.ms);
    if (t.layer) out.push(t.layer);
    if (t.log_learning_rate) out.push(t.log_learning_rate);
  }
  if (s.global) out.push(s.global);
  return out;
}

/** Largest |a − b| / (|a| + floor) over two tensor lists (asynchronous reads: WebGPU under Deno). */
async function maxRelDiff(
  a: tf.Tensor[],
  b: tf.Tensor[],
  floor: (x: Float32Array) => number,
): Promise<number> {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(a[i].shape, b[i].shape);
    const x = await a[i].data() as Float32Array, y = await b[i].data() as Float32Array;
    const fl = floor(x);
    for (let q = 0; q < x.length; q++) {
      const d = Math.abs(x[q] - y[q]) / (Math.abs(x[q]) + fl);
      worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
    }
  }
  return worst;
}

/** Counts the WGSL kernel's dispatches while `fn` runs. */
function countKernel<T>(fn: () => T): { out: T; calls: number } {
  let calls = 0;
  const original = tf.engine().runKernel.bind(tf.engine());
  const eng = tf.engine() as unknown as { runKernel: typeof original };
  eng.runKernel = ((name: string, ...rest: unknown[]) => {
    if (name === WEBGPU_KERNEL_NAME) calls++;
    return (original as (...a: unknown[]) => unknown)(name, ...rest);
  }) as typeof original;
  try {
    return { out: fn(), calls };
  } finally {
    eng.runKernel = original;
  }
}

/**
 * The ops path (on wasm) and the WGSL pass (on webgpu) side by side for `steps` updates from the same
 * parameters and gradients (random, of scale `gradScale`, a share `zeroShare` of them exactly 0; all zero at
 * step `zeroAt`); each side moves its
 * parameters by its own updates. Returns the worst relative differences of the updates (relative to each
 * tensor's largest entry) and of the states, and the number of WGSL dispatches.
 */
async function compare(
  config: HrnnConfig,
  sizes: number[],
  steps: number,
  gradScale: number,
  zeroAt = -1,
  zeroShare = 0,
) {
  const rng = new Rng(4);
  const init = sizes.map((n) => rng.normalArray(n));
  const entry = (v: number) => (zeroShare > 0 && rng.uniform(0, 1) < zeroShare ? 0 : v * gradScale);
  const gradArrays = Array.from(
    { length: steps },
    (_, t) => sizes.map((n) => t === zeroAt ? new Float32Array(n) : rng.normalArray(n).map(entry)),
  );
  const side = (backend: "wasm" | "webgpu") =>
    on(backend, () => {
      const mp = createMetaParams(config, 3);
      const opt = makeHrnn(mp, config, { seed: 3, kernel: backend === "wasm" ? "ops" : "webgpu" });
      const params: tf.Tensor[] = init.map((a) => tf.tensor1d(a));
      return { mp, opt, params, state: opt.init(params) };
    });
  const a = await side("wasm"), b = await side("webgpu");
  let worstUpdate = 0, worstState = 0, calls = 0;
  for (let t = 0; t < steps; t++) {
    const step = async (s: typeof a, backend: "wasm" | "webgpu") =>
      await on(backend, () => {
        const grads = gradArrays[t].map((g) => tf.tensor1d(g));
        const counted = countKernel(() => s.opt.update(grads, s.state, s.params));
        calls += counted.calls;
        tf.dispose(grads);
        return counted.out;
      });
    const ra = await step(a, "wasm"), rb = await step(b, "webgpu");
    for (let j = 0; j < sizes.length; j++) {
      const d = await maxRelDiff(
        [ra.updates[j]],
        [rb.updates[j]],
        (x) => Math.max(...Array.from(x, Math.abs)) + 1e-30,
      );
      worstUpdate = Math.max(worstUpdate, d);
    }
    worstState = Math.max(
      worstState,
      await maxRelDiff(stateTensors(ra.state), stateTensors(rb.state), () => 1e-3),
    );
    for (const [s, r, backend] of [[a, ra, "wasm"], [b, rb, "webgpu"]] as const) {
      await on(backend, () => {
        const next = s.params.map((p, j) => tf.add(p, r.updates[j]));
        tf.dispose([s.params, r.updates]);
        disposeState(s.state);
        s.params = next;
        s.state = r.state;
      });
    }
  }
  for (const [s, backend] of [[a, "wasm"], [b, "webgpu"]] as const) {
    await on(backend, () => {
      tf.dispose(s.params);
      disposeState(s.state);
      disposeMetaParams(s.mp);
    });
  }
  console.log(
    `  worst update diff ${worstUpdate.toExponential(2)}, state diff ${worstState.toExponential(2)}`,
  );
  return { worstUpdate, worstState, calls };
}

const opts = { ignore, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "webgpu WGSL pass equals the ops path: paper config, partial workgroups, one dispatch per tensor",
  ...opts,
  fn: async () => {
    const config = makeHrnnConfig({ zeroInitLrWeights: false });
    const sizes = [1, 5, 64, 130, 1000];
    const r = await compare(config, sizes, 3, 0.1);
    assert.equal(r.calls, 3 * sizes.length, "one WGSL dispatch per tensor and step");
    assert.ok(r.worstUpdate < 1e-4, `updates differ by ${r.worstUpdate}`);
    assert.ok(r.worstState < 1e-3, `states differ by ${r.worstState}`);
  },
});

Deno.test({
  name: "webgpu WGSL pass equals the ops path with tiny and zero gradients",
  ...opts,
  fn: async () => {
    const config = makeHrnnConfig({ zeroInitLrWeights: false });
    const r = await compare(config, [7, 300], 4, 1e-6, 2);
    assert.ok(r.worstUpdate < 1e-4, `updates differ by ${r.worstUpdate}`);
    assert.ok(r.worstState < 1e-3, `states differ by ${r.worstState}`);
  },
});

Deno.test({
  name: "webgpu WGSL pass equals the ops path on other configurations",
  ...opts,
  fn: async () => {
    const configs: Partial<HrnnConfig>[] = [
      { numGradientScales: 1, levelSizes: [6] },
      { numGradientScales: 3, useExtremeIndicator: true, useLrShortcut: true, levelSizes: [7, 5] },
      { useMultipleScaleDecays: true, useProblemLrMean: false, globalInput: "mean" },
      { dynamicOutputScale: false, useRelativeLr: false, useLogMeansSquared: false, levelSizes: [4, 3, 2] },
    ];
    for (const overrides of configs) {
      const config = makeHrnnConfig({ zeroInitLrWeights: false, ...overrides });
      const r = await compare(config, [3, 70], 3, 0.1);
      const what = JSON.stringify(overrides);
      assert.ok(r.worstUpdate < 1e-4, `${what}: updates differ by ${r.worstUpdate}`);
      assert.ok(r.worstState < 1e-3, `${what}: states differ by ${r.worstState}`);
    }
  },
});

Deno.test({
  name: "webgpu with lazyZeroGradients equals the ops path on sparse gradients",
  ...opts,
  fn: async () => {
    const config = makeHrnnConfig({ zeroInitLrWeights: false, lazyZeroGradients: true });
    const r = await compare(config, [3, 17, 70], 3, 0.1, -1, 0.5);
    assert.ok(r.worstUpdate < 1e-4, `updates differ by ${r.worstUpdate}`);
    assert.ok(r.worstState < 1e-3, `states differ by ${r.worstState}`);
  },
});
