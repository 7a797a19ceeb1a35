import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { type HrnnConfig, makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { fusedUnsupportedReason } from "../../../models/hrnn/fused_abi.ts";
import { fusedAvailable, fusedLoadError } from "../../../models/hrnn/fused_instance.ts";
import { type HrnnState, makeHrnn } from "../../../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams } from "../../../models/hrnn/meta_params.ts";
import { kernelSourceHash } from "../../../models/hrnn/kernel/build.ts";
import { SOURCE_SHA256 } from "../../../models/hrnn/kernel/hrnn_coords_wasm.ts";
import { nativeKernelError } from "../../../models/hrnn/native.ts";
import { disposeState } from "./helpers.ts";

await initBackend("wasm");

/** Every tensor of a state, flattened in a fixed order (for comparisons). */
function stateTensors(s: HrnnState): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const t of s.tensors) {
    out.push(t.parameter, t.scl_decay, t.inp_decay, ...t.grad_accum, ...t.ms);
    if (t.layer) out.push(t.layer);
    if (t.log_learning_rate) out.push(t.log_learning_rate);
  }
  if (s.global) out.push(s.global);
  return out;
}

/** Largest |a − b| / (|a| + floor) over two equally shaped tensor lists. */
function maxRelDiff(a: tf.Tensor[], b: tf.Tensor[], floor: number): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  a.forEach((t, i) => {
    assert.deepEqual(t.shape, b[i].shape);
    const x = t.dataSync(), y = b[i].dataSync();
    for (let q = 0; q < x.length; q++) {
      const d = Math.abs(x[q] - y[q]) / (Math.abs(x[q]) + floor);
      worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
    }
  });
  return worst;
}

/** The fused engines testable here: the WebAssembly kernel, and the native build where it loads. */
export const ENGINES: ("fused" | "native")[] = nativeKernelError() === null ? ["fused", "native"] : ["fused"];

/**
 * Runs the ops path and the fused path side by side for `steps` updates on tensors of the given sizes (random
 * gradients, parameters moved by the ops updates) and returns the worst relative differences of the updates and
 * of the states.
 */
function compare(
  config: HrnnConfig,
  sizes: number[],
  steps = 4,
  seed = 3,
  gradScale = 0.1,
  kernel: "fused" | "native" = "fused",
) {
  const mp = createMetaParams(config, seed);
  const ops = makeHrnn(mp, config, { seed, kernel: "ops" });
  const fused = makeHrnn(mp, config, { seed, kernel });
  const rng = new Rng(seed + 1);
  let params: tf.Tensor[] = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
  let sa = ops.init(params), sb = fused.init(params);
  let worstUpdate = 0, worstState = 0;
  for (let t = 0; t < steps; t++) {
    const grads = sizes.map((n) => tf.tensor1d(rng.normalArray(n).map((v) => v * gradScale)));
    const ra = ops.update(grads, sa, params), rb = fused.update(grads, sb, params);
    // Updates are RMS-normalised (scale ~ η): compare relative to their largest entry per tensor.
    ra.updates.forEach((u, j) => {
      const scale = Math.max(...Array.from(u.dataSync(), Math.abs)) + 1e-30;
      worstUpdate = Math.max(worstUpdate, maxRelDiff([u], [rb.updates[j]], scale));
    });
    worstState = Math.max(worstState, maxRelDiff(stateTensors(ra.state), stateTensors(rb.state), 1e-3));
    const next = params.map((p, j) => tf.add(p, ra.updates[j]));
    tf.dispose([grads, params, ra.updates, rb.updates]);
    disposeState(sa);
    disposeState(sb);
    params = next;
    sa = ra.state;
    sb = rb.state;
  }
  tf.dispose(params);
  disposeState(sa);
  disposeState(sb);
  disposeMetaParams(mp);
  return { worstUpdate, worstState };
}

Deno.test("fused kernel equals the ops path: paper config, full blocks and partial tails", () => {
  // Sizes cover n < 16, multiples of 16 and tails of every length class.
  const config = makeHrnnConfig({ zeroInitLrWeights: false });
  for (const kernel of ENGINES) {
    const r = compare(config, [1, 5, 16, 33, 250, 4099], 4, 3, 0.1, kernel);
    assert.ok(r.worstUpdate < 1e-4, `${kernel}: updates differ by ${r.worstUpdate}`);
    assert.ok(r.worstState < 1e-3, `${kernel}: states differ by ${r.worstState}`);
  }
});

