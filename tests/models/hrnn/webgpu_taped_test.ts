// Gradients through the WGSL pass (its VJP shader) equal the ops path's: a random linear functional of the
// updates and final state of 2 taped updates, differentiated w.r.t. every meta-parameter, each step's
// gradients and every tensor of the starting state. The ops path runs on wasm, the WGSL pass on webgpu,
// from the same seeded arrays (data never moves between the backends).
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { type HrnnConfig, makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { makeHrnn } from "../../../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams } from "../../../models/hrnn/meta_params.ts";
import { WEBGPU_VJP_KERNEL_NAME } from "../../../models/hrnn/webgpu_vjp.ts";
import { stateFromList, stateList } from "./taped_compare.ts";
import { webgpuIgnore } from "../../helpers/webgpu.ts";

const ignore = webgpuIgnore();
if (!ignore) {
  await initBackend("wasm");
  await initBackend("webgpu");
}

type Side = "wasm" | "webgpu";

/** Gradients (as arrays) and names of every input, on one backend; `vjpCalls` counts WGSL VJP dispatches. */
async function gradientsOn(
  backend: Side,
  config: HrnnConfig,
  sizes: number[],
  gradScale: number,
): Promise<{ grads: Float32Array[]; names: string[]; vjpCalls: number }> {
  await tf.setBackend(backend);
  const kernel = backend === "wasm" ? "ops" : "webgpu";
  const rng = new Rng(5);
  const params = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
  const gradArrays = Array.from(
    { length: 3 },
    () => sizes.map((n) => rng.normalArray(n).map((v) => v * gradScale)),
  );
  const mp = createMetaParams(config, 3);
  // Warm-up (untaped) to a state with non-zero decays and mean squares.
  const warm = makeHrnn(mp, config, { seed: 3, kernel });
  const s0 = warm.init(params);
  const g0 = gradArrays[0].map((a) => tf.tensor1d(a));
  const w = warm.update(g0, s0, params);
  const s1 = w.state;
  tf.dispose([g0, w.updates, stateList(s0)]);
  const metaNames = Object.keys(mp).filter((k) => !k.startsWith("init/")).sort();
  const steps = gradArrays.slice(1).map((gs) => gs.map((a) => tf.tensor1d(a)));
  const sList = stateList(s1);
  const xs = [...metaNames.map((k) => mp[k]), ...steps.flat(), ...sList];
  const names = [
    ...metaNames.map((k) => `meta ${k}`),
    ...steps.flatMap((gs, t) => gs.map((_, j) => `grad step ${t} tensor ${j}`)),
    ...sList.map((_, i) => `state[${i}]`),
  ];
  const wRng = new Rng(9);
  const weights: tf.Tensor[] = [];
  const f = (...x: tf.Tensor[]) => {
    const meta: Record<string, tf.Tensor> = { ...mp };
    metaNames.forEach((k, i) => (meta[k] = x[i]));
    const opt = makeHrnn(meta, config, { seed: 3, kernel });
    let q = metaNames.length;
    const gs = steps.map((g) => g.map(() => x[q++]));
    let state = stateFromList(x.slice(q), s1);
    const outs: tf.Tensor[] = [];
    for (const g of gs) {
      const r = opt.update(g, state, params);
      outs.push(...r.updates);
      state = r.state;
    }
    outs.push(...stateList(state));
    let wi = 0;
    const terms = outs.map((o) => {
      if (weights.length <= wi) weights.push(tf.keep(tf.tensor(wRng.normalArray(o.size), o.shape)));
      return tf.sum(tf.mul(o, weights[wi++]));
    });
    for (const xi of x) terms.push(tf.mul(tf.sum(xi), 0));
    return tf.addN(terms) as tf.Scalar;
  };
  let vjpCalls = 0;
  const eng = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
  const original = eng.runKernel.bind(eng);
  eng.runKernel = (name: string, ...rest: unknown[]) => {
    if (name === WEBGPU_VJP_KERNEL_NAME) vjpCalls++;
    return original(name, ...rest);
  };
  let g: tf.Tensor[];
  try {
    g = tf.grads(f)(xs);
  } finally {
    eng.runKernel = original;
  }
  const grads: Float32Array[] = [];
  for (const t of g) grads.push(await t.data() as Float32Array);
  tf.dispose([g, weights, params, steps, stateList(s1)]);
  disposeMetaParams(mp);
  return { grads, names, vjpCalls };
}

/** Worst per-input max|a − b| / max|a| of the gradients, and which input. */
async function compare(overrides: Partial<HrnnConfig>, sizes: number[], gradScale = 0.1) {
  const config = makeHrnnConfig({ zeroInitLrWeights: false, ...overrides });
  const a = await gradientsOn("wasm", config, sizes, gradScale);
  const b = await gradientsOn("webgpu", config, sizes, gradScale);
  assert.equal(a.vjpCalls, 0);
  assert.equal(b.vjpCalls, 2 * sizes.length, "one VJP dispatch per tensor and taped step");
  const per = a.grads.map((x, i) => {
    const y = b.grads[i];
    let scale = 0, diff = 0;
    for (let p = 0; p < x.length; p++) {
      scale = Math.max(scale, Math.abs(x[p]));
      diff = Math.max(diff, Math.abs(x[p] - y[p]));
    }
    const rel = diff / (scale + 1e-30);
    return { what: a.names[i], rel: Number.isFinite(rel) ? rel : Infinity, scale };
  });
  const worst = per.reduce((m, p) => (p.rel > m.rel ? p : m));
  console.log(
    `  ${JSON.stringify(overrides)}: worst gradient difference ${worst.rel.toExponential(2)} (${worst.what})`,
  );
  return per;
}

function assertClose(per: { what: string; rel: number; scale: number }[], what: string) {
  for (const p of per) {
    // The ops path's float32 sums cancel for the LR-momentum logit (as in fused_taped_test.ts).
    const tol = p.what.includes("lr_momentum_logit") ? 5e-4 : 2e-4;
    assert.ok(p.rel <= tol, `${what}: ${p.what} differs by ${p.rel} (max |grad| ${p.scale})`);
  }
}

const opts = { ignore, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "webgpu VJP shader: gradients equal the ops path's (paper config, several tensors)",
  ...opts,
  fn: async () => {
    assertClose(await compare({}, [3, 70]), "paper");
  },
});

Deno.test({
  name: "webgpu VJP shader: gradients equal the ops path's with tiny gradients and on other configurations",
  ...opts,
  fn: async () => {
    assertClose(await compare({}, [9], 0.1), "one tensor");
    assertClose(await compare({}, [9], 1e-6), "tiny gradients");
    assertClose(await compare({}, [9, 4], 0), "zero gradients");
    const configs: Partial<HrnnConfig>[] = [
      { numGradientScales: 1, levelSizes: [6] },
      { numGradientScales: 3, useExtremeIndicator: true, useLrShortcut: true, levelSizes: [7, 5] },
      { useMultipleScaleDecays: true, useProblemLrMean: false, globalInput: "mean" },
      { dynamicOutputScale: false, useRelativeLr: false, useLogMeansSquared: false, levelSizes: [4, 3, 2] },
    ];
    for (const c of configs) assertClose(await compare(c, [5, 20]), JSON.stringify(c));
  },
});
