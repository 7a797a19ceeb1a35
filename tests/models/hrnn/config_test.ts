import assert from "node:assert/strict";
import {
  CONFIG_KEYS,
  level1InputSize,
  makeHrnnConfig,
  numFeatures,
  PAPER_CONFIG,
  validateConfig,
} from "../../../models/hrnn/config.ts";
import { featureNames } from "../../../models/hrnn/features.ts";

Deno.test("PAPER_CONFIG holds the metarun defaults and module flags (§4.1, §4.2)", () => {
  const c = PAPER_CONFIG;
  assert.deepEqual(c.levelSizes, [10, 20, 20]);
  assert.deepEqual(c.initLrRange, [1e-6, 1e-2]);
  assert.equal(c.numGradientScales, 4);
  assert.equal(c.useProblemLrMean, true);
  assert.equal(c.useGradientShortcut, true);
  assert.equal(c.useGradProducts, true);
  assert.equal(c.useAttention, false);
  assert.equal(c.useExtremeIndicator, false);
  assert.equal(c.useLrShortcut, false);
  assert.equal(c.useMultipleScaleDecays, false);
  assert.equal(c.maxLogLr, 33);
  assert.equal(c.gruScale, 0.5);
  assert.equal(c.gruGateBiasInit, 2.2);
  assert.equal(c.readoutScale, 0.5);
  assert.equal(c.inpDecayBiasInit, 2.2);
  assert.equal(c.sclDecayBiasInit, 3.2);
  assert.equal(c.lrMomentumLogitInit, 3.2);
  assert.equal(c.affineScale, 0.5);
  assert.equal(c.globalInput, "last-tensor");
  validateConfig({ ...c });
});

Deno.test("feature width F = 12 and tensor-RNN input 22 in the paper config (§4.6)", () => {
  const c = makeHrnnConfig();
  assert.equal(numFeatures(c), 12);
  assert.equal(level1InputSize(c), 22);
  assert.deepEqual(featureNames(c), [
    "scaled_grad_1",
    "scaled_grad_2",
    "scaled_grad_3",
    "scaled_grad_4",
    "grad_product_1_2",
    "grad_product_2_3",
    "grad_product_3_4",
    "log_ms_dev_1",
    "log_ms_dev_2",
    "log_ms_dev_3",
    "log_ms_dev_4",
    "relative_log_lr",
  ]);
  const bare = makeHrnnConfig({ useGradProducts: false, useLogMeansSquared: false, useRelativeLr: false });
  assert.equal(numFeatures(bare), 4);
  assert.equal(level1InputSize(bare), 10); // only the mean of the level-0 states
  const extra = makeHrnnConfig({ useExtremeIndicator: true, useLrShortcut: true, numGradientScales: 2 });
  assert.equal(numFeatures(extra), 2 + 1 + 2 + 1 + 1 + 1);
});

Deno.test("validateConfig rejects bad configs with clear messages", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ levelSizes: [] }, /levelSizes/],
    [{ levelSizes: [10, 20, 20, 20] }, /1 to 3/],
    [{ levelSizes: [10, 0] }, /positive integers/],
    [{ initLrRange: [1e-2, 1e-6] }, /initLrRange/],
    [{ initLrRange: [0, 1e-2] }, /initLrRange/],
    [{ numGradientScales: 0 }, /numGradientScales/],
    [{ numGradientScales: 2.5 }, /numGradientScales/],
    [{ maxLogLr: -40 }, /maxLogLr/],
    [{ useAttention: "yes" }, /useAttention must be true or false/],
    [{ gruScale: Number.NaN }, /gruScale must be a finite number/],
    [{ dynamicOutputScale: false }, /useRelativeLr.*dynamicOutputScale/],
    [{ globalInput: "sum" }, /globalInput/],
    [{ bogus: 1 }, /unknown option\(s\) bogus/],
  ];
  for (const [over, re] of bad) {
    assert.throws(() => validateConfig({ ...PAPER_CONFIG, ...over }), re, JSON.stringify(over));
  }
  const missing: Record<string, unknown> = { ...PAPER_CONFIG };
  delete missing.useAttention;
  assert.throws(() => validateConfig(missing), /missing option\(s\) useAttention/);
  assert.throws(() => validateConfig(null), /must be an object/);
  assert.equal(CONFIG_KEYS.length, Object.keys(PAPER_CONFIG).length);
  // dynamicOutputScale off is fine once the LR features are off too.
  makeHrnnConfig({ dynamicOutputScale: false, useRelativeLr: false });
});

Deno.test("makeHrnnConfig copies arrays (PAPER_CONFIG is never mutated)", () => {
  const c = makeHrnnConfig();
  c.levelSizes[0] = 99;
  c.initLrRange[0] = 5;
  assert.equal(PAPER_CONFIG.levelSizes[0], 10);
  assert.equal(PAPER_CONFIG.initLrRange[0], 1e-6);
});
