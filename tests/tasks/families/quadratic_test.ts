import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { buildProblem } from "../../../tasks/registry.ts";
import { checkGradientFd, close, meanStd, objectiveAt } from "../helpers.ts";
import { S } from "./spec.ts";

await initBackend();

Deno.test("quadratic / bowl / norm: values, gradients, init, determinism", () => {
  // quadratic: f(0) = ½‖y‖², with W then y drawn from Rng(seed)
  const rng = new Rng(42);
  rng.normalArray(6 * 6);
  const y = rng.normalArray(6);
  const q = buildProblem(S("quadratic", { ndim: 6 }, 42));
  close(objectiveAt(q, [Array(6).fill(0)]), 0.5 * y.reduce((s, v) => s + v * v, 0), 1e-4, "quadratic f(0)");
  const x = q.init(new Rng(1));
  checkGradientFd(q, x, null);
  tf.dispose(x);
  const draws = Array.from({ length: 300 }, (_, i) => q.init(new Rng(100 + i))[0]);
  const ms = meanStd(draws);
  tf.dispose(draws);
  close(ms.mean, 0, 0.06, "quadratic init mean");
  close(ms.std, 1, 0.05, "quadratic init std");
  // same spec, same data
  const q2 = buildProblem(S("quadratic", { ndim: 6 }, 42));
  const q3 = buildProblem(S("quadratic", { ndim: 6 }, 43));
  const pt = [[0.3, -1, 2, 0.5, 0, 1]];
  assert.equal(objectiveAt(q, pt), objectiveAt(q2, pt));
  assert.notEqual(objectiveAt(q, pt), objectiveAt(q3, pt));
  [q, q2, q3].forEach((p) => p.dispose());

  const b = buildProblem(S("bowl", { cond: 5 }));
  close(objectiveAt(b, [[1, 1]]), 3, 1e-5, "bowl cond 5");
  b.dispose();
  const b2 = buildProblem(S("bowl", { cond: 5, angle: Math.PI / 4 }));
  close(objectiveAt(b2, [[1, 0]]), 1.5, 1e-5, "bowl cond 5 angle π/4");
  const bx = b2.init(new Rng(3));
  checkGradientFd(b2, bx, null);
  tf.dispose(bx);
  b2.dispose();

  for (const pw of [1, 1.5, 2, 3]) {
    const n = buildProblem(S("norm", { ndim: 5, normPower: pw }, 9));
    const r = new Rng(9);
    const w = r.normalArray(25), yy = r.normalArray(5);
    const xv = [0.5, -0.2, 1, 0.1, -1];
    let s = 0;
    for (let i = 0; i < 5; i++) {
      let a = -yy[i];
      for (let j = 0; j < 5; j++) a += w[i * 5 + j] * xv[j];
      s += (Math.abs(a) + 1e-6) ** pw;
    }
    close(objectiveAt(n, [xv]), s ** (1 / pw), 1e-4 * s ** (1 / pw), `norm p=${pw}`);
    const nx = n.init(new Rng(2));
    checkGradientFd(n, nx, null, { relStep: 1e-3 });
    tf.dispose(nx);
    n.dispose();
  }
});
