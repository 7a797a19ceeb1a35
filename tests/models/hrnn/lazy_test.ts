import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { makeHrnn } from "../../../models/hrnn/hrnn.ts";
import type { HrnnState } from "../../../models/hrnn/state.ts";
import { createMetaParams } from "../../../models/hrnn/meta_params.ts";
import { nativeKernelError } from "../../../models/hrnn/native.ts";
import { decodeWeights } from "../../../models/hrnn/weights_file.ts";
import { PRETRAINED_WEIGHTS_BASE64 } from "../../../models/pretrained/hrnn_weights.ts";
import { compareTapedGradients, stateList } from "./taped_compare.ts";
import { vals } from "./helpers.ts";

await initBackend("wasm");

const KERNELS: ("ops" | "fused" | "native")[] = nativeKernelError() === null
  ? ["ops", "fused", "native"]
  : ["ops", "fused"];
const SIZES = [3, 17, 70];

function gradients(rng: Rng, zeroShare: number): tf.Tensor[] {
  return SIZES.map((n) =>
    tf.tensor1d(rng.normalArray(n).map((v) => (zeroShare > 0 && rng.uniform(0, 1) < zeroShare ? 0 : 0.1 * v)))
  );
}

/** Per-coordinate rows of tensor j's state, as [name, values of coordinate i] lists. */
function coordinateRows(s: HrnnState, j: number, i: number): [string, number[]][] {
  const t = s.tensors[j];
  const n0 = t.parameter.shape[1];
  const rows: [string, number[]][] = [
    ["parameter", vals(t.parameter).slice(i * n0, (i + 1) * n0)],
    ["scl_decay", [vals(t.scl_decay)[i]]],
    ["inp_decay", [vals(t.inp_decay)[i]]],
    ...t.grad_accum.map((a, k): [string, number[]] => [`grad_accum[${k}]`, [vals(a)[i]]]),
    ...t.ms.map((m, k): [string, number[]] => [`ms[${k}]`, [vals(m)[i]]]),
  ];
  if (t.log_learning_rate) rows.push(["log_learning_rate", [vals(t.log_learning_rate)[i]]]);
  return rows;
}

/** Runs `warm` dense steps, then one step with `grads` from there, with and without the lazy switch. */
function oneStep(kernel: "ops" | "fused" | "native", zeroShare: number) {
  const config = makeHrnnConfig({ zeroInitLrWeights: false });
  const lazyConfig = { ...config, lazyZeroGradients: true };
  const mp = createMetaParams(config, 5);
  const rng = new Rng(11);
  const params = SIZES.map((n) => tf.tensor1d(rng.normalArray(n)));
  const eager = makeHrnn(mp, config, { seed: 2, kernel });
  const lazy = makeHrnn(mp, lazyConfig, { seed: 2, kernel });
  let s0 = eager.init(params);
  for (let t = 0; t < 3; t++) {
    const g = gradients(rng, 0);
    const r = eager.update(g, s0, params);
    tf.dispose([g, r.updates, s0]);
    s0 = r.state;
  }
  const grads = gradients(rng, zeroShare);
  return { s0, grads, plain: eager.update(grads, s0, params), masked: lazy.update(grads, s0, params) };
}

Deno.test("lazyZeroGradients changes nothing when no gradient entry is zero, on every kernel", () => {
  for (const kernel of KERNELS) {
    const { plain, masked } = oneStep(kernel, 0);
    const a = [...plain.updates, ...stateList(plain.state)];
    const b = [...masked.updates, ...stateList(masked.state)];
    assert.equal(a.length, b.length);
    a.forEach((x, i) => assert.deepEqual(vals(b[i]), vals(x), `${kernel}: output ${i} differs`));
  }
});

