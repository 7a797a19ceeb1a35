import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import {
  disposeMetaOptState,
  type MetaAdamState,
  metaOptInit,
  metaOptUpdate,
  PAPER_META_OPTIMIZER,
} from "../../../models/metatrain/meta_optimizer.ts";
import type { RmspropState } from "../../../models/optimizers/baselines.ts";

await initBackend();

function close(a: number, b: number, rel = 1e-5): void {
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b) + 1e-30, `${a} != ${b}`);
}

Deno.test("RMSProp meta-optimizer: paper settings (accumulator 1, ε inside the sqrt), two steps by hand", () => {
  const before = tf.memory().numTensors;
  const cfg = PAPER_META_OPTIMIZER;
  assert.deepEqual([cfg.kind, cfg.lr, cfg.decay, cfg.eps, cfg.initAccumulator], [
    "rmsprop",
    1e-6,
    0.9,
    1e-20,
    1,
  ]);
  const p0 = { w: tf.tensor1d([0, 0, 0]) };
  const s0 = metaOptInit(cfg, p0);
  assert.deepEqual(Array.from((s0 as RmspropState).ms[0].dataSync()), [1, 1, 1]);
  const g1 = { w: tf.tensor1d([2, -0.5, 0]) };
  const r1 = metaOptUpdate(cfg, p0, g1, s0);
  const ms1 = [0.9 + 0.1 * 4, 0.9 + 0.1 * 0.25, 0.9];
  const w1 = [-1e-6 * 2 / Math.sqrt(ms1[0]), 1e-6 * 0.5 / Math.sqrt(ms1[1]), 0];
  Array.from(r1.params.w.dataSync()).forEach((v, i) => close(v, w1[i]));
  Array.from((r1.state as RmspropState).ms[0].dataSync()).forEach((v, i) => close(v, ms1[i]));
  const g2 = { w: tf.tensor1d([1e-3, 1e-3, 1e-3]) };
  const r2 = metaOptUpdate(cfg, r1.params, g2, r1.state);
  const ms2 = ms1.map((m) => 0.9 * m + 0.1 * 1e-6);
  const w2 = w1.map((w, i) => w - 1e-6 * 1e-3 / Math.sqrt(ms2[i]));
  Array.from(r2.params.w.dataSync()).forEach((v, i) => close(v, w2[i], 1e-4));
  // Inputs are untouched (pure update).
  assert.deepEqual(Array.from(p0.w.dataSync()), [0, 0, 0]);
  for (const t of [p0, g1, g2, r1.params, r2.params]) tf.dispose(Object.values(t));
  for (const s of [s0, r1.state, r2.state]) disposeMetaOptState(s);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("RMSProp with momentum and Adam follow their update rules", () => {
  const p = { w: tf.tensor1d([1]) };
  const cfg = { ...PAPER_META_OPTIMIZER, lr: 0.1, momentum: 0.5 };
  const s0 = metaOptInit(cfg, p);
  const r1 = metaOptUpdate(cfg, p, { w: tf.tensor1d([1]) }, s0);
  const m1 = 0.1 / Math.sqrt(1);
  close(r1.params.w.dataSync()[0], 1 - m1);
  const r2 = metaOptUpdate(cfg, r1.params, { w: tf.tensor1d([1]) }, r1.state);
  const m2 = 0.5 * m1 + 0.1 / Math.sqrt(1);
  close(r2.params.w.dataSync()[0], 1 - m1 - m2);

  const adam = { ...PAPER_META_OPTIMIZER, kind: "adam" as const, lr: 0.01, eps: 1e-8 };
  const a0 = metaOptInit(adam, p);
  const a1 = metaOptUpdate(adam, p, { w: tf.tensor1d([3]) }, a0);
  close(a1.params.w.dataSync()[0], 1 - 0.01 * 3 / (3 + 1e-8)); // first Adam step = lr·sign(g)
  const a2 = metaOptUpdate(adam, a1.params, { w: tf.tensor1d([1]) }, a1.state);
  assert.equal((a2.state as MetaAdamState).step, 2);
  const m = 0.9 * 0.1 * 3 + 0.1 * 1, v = 0.999 * 0.001 * 9 + 0.001 * 1;
  const mh = m / (1 - 0.81), vh = v / (1 - 0.999 ** 2);
  close(a2.params.w.dataSync()[0], 1 - 0.01 - 0.01 * mh / (Math.sqrt(vh) + 1e-8), 1e-5);
  assert.throws(() => metaOptInit({ ...adam, kind: "sgd" as "adam" }, p), /unknown meta-optimizer 'sgd'/);
});

Deno.test("RMSProp meta-optimizer: the same bits as the formula it replaces (TF1 accumulator 1, w − mom)", () => {
  const cfg = { ...PAPER_META_OPTIMIZER, lr: 0.03, momentum: 0.5 };
  const p = { a: tf.tensor1d([0.5, -2, 3e-4]), b: tf.tensor2d([[1, 2], [-1e-3, 7]]) };
  let params = p, state = metaOptInit(cfg, p);
  let ms = { a: tf.onesLike(p.a), b: tf.onesLike(p.b) }, mom = { a: tf.zerosLike(p.a), b: tf.zerosLike(p.b) };
  let ref: Record<string, tf.Tensor> = p;
  for (let step = 0; step < 3; step++) {
    const g = { a: tf.tensor1d([0.1 * (step + 1), -3, 1e-5]), b: tf.tensor2d([[2, -1], [0.3, step]]) };
    const r = metaOptUpdate(cfg, params, g, state);
    const nextRef: Record<string, tf.Tensor> = {};
    for (const n of ["a", "b"] as const) {
      const m = tf.add(tf.mul(cfg.decay, ms[n]), tf.mul(1 - cfg.decay, tf.square(g[n])));
      const mo = tf.add(
        tf.mul(cfg.momentum, mom[n]),
        tf.div(tf.mul(cfg.lr, g[n]), tf.sqrt(tf.add(m, cfg.eps))),
      );
      nextRef[n] = tf.sub(ref[n], mo);
      ms = { ...ms, [n]: m };
      mom = { ...mom, [n]: mo };
      assert.deepEqual(Array.from(r.params[n].dataSync()), Array.from(nextRef[n].dataSync()));
    }
    params = r.params as typeof p;
    state = r.state;
    ref = nextRef;
  }
});
