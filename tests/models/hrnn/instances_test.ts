import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { type HrnnConfig, makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { type HrnnState, makeHrnn } from "../../../models/hrnn/hrnn.ts";
import { createMetaParams } from "../../../models/hrnn/meta_params.ts";
import { tapedKernelCalls } from "../../../models/hrnn/taped_kernel.ts";
import { nativeKernelError } from "../../../models/hrnn/native.ts";
import { treeTensors } from "../../../lib/state_tree.ts";

await initBackend("wasm");

const ENGINES: ("fused" | "native")[] = nativeKernelError() === null ? ["fused", "native"] : ["fused"];
const CONFIGS: Partial<HrnnConfig>[] = [
  {},
  { useProblemLrMean: false, globalInput: "mean" },
  { globalInput: "mean", numGradientScales: 2 },
  { numGradientScales: 1, levelSizes: [6] },
  { levelSizes: [7, 5], useExtremeIndicator: true },
];

/**
 * Σ over instances of a fixed random linear functional of every update and new state tensor, computed either
 * by one `updateInstances` call or by one `update` per instance, with its gradient w.r.t. the meta-parameters
 * and every instance's gradients; two steps, so the second consumes the first's (batched) state.
 */
function run(overrides: Partial<HrnnConfig>, kernel: "fused" | "native", batched: boolean) {
  const config = makeHrnnConfig({ ...overrides, initLrRange: [1e-3, 1e-1] });
  const mp = createMetaParams(config, 5);
  const names = Object.keys(mp).sort();
  const shapes = [[3], [17, 2], [5]];
  const rng = new Rng(9);
  const params = [0, 1, 2].map(() =>
    shapes.map((s) => tf.tensor(rng.normalArray(s.reduce((a, b) => a * b, 1)), s))
  );
  const grads = [0, 1].map(() =>
    params.map((ps) => ps.map((p) => tf.tensor(rng.normalArray(p.size), p.shape)))
  );
  const wRng = new Rng(11);
  const calls0 = tapedKernelCalls();
  const xs = [...names.map((n) => mp[n]), ...grads.flat(2)];
  const { value, grads: g } = tf.valueAndGrads((...ins: tf.Tensor[]) => {
    const m: Record<string, tf.Tensor> = {};
    names.forEach((n, i) => (m[n] = ins[i]));
    const gs = ins.slice(names.length);
    const gradOf = (step: number, b: number) => gs.slice((step * 3 + b) * 3, (step * 3 + b + 1) * 3);
    const opts = [0, 1, 2].map((b) => makeHrnn(m, config, { kernel, seed: b }));
    let states: HrnnState[] = params.map((ps, b) => opts[b].init(ps));
    let ps = params;
    const terms: tf.Tensor[] = [];
    for (let step = 0; step < 2; step++) {
      const gList = [0, 1, 2].map((b) => gradOf(step, b));
      const res = batched
        ? opts[0].updateInstances!(gList, states, ps)
        : states.map((s, b) => opts[b].update(gList[b], s, ps[b]));
      for (const r of res) {
        for (const t of [...r.updates, ...treeTensors(r.state)]) {
          terms.push(tf.sum(tf.mul(t, tf.tensor(wRng.normalArray(t.size), t.shape))));
        }
      }
      ps = ps.map((p, b) => p.map((x, i) => tf.add(x, res[b].updates[i])));
      states = res.map((r) => r.state);
    }
    return tf.addN(terms) as tf.Scalar;
  })(xs);
  const calls = tapedKernelCalls() - calls0;
  const out = { value: value.dataSync()[0], grads: g.map((t) => t.dataSync() as Float32Array), calls };
  tf.dispose([value, ...g, ...params.flat(), ...grads.flat(2), ...Object.values(mp)]);
  return out;
}

for (const overrides of CONFIGS) {
  Deno.test(`HRNN updateInstances (3 instances, one kernel call per step) equals one update per instance: ${JSON.stringify(overrides)}`, () => {
    for (const kernel of ENGINES) {
      const before = tf.memory().numTensors;
      const one = run(overrides, kernel, true);
      const each = run(overrides, kernel, false);
      assert.equal(one.calls, 2, `${kernel}: one taped kernel call per step for all instances`);
      assert.equal(each.calls, 6);
      assert.ok(
        Math.abs(one.value - each.value) <= 1e-5 * (1 + Math.abs(each.value)),
        `${one.value} vs ${each.value}`,
      );
      one.grads.forEach((g, i) => {
        const scale = each.grads[i].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let j = 0; j < g.length; j++) {
          assert.ok(
            Math.abs(g[j] - each.grads[i][j]) <= 1e-4 * scale + 1e-7,
            `${kernel} input ${i}[${j}]: ${g[j]} vs ${each.grads[i][j]}`,
          );
        }
      });
      assert.equal(tf.memory().numTensors, before, "no tensor leak");
    }
  });
}