Deno.test("fused kernel equals the ops path with tiny gradients (mean squares below float32 epsilon)", () => {
  // Regression: the built-in wasm Sign returned 0 below 1.19e-7, so the ops path's first-step rule (§2.3)
  // treated every step as the first when all mean squares of a tensor were that small (lib/kernels/sign.ts).
  const config = makeHrnnConfig({ zeroInitLrWeights: false });
  for (const kernel of ENGINES) {
    const r = compare(config, [7, 300, 9000], 4, 5, 1e-6, kernel);
    assert.ok(r.worstUpdate < 1e-4, `${kernel}: updates differ by ${r.worstUpdate}`);
    assert.ok(r.worstState < 1e-3, `${kernel}: states differ by ${r.worstState}`);
  }
});

Deno.test("fused kernel equals the ops path on other configurations (generic kernel)", () => {
  const configs: Partial<HrnnConfig>[] = [
    { numGradientScales: 1, levelSizes: [6] },
    { numGradientScales: 3, useExtremeIndicator: true, useLrShortcut: true, levelSizes: [7, 5] },
    { useMultipleScaleDecays: true, useProblemLrMean: false, globalInput: "mean" },
    { learnableDecay: false, useGradientShortcut: false, useGradProducts: false },
    { dynamicOutputScale: false, useRelativeLr: false, useLogMeansSquared: false, levelSizes: [4, 3, 2] },
  ];
  for (const overrides of configs) {
    const config = makeHrnnConfig({ zeroInitLrWeights: false, ...overrides });
    for (const kernel of ENGINES) {
      const r = compare(config, [3, 40, 301], 3, 3, 0.1, kernel);
      const what = `${kernel} ${JSON.stringify(overrides)}`;
      assert.ok(r.worstUpdate < 1e-4, `${what}: updates differ by ${r.worstUpdate}`);
      assert.ok(r.worstState < 1e-3, `${what}: states differ by ${r.worstState}`);
    }
  }
});

Deno.test("fused kernel: NaN gradients give NaN updates, as on the ops path", () => {
  const config = makeHrnnConfig();
  const mp = createMetaParams(config, 0);
  const params = [tf.ones([20])];
  for (const kernel of ["ops", ...ENGINES] as const) {
    const opt = makeHrnn(mp, config, { kernel });
    const s = opt.init(params);
    const g = tf.tensor1d(Array.from({ length: 20 }, (_, i) => (i === 7 ? NaN : 0.5)));
    const r = opt.update([g], s, params);
    assert.ok(Number.isNaN(r.updates[0].dataSync()[7]), `${kernel}: NaN gradient entry gives a NaN update`);
    tf.dispose([g, r.updates]);
    disposeState(s);
    disposeState(r.state);
  }
  tf.dispose(params);
  disposeMetaParams(mp);
});

Deno.test("kernel 'auto' is differentiable while a gradient is recorded (the taped fused kernel)", () => {
  const config = makeHrnnConfig();
  const mp = createMetaParams(config, 0);
  const opt = makeHrnn(mp, config, { seed: 1 });
  const params = [tf.tensor1d([0.5, -1, 2, 3])];
  const grads = [tf.tensor1d([0.1, -0.2, 0.3, 0.05])];
  const s0 = opt.init(params);
  const s1 = tf.tidy(() => opt.update(grads, s0, params).state);
  // Meta-gradient of the second step's update w.r.t. the update readout: exists and is non-zero.
  const w = mp["readout/update_w"];
  const dw = tf.grad((x: tf.Tensor) => {
    const shifted = { ...mp, "readout/update_w": x };
    const o2 = makeHrnn(shifted, config, { seed: 1 });
    return tf.sum(tf.square(o2.update(grads, s1, params).updates[0]));
  })(w);
  assert.ok(dw.dataSync().some((v) => v !== 0 && Number.isFinite(v)), "meta-gradient flows through 'auto'");
  tf.dispose([params, grads, dw]);
  disposeState(s0);
  disposeState(s1);
  disposeMetaParams(mp);
});

