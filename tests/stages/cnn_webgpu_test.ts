// The MNIST ConvNet trained on the webgpu backend (the machine's WebGPU adapter; in CI Mesa's software one)
// matches the same run on wasm: same data order, init and optimizer, 20 steps.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { backendDescription, initBackend } from "../../lib/backend.ts";
import { makeBaseline } from "../../models/optimizers/baselines.ts";
import { makeHrnnConfig } from "../../models/hrnn/config.ts";
import { makeHrnn } from "../../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams } from "../../models/hrnn/meta_params.ts";
import type { Optimizer } from "../../lib/optimizer.ts";
import { CNN_PARAMS, CNN_PROFILES, type CnnParams } from "../../stages/cnn_common.ts";
import { loadCnnData } from "../../models/evaluation/cnn_data.ts";
import { runConvNet } from "../../models/evaluation/cnn_run.ts";
import { convNetSpec } from "../../tasks/convnets.ts";
import { webgpuIgnore } from "../helpers/webgpu.ts";

const ignore = webgpuIgnore();
if (!ignore) {
  await initBackend("wasm");
  await initBackend("webgpu");
}

const p: CnnParams = {
  ...Object.fromEntries(Object.entries(CNN_PARAMS).map(([k, s]) => [k, s.default])) as CnnParams,
  ...CNN_PROFILES.smoke,
  steps: 20,
  batchSize: 16,
  trainLimit: 320,
  testLimit: 32,
  trainEvalSize: 32,
  evalEvery: 20,
  evalBatch: 32,
};
const spec = convNetSpec("convnet_mnist_relu");

/** The 20-step run on `backend` with the optimizer `make` builds there (disposing what it made). */
async function run(backend: "wasm" | "webgpu", make: () => { opt: Optimizer; dispose: () => void }) {
  await tf.setBackend(backend);
  const data = await loadCnnData(spec, p);
  if (!data.ok) throw new Error("MNIST did not load");
  const { opt, dispose } = make();
  const before = tf.memory().numTensors;
  try {
    const r = await runConvNet({
      spec,
      optimizer: opt,
      optimizerName: opt.name,
      learningRate: null,
      seed: 0,
      train: data.train,
      test: data.test,
      protocol: p,
    });
    assert.equal(tf.memory().numTensors, before, `${backend}: the run leaked tensors`);
    return r;
  } finally {
    dispose();
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Same minibatch losses (relative `tol`) over every step; with `falls`, the webgpu loss fell. */
function assertSameRun(a: number[], b: number[], tol: number, what: string, falls: boolean, secs = "") {
  assert.equal(a.length, 20, `${what}: wasm ran 20 steps`);
  assert.equal(b.length, 20, `${what}: webgpu ran 20 steps`);
  const worst = Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.abs(x)));
  console.log(
    `  ${what}: ${secs}; loss ${b[0].toFixed(4)} -> ${b[19].toFixed(4)}, worst relative diff vs wasm ${
      worst.toExponential(2)
    }`,
  );
  assert.ok(worst < tol, `${what}: minibatch losses differ from wasm by ${worst} (relative)`);
  if (falls) {
    assert.ok(mean(b.slice(15)) < 0.85 * mean(b.slice(0, 5)), `${what}: webgpu loss did not fall: ${b}`);
  }
}

Deno.test({
  name: "cnn webgpu: the MNIST ConvNet trains with Adam and matches wasm over 20 steps",
  ignore,
  fn: async () => {
    const adam = () => ({ opt: makeBaseline("adam", { learningRate: 3e-3 }), dispose: () => {} });
    const a = await run("wasm", adam);
    const b = await run("webgpu", adam);
    assert.match(backendDescription()!, /^webgpu \(/);
    assertSameRun(
      a.minibatchLoss,
      b.minibatchLoss,
      2e-3,
      "adam",
      true,
      `s/step wasm ${a.secondsPerStep.toFixed(3)} webgpu ${b.secondsPerStep.toFixed(3)}`,
    );
  },
});

Deno.test({
  name: "cnn webgpu: the learned optimizer (WGSL pass) trains the MNIST ConvNet like the wasm kernel",
  ignore,
  fn: async () => {
    const config = makeHrnnConfig({ zeroInitLrWeights: false, initLrRange: [3e-3, 3e-3] });
    const learned = () => {
      const mp = createMetaParams(config, 0);
      return { opt: makeHrnn(mp, config, { seed: 0 }), dispose: () => disposeMetaParams(mp) };
    };
    const a = await run("wasm", learned);
    const b = await run("webgpu", learned);
    // An untrained HRNN need not make progress: this checks the WGSL pass inside a training loop.
    assertSameRun(a.minibatchLoss, b.minibatchLoss, 2e-3, "learned", false);
  },
});
