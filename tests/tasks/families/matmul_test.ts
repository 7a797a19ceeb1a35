import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { buildProblem } from "../../../tasks/registry.ts";
import { matmulBatch } from "../../../tasks/families/matmul.ts";
import { checkGradientFd, close, num, objectiveAt } from "../helpers.ts";
import { S } from "./spec.ts";

await initBackend();

Deno.test("matmul_algorithm: batch, exact algorithms reach ~0, gradients, unit-norm init", () => {
  const { a, b, c } = matmulBatch(2);
  // row r = ia*4 + ib; a = e_ia, b = e_ib; C = vec(a·b)
  assert.equal(a[(1 * 4 + 2) * 4 + 1], 1);
  assert.equal(b[(1 * 4 + 2) * 4 + 2], 1);
  // a = e_(0,1), b = e_(1,0) → a·b = e_(0,0)
  assert.equal(c[(1 * 4 + 2) * 4 + 0], 1);
  assert.equal(c.reduce((s, v) => s + v, 0), 8); // n³ non-zero products
  // naive algorithm with k = 8: product (i, j, l) uses a_ij and b_jl
  const p = buildProblem(S("matmul_algorithm", { n: 2, k: 8 }));
  const ta = new Array(4 * 8).fill(0), tb = new Array(4 * 8).fill(0);
  let col = 0;
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      for (let l = 0; l < 2; l++) {
        ta[(i * 2 + j) * 8 + col] = 1;
        tb[(j * 2 + l) * 8 + col] = 1;
        col++;
      }
    }
  }
  close(objectiveAt(p, [ta, tb]), 0, 1e-3, "naive 8-multiplication algorithm");
  const init = p.init(new Rng(5));
  for (const t of init) {
    const norms = tf.sqrt(tf.sum(tf.square(t), 0)).dataSync();
    for (const v of norms) close(v, 1, 1e-5, "unit column norm");
  }
  assert.ok(objectiveAt(p, init.map((t) => Array.from(t.dataSync()))) > 0);
  checkGradientFd(p, init, null, { relStep: 1e-2, rtol: 5e-2 });
  tf.dispose(init);
  p.dispose();
  const p3 = buildProblem(S("matmul_algorithm", { n: 3, k: 19 }));
  const i3 = p3.init(new Rng(5));
  const f3 = num(p3.fullObjective(i3));
  assert.ok(Number.isFinite(f3) && f3 > 0);
  checkGradientFd(p3, i3, null, { relStep: 1e-2, rtol: 5e-2, perTensor: 3 });
  tf.dispose(i3);
  p3.dispose();
});