Deno.test("lazyZeroGradients: a coordinate with a zero gradient keeps its parameter and state; the rest update as without it", () => {
  for (const kernel of KERNELS) {
    const { s0, grads, plain, masked } = oneStep(kernel, 0.5);
    let frozen = 0, moved = 0;
    SIZES.forEach((n, j) => {
      const g = vals(grads[j]), uPlain = vals(plain.updates[j]), uLazy = vals(masked.updates[j]);
      for (let i = 0; i < n; i++) {
        const expected = g[i] === 0 ? s0 : plain.state;
        if (g[i] === 0) {
          frozen++;
          assert.equal(uLazy[i], 0, `${kernel}: tensor ${j} coordinate ${i} moved on a zero gradient`);
          assert.notEqual(uPlain[i], 0, "without the switch the coordinate moves");
        } else {
          moved++;
          assert.equal(uLazy[i], uPlain[i], `${kernel}: tensor ${j} coordinate ${i}: update differs`);
        }
        const want = coordinateRows(expected, j, i), got = coordinateRows(masked.state, j, i);
        want.forEach(([name, v], r) =>
          assert.deepEqual(got[r][1], v, `${kernel}: tensor ${j} #${i} ${name}`)
        );
      }
      assert.deepEqual(vals(masked.state.tensors[j].layer!), vals(plain.state.tensors[j].layer!));
    });
    assert.deepEqual(vals(masked.state.global!), vals(plain.state.global!), "the global state advances");
    assert.ok(
      frozen > 20 && moved > 20,
      `both kinds of coordinate are tested (${frozen} frozen, ${moved} moved)`,
    );
  }
});

Deno.test("lazyZeroGradients: the taped fused backward equals the ops path's gradients with sparse gradients", () => {
  const kernels = KERNELS.filter((k): k is "fused" | "native" => k !== "ops");
  for (const kernel of kernels) {
    const r = compareTapedGradients({ lazyZeroGradients: true }, SIZES, { kernel, steps: 3, zeroShare: 0.5 });
    for (const { what, rel } of r.perInput) {
      const tol = what === "meta lr_momentum_logit" ? 5e-4 : 2e-4;
      assert.ok(rel <= tol, `${kernel}: gradient w.r.t. ${what} differs by ${rel} (relative)`);
    }
    assert.ok(r.worstValue < 1e-5, `${kernel}: forward values differ by ${r.worstValue}`);
  }
});

Deno.test("a weights file whose config has no lazyZeroGradients loads with it off", () => {
  const bytes = Uint8Array.from(atob(PRETRAINED_WEIGHTS_BASE64), (c) => c.charCodeAt(0));
  const header = new TextDecoder().decode(bytes.subarray(0, 4096));
  assert.ok(!header.includes("lazyZeroGradients"), "the shipped file's config has no such key");
  const loaded = decodeWeights(bytes, "pretrained");
  assert.equal((loaded.config as { lazyZeroGradients: boolean }).lazyZeroGradients, false);
});

Deno.test("lazyZeroGradients: coordinates frozen at their reset state give finite, equal meta-gradients on every kernel", () => {
  const config = makeHrnnConfig({ zeroInitLrWeights: false, lazyZeroGradients: true });
  const mp = createMetaParams(config, 7);
  const names = Object.keys(mp).filter((k) => !k.startsWith("init/"));
  const rng = new Rng(4);
  const params = SIZES.map((n) => tf.tensor1d(rng.normalArray(n)));
  // Step 0 from the reset state: half the coordinates see a zero gradient and keep their zero decays.
  const steps = [gradients(rng, 0.5), gradients(rng, 0.5), gradients(rng, 0)];
  const metaGrad = (kernel: "ops" | "fused" | "native") =>
    tf.grads((...xs: tf.Tensor[]) => {
      const m = { ...mp };
      names.forEach((k, i) => (m[k] = xs[i]));
      const opt = makeHrnn(m, config, { seed: 1, kernel });
      let state = opt.init(params);
      let ps = params;
      for (const g of steps) {
        const r = opt.update(g, state, ps);
        ps = ps.map((p, i) => tf.add(p, r.updates[i]));
        state = r.state;
      }
      return tf.addN([
        ...ps.map((p) => tf.sum(tf.square(p))),
        ...xs.map((x) => tf.mul(tf.sum(x), 0)),
      ]) as tf.Scalar;
    })(names.map((k) => mp[k])).map((t) => vals(t));
  const ops = metaGrad("ops");
  for (const kernel of KERNELS) {
    const got = kernel === "ops" ? ops : metaGrad(kernel);
    got.forEach((v, i) => {
      assert.ok(v.every(Number.isFinite), `${kernel}: meta-gradient of ${names[i]} is not finite`);
      const scale = Math.max(...ops[i].map(Math.abs)) + 1e-30;
      const diff = Math.max(...v.map((x, p) => Math.abs(x - ops[i][p])));
      assert.ok(diff / scale < 5e-4, `${kernel}: meta-gradient of ${names[i]} differs by ${diff / scale}`);
    });
  }
});
