import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { Rng } from "../../lib/rng.ts";
import { buildProblem, familyNames } from "../../tasks/registry.ts";
import type { ProblemSpec } from "../../tasks/problem.ts";
import { matmulBatch } from "../../tasks/families/matmul.ts";
import { checkGradientFd, close, meanStd, num, objectiveAt } from "./helpers.ts";

await initBackend();

const S = (family: string, params: Record<string, unknown> = {}, seed = 3): ProblemSpec => ({
  family,
  params,
  seed,
});

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

const tinyData = (kind: string, extra: Record<string, unknown> = {}) => ({
  kind,
  nSamples: 64,
  seed: 5,
  ...extra,
});

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

Deno.test("gradient noise: N(0, σ²) around the exact gradient, reproducible from the Rng", () => {
  const p = buildProblem(S("quadratic", { ndim: 100, noiseStdev: 2 }));
  const exact = buildProblem(S("quadratic", { ndim: 100 }));
  const x = p.init(new Rng(1));
  const rng = new Rng(5);
  const diffs: tf.Tensor[] = [];
  for (let i = 0; i < 20; i++) {
    const a = p.gradients(x, null, rng), b = exact.gradients(x, null, rng);
    diffs.push(tf.sub(a.grads[0], b.grads[0]));
    tf.dispose([a.loss, a.grads, b.loss, b.grads]);
  }
  const ms = meanStd(diffs);
  close(ms.mean, 0, 0.15, "noise mean");
  close(ms.std, 2, 0.1, "noise std");
  const g1 = p.gradients(x, null, new Rng(9)), g2 = p.gradients(x, null, new Rng(9));
  assert.deepEqual(g1.grads[0].dataSync(), g2.grads[0].dataSync());
  tf.dispose([diffs, x, g1.loss, g1.grads, g2.loss, g2.grads]);
  p.dispose();
  exact.dispose();
});

Deno.test("second derivatives flow through gradients (noise is a constant)", () => {
  for (const noiseStdev of [0, 1]) {
    const p = buildProblem(S("quadratic", { ndim: 4, noiseStdev }, 8));
    const r = new Rng(8);
    const w = r.normalArray(16);
    const v = [0.3, -1, 0.5, 2];
    // ∂/∂x Σ_i g_i(x) v_i = Wᵀ W v
    const hv = tf.tidy(() =>
      tf.grad((x: tf.Tensor) =>
        tf.sum(tf.mul(p.gradients([x], null, new Rng(1)).grads[0], tf.tensor2d(v, [4, 1])))
      )(
        tf.tensor2d([1, 2, 3, 4], [4, 1]),
      )
    );
    const wv = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) wv[i] += w[i * 4 + j] * v[j];
    const want = [0, 0, 0, 0];
    for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) want[j] += w[i * 4 + j] * wv[i];
    hv.dataSync().forEach((h, j) => close(h, want[j], 1e-3 * (1 + Math.abs(want[j])), "Hessian-vector"));
    hv.dispose();
    p.dispose();
  }
  // finite second derivatives through the MLP, matmul solve and a wrapper
  const specs = [
    S("fully_connected", {
      nFeatures: 3,
      hiddenSizes: [4],
      dataset: tinyData("random_mlp", { nFeatures: 3 }),
    }),
    S("matmul_algorithm", { n: 2, k: 6 }),
    S("log_objective", { inner: S("bowl", { cond: 2 }) }),
  ];
  for (const s of specs) {
    const p = buildProblem(s);
    const x = p.init(new Rng(2));
    const h = tf.tidy(() =>
      tf.grads((...ps: tf.Tensor[]) =>
        tf.addN(p.gradients(ps, null, new Rng(1)).grads.map((g) => tf.sum(tf.square(g))))
      )(x)
    );
    for (const t of h) {
      assert.ok(t.dataSync().every(Number.isFinite), `${s.family}: finite second derivatives`);
    }
    tf.dispose([h, x]);
    p.dispose();
  }
});

Deno.test("registry: family list and clear errors", () => {
  for (
    const f of [
      "quadratic",
      "bowl",
      "norm",
      "matmul_algorithm",
      "conv_net",
      "rescale",
      "sum_task",
      "log_objective",
      "sparse_problem",
      "sum_of_quadratics",
    ]
  ) assert.ok(familyNames().includes(f), f);
  assert.throws(() => buildProblem(S("nope")), /family 'nope'.*unknown family/);
  assert.throws(() => buildProblem(S("quadratic", { ndim: -1 })), /'quadratic'.*'ndim'/);
  assert.throws(
    () => buildProblem(S("quadratic", { ndim: 3, nDim: 4 })),
    /'quadratic'.*unknown param.*'nDim'/,
  );
  assert.throws(() => buildProblem(S("quadratic", {})), /'quadratic'.*'ndim'/);
  assert.throws(() => buildProblem(S("matmul_algorithm", { n: 2, k: 3 })), /'matmul_algorithm'.*'k'/);
  assert.throws(() => buildProblem(S("rescale", { inner: { family: "bowl" } })), /'rescale'.*'inner'/);
  assert.throws(() => buildProblem(S("rescale", { inner: S("bowl", { cond: -1 }) })), /'bowl'.*'cond'/);
  assert.throws(
    () => buildProblem(S("softmax_regression", { nFeatures: 3 })),
    /'softmax_regression'.*'dataset'/,
  );
  assert.throws(
    () => buildProblem(S("softmax_regression", { nFeatures: 3, dataset: { kind: "mnist" } })),
    /'dataset'.*resolver/,
  );
  const q = buildProblem(S("quadratic", { ndim: 3 }));
  assert.throws(() => q.fullObjective([tf.zeros([4, 1])]), /shape/);
  q.dispose();
});

Deno.test("no tensor leaks over repeated steps", () => {
  const specs = [
    S("quadratic", { ndim: 5, noiseStdev: 0.5 }),
    S("fully_connected", {
      nFeatures: 4,
      hiddenSizes: [3],
      dataset: tinyData("random_mlp", { nFeatures: 4 }),
      batchSize: 8,
      noiseStdev: 0.1,
    }),
    S("sparse_problem", {
      inner: S("sum_task", { problems: [S("rosenbrock"), S("quadratic", { ndim: 2 })] }),
    }),
    S("matmul_algorithm", { n: 2, k: 5 }),
  ];
  for (const s of specs) {
    const p = buildProblem(s);
    const rng = new Rng(1);
    const x = p.init(rng);
    const step = () => {
      const b = p.sampleBatch(rng);
      const r = p.gradients(x, b, rng);
      const f = p.fullObjective(x);
      tf.dispose([r.loss, r.grads, f]);
      if (b) tf.dispose([b.x, b.y]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) step();
    assert.equal(tf.memory().numTensors, before, `${s.family} leaks`);
    tf.dispose(x);
    p.dispose();
  }
});
