import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { makeHrnnConfig } from "../../../models/hrnn/config.ts";
import {
  countMetaParams,
  createMetaParams,
  disposeMetaParams,
  metaParamList,
  metaParamsFromList,
  metaParamShapes,
  validateMetaParams,
} from "../../../models/hrnn/meta_params.ts";
import { vals } from "./helpers.ts";

await initBackend();

Deno.test("paper config has 8,349 meta-parameters, as the §4.3 arithmetic", () => {
  // GRUs: L0 460 + 230, L1 1720 + 860, L2 1640 + 820; bias affines 630 + 630 + 1260;
  // readouts, scalars and shortcut 49; init vectors 50.
  const table = (460 + 230) + (1720 + 860) + (1640 + 820) + (630 + 630 + 1260) + 49 + 50;
  assert.equal(table, 8349);
  assert.equal(countMetaParams(makeHrnnConfig()), table);
});

Deno.test("meta-parameter shapes of the paper config (§4.3)", () => {
  const s = metaParamShapes(makeHrnnConfig());
  const expected: Record<string, number[]> = {
    "init/level0": [1, 10],
    "init/level1": [1, 20],
    "init/level2": [1, 20],
    "gru0/gates_w": [22, 20],
    "gru0/gates_b": [20],
    "gru0/cand_w": [22, 10],
    "gru0/cand_b": [10],
    "gru1/gates_w": [42, 40],
    "gru1/gates_b": [40],
    "gru1/cand_w": [42, 20],
    "gru1/cand_b": [20],
    "gru2/gates_w": [40, 40],
    "gru2/gates_b": [40],
    "gru2/cand_w": [40, 20],
    "gru2/cand_b": [20],
    "bias0/from_level1_w": [20, 30],
    "bias0/from_level1_b": [30],
    "bias0/from_level2_w": [20, 30],
    "bias0/from_level2_b": [30],
    "bias1/from_level2_w": [20, 60],
    "bias1/from_level2_b": [60],
    "readout/update_w": [10, 1],
    "readout/scl_decay_w": [10, 1],
    "readout/scl_decay_b": [1],
    "readout/inp_decay_w": [10, 1],
    "readout/inp_decay_b": [1],
    "readout/lr_w": [10, 1],
    "readout/lr_b": [1],
    "lr_momentum_logit": [],
    "step_offset": [],
    "shortcut/update": [4, 1],
  };
  assert.deepEqual(s, expected);
});

Deno.test("initial values follow §4.3 and are fixed by the seed", () => {
  const c = makeHrnnConfig({ useAttention: true });
  const mp = createMetaParams(c, 7);
  const again = createMetaParams(c, 7);
  const other = createMetaParams(c, 8);
  try {
    for (const k of Object.keys(mp)) assert.deepEqual(vals(mp[k]), vals(again[k]), k);
    assert.notDeepEqual(vals(mp["gru0/gates_w"]), vals(other["gru0/gates_w"]));
    const all = (k: string, v: number) => vals(mp[k]).every((x) => Math.abs(x - v) < 1e-6);
    assert.ok(all("gru0/gates_b", 2.2) && all("gru1/gates_b", 2.2) && all("gru2/gates_b", 2.2));
    assert.ok(all("gru0/cand_b", 0) && all("bias0/from_level1_b", 0));
    assert.ok(all("readout/scl_decay_b", 3.2) && all("readout/inp_decay_b", 2.2));
    assert.ok(all("readout/lr_w", 0) && all("readout/lr_b", 0));
    assert.ok(all("lr_momentum_logit", 3.2) && all("step_offset", -1));
    assert.deepEqual(vals(mp["readout/attention_w"]), vals(mp["readout/update_w"])); // copy of w_u
    assert.notDeepEqual(vals(mp["shortcut/attention"]), vals(mp["shortcut/update"])); // drawn independently
    const init0 = vals(mp["init/level1"]);
    assert.ok(init0.every((x) => x >= -1 && x < 1));
    // Std of the level-1 gate matrix ≈ 0.5 / sqrt(42).
    const w = vals(mp["gru1/gates_w"]);
    const std = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
    assert.ok(Math.abs(std - 0.5 / Math.sqrt(42)) < 0.01, `std ${std}`);
    const sc = vals(mp["shortcut/update"]);
    assert.ok(sc.every((x) => Math.abs(x - 0.25) < 0.25), `shortcut ${sc}`);
  } finally {
    [mp, again, other].forEach(disposeMetaParams);
  }
});

Deno.test("fallbacks: switched-off features have no meta-parameters", () => {
  const names = (o: Parameters<typeof makeHrnnConfig>[0]) => Object.keys(metaParamShapes(makeHrnnConfig(o)));
  assert.ok(!names({ learnableDecay: false }).some((n) => n.startsWith("readout/scl_decay")));
  assert.ok(!names({ learnableDecay: false }).some((n) => n.startsWith("readout/inp_decay")));
  assert.ok(!names({ learnableInpDecay: false }).some((n) => n.startsWith("readout/inp_decay")));
  assert.ok(!names({ numGradientScales: 1 }).some((n) => n.startsWith("readout/inp_decay")));
  assert.ok(!names({ learnableRnnInit: false }).some((n) => n.startsWith("init/")));
  const noDos = names({ dynamicOutputScale: false, useRelativeLr: false });
  assert.ok(
    !noDos.includes("readout/lr_w") && !noDos.includes("step_offset") && !noDos.includes("lr_momentum_logit"),
  );
  assert.ok(!names({ useGradientShortcut: false }).includes("shortcut/update"));
  const one = metaParamShapes(makeHrnnConfig({ levelSizes: [10] }));
  assert.ok(!Object.keys(one).some((n) => n.startsWith("gru1") || n.startsWith("bias")));
  const two = metaParamShapes(makeHrnnConfig({ levelSizes: [10, 20] }));
  assert.deepEqual(two["bias0/from_level1_w"], [20, 30]);
  assert.ok(!Object.keys(two).some((n) => n.startsWith("gru2") || n.includes("from_level2")));
  // A zero-init LR readout can be switched to a random one.
  const mp = createMetaParams(makeHrnnConfig({ zeroInitLrWeights: false }), 1);
  assert.ok(vals(mp["readout/lr_w"]).some((x) => x !== 0));
  disposeMetaParams(mp);
});

Deno.test("validateMetaParams and the list round trip", () => {
  const c = makeHrnnConfig({ levelSizes: [10, 20] });
  const mp = createMetaParams(c, 3);
  try {
    validateMetaParams(mp, c);
    const list = metaParamList(mp, c);
    assert.deepEqual(Object.keys(metaParamsFromList(list, c)), Object.keys(mp));
    assert.throws(() => metaParamsFromList(list.slice(1), c), /expects/);
    const { ["readout/update_w"]: _gone, ...missing } = mp;
    assert.throws(() => validateMetaParams(missing, c), /missing tensor\(s\): readout\/update_w/);
    const wrong = { ...mp, "gru0/cand_b": tf.zeros([3]) };
    assert.throws(() => validateMetaParams(wrong, c), /gru0\/cand_b is \[3\], expected \[10\]/);
    wrong["gru0/cand_b"].dispose();
    assert.throws(() => validateMetaParams(mp, makeHrnnConfig()), /missing tensor.*gru2/);
  } finally {
    disposeMetaParams(mp);
  }
});
