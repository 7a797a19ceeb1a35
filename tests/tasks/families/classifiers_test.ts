import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { buildProblem } from "../../../tasks/registry.ts";
import { checkGradientFd, close, meanStd, num, objectiveAt } from "../helpers.ts";
import { S, tinyData } from "./spec.ts";

await initBackend();

Deno.test("classifiers: paper 2-class loss quirk, softmax CE for >2 classes, L2, gradients, init", () => {
  const sr = buildProblem(
    S("softmax_regression", { nFeatures: 4, dataset: tinyData("random", { nFeatures: 4 }) }),
  );
  close(objectiveAt(sr, [[0, 0, 0, 0, 0, 0, 0, 0], [0, 0]]), Math.log(2), 1e-5, "BCE at zero logits");
  // column 1 only gets the L2 gradient: 1e-3 · mean over 2 tensors of ‖θ‖² → ∂/∂W = 1e-3·W
  const w = tf.tensor2d([0.5, 2, -0.3, 1, 0.1, -1, 0.7, 3], [4, 2]);
  const bb = tf.tensor1d([0.2, 5]);
  const g = sr.gradients([w, bb], null, new Rng(1));
  const gw = g.grads[0].arraySync() as number[][];
  const wv = w.arraySync() as number[][];
  for (let i = 0; i < 4; i++) close(gw[i][1], 1e-3 * wv[i][1], 1e-7, "column-1 gradient is L2 only");
  close(g.grads[1].dataSync()[1], 1e-3 * 5, 1e-7, "bias-1 gradient is L2 only");
  checkGradientFd(sr, [w, bb], null);
  tf.dispose([w, bb, g.loss, g.grads]);
  sr.dispose();

  const soft2 = buildProblem(
    S("softmax_regression", { nFeatures: 4, loss: "softmax", dataset: tinyData("random", { nFeatures: 4 }) }),
  );
  close(objectiveAt(soft2, [new Array(8).fill(0), [0, 0]]), Math.log(2), 1e-5, "2-class softmax CE");
  soft2.dispose();

  const ds10 = tinyData("random", { nFeatures: 6, nClasses: 10, nSamples: 200 });
  const mlp10 = buildProblem(
    S("fully_connected", { nFeatures: 6, nClasses: 10, hiddenSizes: [5], dataset: ds10 }),
  );
  const zeros = mlp10.paramShapes.map((s) => new Array(s.reduce((a, b) => a * b, 1)).fill(0));
  close(objectiveAt(mlp10, zeros), Math.log(10), 1e-5, "10-class CE at zero params");
  const px = mlp10.init(new Rng(4));
  const batch = mlp10.sampleBatch(new Rng(4));
  checkGradientFd(mlp10, px, batch, { perTensor: 3 });
  tf.dispose([px, batch!.x, batch!.y]);
  mlp10.dispose();
  assert.throws(
    () =>
      buildProblem(
        S("fully_connected", { nFeatures: 6, nClasses: 10, loss: "sigmoid_column0", dataset: ds10 }),
      ),
    /fully_connected.*loss/,
  );

  for (const act of ["sigmoid", "relu"]) {
    const fc = buildProblem(S("fully_connected", {
      nFeatures: 5,
      hiddenSizes: [4, 3],
      activation: act,
      dataset: tinyData("random_mlp", { nFeatures: 5 }),
      batchSize: 16,
    }));
    assert.deepEqual(fc.paramShapes, [[5, 4], [4], [4, 3], [3], [3, 2], [2]]);
    const p0 = fc.init(new Rng(8));
    const bt = fc.sampleBatch(new Rng(8))!;
    assert.equal(bt.x.shape[0], 16);
    checkGradientFd(fc, p0, bt, { perTensor: 3 });
    tf.dispose([p0, bt.x, bt.y]);
    // init N(0,1)·1.2/√shape[0]
    const draws = Array.from({ length: 200 }, (_, i) => fc.init(new Rng(i)));
    for (let t = 0; t < fc.paramShapes.length; t++) {
      const ms = meanStd(draws.map((d) => d[t]));
      close(
        ms.std,
        1.2 / Math.sqrt(fc.paramShapes[t][0]),
        0.08 * 1.2 / Math.sqrt(fc.paramShapes[t][0]),
        "init std",
      );
    }
    tf.dispose(draws);
    fc.dispose();
  }
});

Deno.test("sparse softmax regression (+ one-hot): identical values and gradients, FD check", () => {
  const params = {
    nFeatures: 3,
    dataset: { kind: "noisy_parity_class", nSamples: 40, seed: 2 },
    batchSize: 8,
  };
  const a = buildProblem(S("sparse_softmax_regression", params));
  const b = buildProblem(S("one_hot_sparse_softmax_regression", params));
  assert.deepEqual(a.paramShapes, [[2, 3], [3, 2], [2]]);
  const p = a.init(new Rng(3));
  close(num(a.fullObjective(p)), num(b.fullObjective(p)), 1e-5, "same objective");
  const ga = a.gradients(p, null, new Rng(0)), gb = b.gradients(p, null, new Rng(0));
  for (let i = 0; i < 3; i++) {
    const da = ga.grads[i].dataSync(), db = gb.grads[i].dataSync();
    da.forEach((v, j) => close(v, db[j], 1e-5, "same gradient"));
  }
  checkGradientFd(a, p, null);
  tf.dispose([p, ga.loss, ga.grads, gb.loss, gb.grads]);
  a.dispose();
  b.dispose();
});
