import assert from "node:assert/strict";
import {
  bestCells,
  downsampleCurve,
  type StoredRun,
  sweepCells,
} from "../../../models/evaluation/cnn_records.ts";

Deno.test("cnn records: curve downsampling, medians over seeds and the tuned learning rate", () => {
  assert.deepEqual(downsampleCurve([1, 2, 3], 5), [{ step: 0, value: 1 }, { step: 1, value: 2 }, {
    step: 2,
    value: 3,
  }]);
  const d = downsampleCurve(Array.from({ length: 1000 }, (_, i) => i), 300);
  assert.equal(d.length, 300);
  assert.equal(d.at(-1)!.step, 999);
  assert.ok(d.every((p, i) => i === 0 || p.step > d[i - 1].step));
  assert.deepEqual(downsampleCurve([1, NaN, 3, 5], 2), [{ step: 1, value: 1 }, { step: 3, value: 4 }]);

  const run = (optimizer: string, lr: number, seed: number, loss: number, diverged = false): StoredRun => ({
    model: "m",
    dataset: "mnist",
    optimizer,
    learningRate: lr,
    seed,
    steps: 10,
    stepsRun: 10,
    secondsPerStep: 0.1,
    diverged,
    finalTrainLoss: diverged ? NaN : loss,
    testLoss: loss,
    testAccuracy: 1 - loss / 10,
    status: "ok",
    note: "",
    curve: [],
  });
  const runs = [
    run("adam", 0.001, 0, 0.5),
    run("adam", 0.001, 1, 0.7),
    run("adam", 0.001, 2, 0.6),
    run("adam", 0.01, 0, 0.1),
    run("adam", 0.01, 1, 0.2, true),
    run("adam", 0.01, 2, 0.3, true), // two of three seeds diverged: median is +Infinity
    run("rmsprop", 0.01, 0, 0.4),
  ];
  const cells = sweepCells(runs);
  const c = cells.find((x) => x.optimizer === "adam" && x.learningRate === 0.01)!;
  assert.equal(c.medianFinalTrainLoss, Infinity);
  assert.equal(c.divergedSeeds, 2);
  const best = bestCells(cells);
  assert.equal(best.get("m\u0000adam")!.learningRate, 0.001);
  assert.equal(best.get("m\u0000adam")!.medianFinalTrainLoss, 0.6);
  assert.equal(best.get("m\u0000rmsprop")!.learningRate, 0.01);
});