Deno.test("fused kernel follows a meta-parameter replaced in place (Variable.assign)", () => {
  // A single initial learning rate, so every init() gives the same state.
  const config = makeHrnnConfig({ zeroInitLrWeights: false, initLrRange: [1e-2, 1e-2] });
  const mp = createMetaParams(config, 0);
  const v = tf.variable(mp["readout/update_w"]);
  const live = { ...mp, "readout/update_w": v };
  const fused = makeHrnn(live, config, { seed: 1, kernel: "fused" });
  const ops = makeHrnn(live, config, { seed: 1, kernel: "ops" });
  const params = [tf.tensor1d([0.5, -1, 2, 3, 1])];
  const grads = [tf.tensor1d([0.1, -0.2, 0.3, 0.05, 1])];
  const first = fused.update(grads, fused.init(params), params).updates[0].arraySync() as number[];
  v.assign(tf.neg(v));
  const sf = fused.init(params), so = ops.init(params);
  const second = fused.update(grads, sf, params).updates[0].arraySync() as number[];
  const expect = ops.update(grads, so, params).updates[0].arraySync() as number[];
  assert.notDeepEqual(second, first);
  second.forEach((x, i) => assert.ok(Math.abs(x - expect[i]) < 1e-5 * (Math.abs(expect[i]) + 1e-3)));
  disposeMetaParams(mp);
  v.dispose();
});

Deno.test("kernel option errors are clear", () => {
  assert.equal(fusedLoadError(), null, "the kernel loads on the wasm backend");
  assert.equal(fusedAvailable(), true);
  const attention = makeHrnnConfig({ useAttention: true });
  assert.match(fusedUnsupportedReason(attention) ?? "", /attention/);
  const mpA = createMetaParams(attention, 0);
  assert.throws(() => makeHrnn(mpA, attention, { kernel: "fused" }), /cannot run this config: attention/);
  // "auto" falls back to ops for attention.
  const auto = makeHrnn(mpA, attention, { kernel: "auto" });
  const params = [tf.ones([3])];
  const s = auto.init(params);
  const r = auto.update([tf.ones([3])], s, params);
  assert.equal(r.updates.length, 1);
  disposeMetaParams(mpA);
  const config = makeHrnnConfig();
  const mp = createMetaParams(config, 0);
  assert.throws(
    () => makeHrnn(mp, config, { kernel: "fast" as "ops" }),
    /"auto", "ops", "fused", "native" or "webgpu"/,
  );
  disposeMetaParams(mp);
});

Deno.test("kernel 'fused' on a non-wasm backend is a clear error; 'auto' falls back", async () => {
  await initBackend("cpu");
  try {
    const config = makeHrnnConfig();
    const mp = createMetaParams(config, 0);
    const params = [tf.ones([5])];
    const fused = makeHrnn(mp, config, { kernel: "fused" });
    const s = fused.init(params);
    assert.throws(() => fused.update([tf.ones([5])], s, params), /needs the wasm backend \(active: cpu\)/);
    const auto = makeHrnn(mp, config);
    const r = auto.update([tf.ones([5])], auto.init(params), params);
    assert.ok(r.updates[0].dataSync().every(Number.isFinite));
    disposeMetaParams(mp);
  } finally {
    await initBackend("wasm");
  }
});

Deno.test("the committed kernel module was built from the current C sources", async () => {
  assert.equal(
    SOURCE_SHA256,
    await kernelSourceHash(),
    "the kernel's C sources changed: run `deno task build-kernel` and commit the result",
  );
});

Deno.test("the kernel module has no data section (it shares the tfjs heap) and imports only env.memory", async () => {
  const { decodeBase64 } = await import("../../../models/hrnn/kernel/encoding.ts");
  const { WASM_BASE64, STACK_BYTES } = await import("../../../models/hrnn/kernel/hrnn_coords_wasm.ts");
  const { sectionIds } = await import("../../../models/hrnn/kernel/build.ts");
  const bytes = decodeBase64(WASM_BASE64);
  assert.ok(!sectionIds(bytes).includes(11), "no data section");
  assert.ok(sectionIds(bytes).includes(10), "has a code section (the parser works)");
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>));
  assert.deepEqual(imports.map((i) => `${i.module}.${i.name}:${i.kind}`), ["env.memory:memory"]);
  assert.ok(STACK_BYTES > 0 && STACK_BYTES < 1 << 20, `stack frames ${STACK_BYTES} bytes`);
});

Deno.test("checkInHeap refuses a tensor of the wrong size or outside the heap (the native kernel's guard)", async () => {
  const { checkInHeap } = await import("../../../models/hrnn/fused_instance.ts");
  const backend = tf.backend() as unknown as Parameters<typeof checkInHeap>[0];
  const heapBytes = (backend as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  const t = tf.zeros([3, 5]);
  checkInHeap(backend, t, 15, heapBytes);
  assert.throws(() => checkInHeap(backend, t, 16, heapBytes), /expected 16 floats/);
  assert.throws(() => checkInHeap(backend, t, 15, 64), /refusing to run/);
  assert.throws(() => checkInHeap(backend, undefined, 15, heapBytes), /missing/);
  t.dispose();
});
