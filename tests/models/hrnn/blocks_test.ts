/**
 * Updating small tensors together in blocks (models/hrnn/segments.ts) must equal updating each tensor on its
 * own: values, states and meta-gradients, to float32 rounding.
 */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { createMetaParams, metaParamList } from "../../../models/hrnn/meta_params.ts";
import { makeHrnn } from "../../../models/hrnn/hrnn.ts";

const SHAPES = [[7, 3], [3], [1], [5, 4], [2]];

/** Loss after 3 HRNN steps on Σ ||θ_j − j||², and the final parameters. */
function threeSteps(maxBlockCoords: number, mp: Record<string, tf.Tensor>) {
  const cfg = makeHrnnConfig();
  const opt = makeHrnn(mp, cfg, { seed: 9, maxBlockCoords });
  const rng = new Rng(4);
  let params = SHAPES.map((s) => tf.tensor(rng.normalArray(s.reduce((a, b) => a * b, 1)), s));
  const target = SHAPES.map((s, j) => tf.fill(s, j * 0.5));
  const loss = (ps: tf.Tensor[]) =>
    tf.addN(ps.map((p, j) => tf.sum(tf.square(tf.sub(p, target[j]))))) as tf.Scalar;
  let state = opt.init(params);
  for (let t = 0; t < 3; t++) {
    const grads = tf.grads((...ps: tf.Tensor[]) => loss(ps))(params);
    const r = opt.update(grads, state, params);
    state = r.state;
    params = params.map((p, j) => tf.add(p, r.updates[j]));
  }
  return { loss: loss(params), params };
}

Deno.test("hrnn blocks: grouped update equals per-tensor update (values and meta-gradients)", async () => {
  await initBackend();
  const cfg = makeHrnnConfig({ initLrRange: [0.01, 0.1] });
  const mp = createMetaParams(cfg, 3);
  const list = metaParamList(mp, cfg);
  const names = Object.keys(mp);
  const run = (maxBlock: number) =>
    tf.tidy(() => {
      const f = (...ts: tf.Tensor[]) => {
        const m = Object.fromEntries(names.map((n, i) => [n, ts[i]]));
        return threeSteps(maxBlock, m).loss;
      };
      const { value, grads } = tf.valueAndGrads(f)(list);
      return { value: value.dataSync()[0], grads: grads.map((g) => Array.from(g.dataSync())) };
    });
  const grouped = run(8192);
  const single = run(0);
  assert.ok(Number.isFinite(grouped.value));
  assert.ok(Math.abs(grouped.value - single.value) <= 1e-4 * Math.abs(single.value) + 1e-6);
  let maxAbs = 0, maxDiff = 0;
  grouped.grads.forEach((g, i) =>
    g.forEach((v, k) => {
      maxAbs = Math.max(maxAbs, Math.abs(single.grads[i][k]));
      maxDiff = Math.max(maxDiff, Math.abs(v - single.grads[i][k]));
    })
  );
  assert.ok(maxAbs > 0, "meta-gradient is zero");
  assert.ok(maxDiff <= 1e-3 * maxAbs, `meta-gradients differ: ${maxDiff} vs scale ${maxAbs}`);
  tf.dispose(list);
});

Deno.test("hrnn blocks: a block above 8,192 coordinates of several tensors (maxBlockCoords raised) works", async () => {
  await initBackend();
  const cfg = makeHrnnConfig({ zeroInitLrWeights: false });
  const mp = createMetaParams(cfg, 1);
  const rng = new Rng(2);
  const sizes = [72, 9000];
  const params = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
  const grads = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
  const one = makeHrnn(mp, cfg, { seed: 1, kernel: "ops", maxBlockCoords: 1 << 20 });
  const each = makeHrnn(mp, cfg, { seed: 1, kernel: "ops", maxBlockCoords: 0 });
  const a = one.update(grads, one.init(params), params);
  const b = each.update(grads, each.init(params), params);
  a.updates.forEach((u, j) => {
    const x = u.dataSync(), y = b.updates[j].dataSync();
    const scale = Math.max(...Array.from(y, Math.abs));
    x.forEach((v, i) =>
      assert.ok(Math.abs(v - y[i]) <= 1e-4 * scale, `tensor ${j} entry ${i}: ${v} vs ${y[i]}`)
    );
  });
});
