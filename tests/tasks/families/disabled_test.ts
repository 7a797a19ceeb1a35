import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { buildProblem } from "../../../tasks/registry.ts";
import { checkGradientFd, close, objectiveAt } from "../helpers.ts";
import { S } from "./spec.ts";

await initBackend();

Deno.test("disabled families: values, gradients", () => {
  const mmw = buildProblem(S("min_max_well", { ndim: 4 }));
  close(objectiveAt(mmw, [[1, -1, 1, 1]]), 0, 1e-6, "min_max_well at ±1");
  close(objectiveAt(mmw, [[2, 0.5, 1, 1]]), 4 + 4 - 2, 1e-5, "min_max_well");
  const mx = tf.tensor1d([1.5, -0.7, 0.9, 1.2]);
  checkGradientFd(mmw, [mx], null);
  mx.dispose();
  mmw.dispose();

  const dc = buildProblem(S("dependency_chain", { ndim: 3 }));
  const ones = [1, 1, 1, 1];
  close(objectiveAt(dc, [ones]), 3 * (1 + 1 / (1 + 1e-6)), 1e-5, "dependency_chain at ones");
  const dx = dc.init(new Rng(2));
  checkGradientFd(dc, dx, null, { relStep: 1e-3 });
  tf.dispose(dx);
  dc.dispose();

  const sym = { kind: "random_symmetric", nFeatures: 3, nSamples: 10, seed: 4 };
  const soq = buildProblem(S("sum_of_quadratics", { ndim: 3, dataset: sym, batchSize: 4 }));
  close(objectiveAt(soq, [[0, 0, 0]]), 0, 1e-6, "sum_of_quadratics at 0 on the symmetric dataset");
  close(objectiveAt(soq, [[1, 1, 1]]), 30, 1e-3, "sum_of_quadratics: B·‖v‖² on the symmetric dataset");
  const sx = soq.init(new Rng(1));
  checkGradientFd(soq, sx, soq.sampleBatch(new Rng(1)));
  tf.dispose(sx);
  soq.dispose();

  const bin = { kind: "random_binary", nFeatures: 3, nSamples: 12, seed: 4 };
  const pq = buildProblem(S("projection_quadratic", { ndim: 3, dataset: bin }));
  const pqx = pq.init(new Rng(1));
  checkGradientFd(pq, pqx, null);
  tf.dispose(pqx);
  pq.dispose();

  const os = buildProblem(S("outward_snake", { ndim: 3, dataset: bin, batchSize: 5 }));
  const osx = os.init(new Rng(1));
  checkGradientFd(os, osx, null, { relStep: 1e-3 });
  tf.dispose(osx);
  os.dispose();
});
