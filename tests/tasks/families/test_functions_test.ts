import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { buildProblem } from "../../../tasks/registry.ts";
import { checkGradientFd, close, objectiveAt } from "../helpers.ts";
import { S } from "./spec.ts";

await initBackend();

Deno.test("2-D test functions: values at known points and minima", () => {
  const cases: Array<[string, number[], number, number]> = [
    ["rosenbrock", [1, 1], 0, 1e-6],
    ["rosenbrock", [0, 0], 1, 1e-6],
    ["beale", [3, 0.5], 0, 1e-5],
    ["booth", [1, 3], 0, 1e-5],
    ["matyas", [0, 0], 0, 1e-7],
    ["matyas", [1, 1], 0.04, 1e-6],
    ["ackley", [0, 0], 0, 1e-5],
    ["branin", [Math.PI, 2.275], 0.397887, 1e-4],
    ["branin", [-Math.PI, 12.275], 0.397887, 1e-4],
    ["styblinski_tang", [-2.903534, -2.903534], 80 - 78.33234, 1e-3],
    // the literature's minimum −1.8013 (m = 5) shifted by 2; value from the formula in float64
    ["michalewicz", [2.20290552, 1.57079633], 0.1959614, 1e-5],
    ["michalewicz", [2.20290552, 1.57079633], 2 - 1.8013, 5e-3],
    ["log_sum_exp", [0, 0], Math.log(3 * Math.exp(-0.1) + 1), 1e-5],
  ];
  for (const [f, at, want, tol] of cases) {
    const p = buildProblem(S(f));
    close(objectiveAt(p, [at]), want, tol, `${f}(${at})`);
    p.dispose();
  }
});

Deno.test("2-D test functions: gradients match finite differences; init ranges", () => {
  const boxes: Record<string, [number, number, number, number]> = {
    rosenbrock: [-5, 10, -5, 10],
    ackley: [-32.768, 32.768, -32.768, 32.768],
    beale: [-4.5, 4.5, -4.5, 4.5],
    booth: [-10, 10, -10, 10],
    styblinski_tang: [-5, 5, -5, 5],
    matyas: [-10, 10, -10, 10],
    branin: [-5, 10, 0, 15],
    michalewicz: [0, Math.PI, 0, Math.PI],
  };
  const rng = new Rng(11);
  for (const f of [...Object.keys(boxes), "log_sum_exp"]) {
    const p = buildProblem(S(f));
    for (let k = 0; k < 3; k++) {
      const v = tf.tensor1d([rng.uniform(-2, 2), rng.uniform(-2, 2)]);
      checkGradientFd(p, [v], null, { absStep: 1e-2, seed: k });
      v.dispose();
    }
    // init distribution
    const draws = Array.from({ length: 400 }, () => p.init(rng)[0]);
    const xs = draws.map((t) => t.dataSync()[0]), ys = draws.map((t) => t.dataSync()[1]);
    tf.dispose(draws);
    if (f === "log_sum_exp") {
      const all = [...xs, ...ys];
      const m = all.reduce((a, b) => a + b, 0) / all.length;
      const sd = Math.sqrt(all.reduce((a, b) => a + (b - m) ** 2, 0) / all.length);
      close(m, 0, 0.12, `${f} init mean`);
      close(sd, 1, 0.1, `${f} init std`);
    } else {
      const [x0, x1, y0, y1] = boxes[f];
      for (const [vals, lo, hi] of [[xs, x0, x1], [ys, y0, y1]] as const) {
        const mn = Math.min(...vals), mx = Math.max(...vals);
        assert.ok(mn >= lo - 1e-4 && mx <= hi + 1e-4, `${f} init inside [${lo}, ${hi}]: ${mn}..${mx}`);
        assert.ok(mn < lo + 0.1 * (hi - lo) && mx > hi - 0.1 * (hi - lo), `${f} init spans its box`);
      }
    }
    p.dispose();
  }
});
