/**
 * Tests of lopt's wasm kernels (`lib/kernels/`): each kernel against the cpu backend's kernel on random
 * inputs over strides, paddings, dilations and shapes; dilated depthwise gradients against the adjoint of
 * the wasm forward convolution (the cpu backprop kernels ignore dilation); and the gradient of a small
 * ConvNet (conv2d, depthwise conv, max/avg pooling, concat, batch norm, gather) on wasm against cpu.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { registerWasmKernels, WASM_KERNELS } from "../../lib/kernels/mod.ts";
import { Rng } from "../../lib/rng.ts";

tf.enableProdMode();

type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];
const PADS: Pad[] = ["same", "valid", [[0, 0], [1, 2], [0, 1], [0, 0]]];
const RTOL = 1e-4;

/** Worst errors seen per kernel, printed at the end for the report. */
const worst = new Map<string, { abs: number; rel: number; cases: number }>();

/** Runs `fn` on `backend` inside a tidy and returns copies of the outputs' data. */
async function onBackend(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(fn);
  const list = Array.isArray(outs) ? outs : [outs];
  const data = list.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(list);
  return data;
}

/**
 * Asserts `actual ≈ expected`: each |a - e| <= RTOL * max(|e|, 0.1 * max|expected|) (relative, with a floor
 * for entries that cancel to near zero). Records the worst absolute and relative (to max|expected|) error.
 */
function assertClose(label: string, what: string, actual: Float32Array, expected: Float32Array, rtol = RTOL) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const e of expected) scale = Math.max(scale, Math.abs(e));
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    maxAbs = Math.max(maxAbs, err);
    const tol = rtol * Math.max(Math.abs(expected[i]), 0.1 * scale) + 1e-7;
    if (!(err <= tol)) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (tolerance ${tol})`);
    }
  }
  const rel = scale > 0 ? maxAbs / scale : maxAbs;
  const w = worst.get(label) ?? { abs: 0, rel: 0, cases: 0 };
  worst.set(label, { abs: Math.max(w.abs, maxAbs), rel: Math.max(w.rel, rel), cases: w.cases + 1 });
}

function padName(p: Pad): string {
  return typeof p === "string" ? p : "explicit";
}

function convOutShape(
  xShape: number[],
  fShape: number[],
  stride: number,
  dilation: number,
  pad: Pad,
  depthwise: boolean,
): number[] {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    fShape as [number, number, number, number],
    stride,
    dilation,
    pad,
    undefined,
    depthwise,
  );
  return info.outShape;
}

function runKernel(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown>,
): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

interface Case {
  what: string;
  xShape: number[];
  fShape: number[];
  stride: number;
  dilation: number;
  pad: Pad;
}

function cases(shapes: Array<[number[], number[]]>, dilations: number[]): Case[] {
  const out: Case[] = [];
  for (const [xShape, fShape] of shapes) {
    for (const stride of [1, 2]) {
      for (const dilation of dilations) {
        if (stride > 1 && dilation > 1) continue; // tfjs: either strides or dilations must be 1
        for (const pad of PADS) {
          out.push({
            what: `x${JSON.stringify(xShape)} f${JSON.stringify(fShape)} s${stride} d${dilation} ${
              padName(pad)
            }`,
            xShape,
            fShape,
            stride,
            dilation,
            pad,
          });
        }
      }
    }
  }
  return out;
}

const CONV_SHAPES: Array<[number[], number[]]> = [
  [[2, 7, 8, 3], [3, 3, 3, 4]],
  [[3, 9, 9, 2], [5, 5, 2, 5]],
  [[1, 6, 5, 1], [2, 3, 1, 8]],
  [[2, 8, 8, 6], [1, 1, 6, 7]],
  [[2, 6, 7, 8], [3, 3, 8, 8]],
  [[1, 10, 9, 3], [3, 3, 3, 200]], // output rows split into cache tiles
];
const DEPTHWISE_SHAPES: Array<[number[], number[]]> = [
  [[2, 7, 8, 3], [3, 3, 3, 1]],
  [[3, 9, 9, 2], [5, 5, 2, 3]],
  [[1, 6, 5, 4], [2, 3, 4, 2]],
];

/** Data for one case, drawn once so both backends see the same numbers. */
function caseData(c: Case, seed: number, depthwise: boolean) {
  const rng = new Rng(seed);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const outShape = convOutShape(c.xShape, c.fShape, c.stride, c.dilation, c.pad, depthwise);
  return {
    x: rng.normalArray(size(c.xShape)),
    f: rng.normalArray(size(c.fShape)),
    dy: rng.normalArray(size(outShape)),
    outShape,
  };
}

Deno.test("wasm kernels", async (t) => {
  registerWasmKernels();
  await tf.setBackend("wasm");
  await tf.ready();

  await t.step("registerWasmKernels registers the kernels wasm lacks, once", () => {
    for (const k of WASM_KERNELS) assert.ok(tf.getKernel(k.kernelName, "wasm"), k.kernelName);
    assert.deepEqual(registerWasmKernels(), []);
  });

  await t.step("initBackend('wasm') registers them through lib/backend.ts", async () => {
    assert.equal(await initBackend("wasm"), "wasm");
    assert.ok(tf.getKernel("Conv2DBackpropFilter", "wasm"));
  });

  await t.step("Conv2DBackpropFilter matches cpu", async () => {
    let seed = 1;
    for (const c of cases(CONV_SHAPES, [1])) {
      const d = caseData(c, seed++, false);
      const run = () =>
        runKernel("Conv2DBackpropFilter", { x: tf.tensor(d.x, c.xShape), dy: tf.tensor(d.dy, d.outShape) }, {
          strides: c.stride,
          pad: c.pad,
          dataFormat: "NHWC",
          dimRoundingMode: undefined,
          filterShape: c.fShape,
        });
      const [expected] = await onBackend("cpu", run);
      const [actual] = await onBackend("wasm", run);
      assertClose("Conv2DBackpropFilter", c.what, actual, expected);
    }
  });

  await t.step("DepthwiseConv2dNativeBackpropFilter / BackpropInput match cpu (dilation 1)", async () => {
    let seed = 100;
    for (const c of cases(DEPTHWISE_SHAPES, [1])) {
      const d = caseData(c, seed++, true);
      const attrs = { strides: c.stride, dilations: c.dilation, pad: c.pad, dimRoundingMode: undefined };
      const run = () => [
        runKernel(
          "DepthwiseConv2dNativeBackpropFilter",
          { x: tf.tensor(d.x, c.xShape), dy: tf.tensor(d.dy, d.outShape) },
          { ...attrs, filterShape: c.fShape },
        ),
        runKernel(
          "DepthwiseConv2dNativeBackpropInput",
          { dy: tf.tensor(d.dy, d.outShape), filter: tf.tensor(d.f, c.fShape) },
          { ...attrs, inputShape: c.xShape },
        ),
      ];
      const expected = await onBackend("cpu", run);
      const actual = await onBackend("wasm", run);
      assertClose("DepthwiseConv2dNativeBackpropFilter", c.what, actual[0], expected[0]);
      assertClose("DepthwiseConv2dNativeBackpropInput", c.what, actual[1], expected[1]);
    }
  });

  await t.step(
    "depthwise backprop kernels are the adjoint of the forward conv (dilations 1, 2)",
    async () => {
      // dW[j] = <conv(x, e_j), dy> and dx[b, i] = <conv(e_i, f), dy[b]>, with the wasm forward kernel.
      await tf.setBackend("wasm");
      let seed = 200;
      for (const c of cases(DEPTHWISE_SHAPES, [1, 2])) {
        const d = caseData(c, seed++, true);
        const attrs = { strides: c.stride, dilations: c.dilation, pad: c.pad, dimRoundingMode: undefined };
        const [gotF, gotX, wantF, wantX] = tf.tidy(() => {
          const x = tf.tensor4d(d.x, c.xShape as [number, number, number, number]);
          const f = tf.tensor4d(d.f, c.fShape as [number, number, number, number]);
          const dy = tf.tensor(d.dy, d.outShape);
          const conv = (xx: tf.Tensor4D, ff: tf.Tensor4D) =>
            tf.depthwiseConv2d(xx, ff, c.stride, c.pad, "NHWC", c.dilation);
          const gotF = runKernel("DepthwiseConv2dNativeBackpropFilter", { x, dy }, {
            ...attrs,
            filterShape: c.fShape,
          });
          const gotX = runKernel("DepthwiseConv2dNativeBackpropInput", { dy, filter: f }, {
            ...attrs,
            inputShape: c.xShape,
          });
          const nF = f.size;
          const wantF = tf.stack(
            Array.from(
              { length: nF },
              (_, j) =>
                tf.sum(tf.mul(conv(x, tf.oneHot(j, nF).toFloat().reshape(c.fShape) as tf.Tensor4D), dy)),
            ),
          );
          const [batch, h, w, ch] = c.xShape;
          const nX = h * w * ch;
          const basis = tf.eye(nX).reshape([nX, h, w, ch]) as tf.Tensor4D;
          const responses = conv(basis, f).reshape([nX, -1]); // [nX, outH*outW*outC]
          const wantX = tf.matMul(dy.reshape([batch, -1]), responses, false, true); // [batch, nX]
          return [gotF, gotX, wantF, wantX];
        });
        const [a, b, e, g] = [gotF, gotX, wantF, wantX].map((v) => Float32Array.from(v.dataSync()));
        tf.dispose([gotF, gotX, wantF, wantX]);
        assertClose("DepthwiseConv2dNativeBackpropFilter (adjoint)", c.what, a, e);
        assertClose("DepthwiseConv2dNativeBackpropInput (adjoint)", c.what, b, g);
      }
    },
  );

  await t.step("UnsortedSegmentSum matches cpu (float32, int32, out-of-range ids)", async () => {
    const rng = new Rng(7);
    const x = rng.normalArray(7 * 3 * 2);
    const xi = Int32Array.from(x, (v) => Math.round(v * 10));
    const ids = Int32Array.from([2, 0, 2, -1, 3, 5, 0]);
    const run = () => [
      tf.unsortedSegmentSum(tf.tensor(x, [7, 3, 2]), tf.tensor1d(ids, "int32"), 4),
      tf.unsortedSegmentSum(tf.tensor(xi, [7, 3, 2], "int32"), tf.tensor1d(ids, "int32"), 4),
    ];
    const expected = await onBackend("cpu", run);
    const actual = await onBackend("wasm", run);
    assertClose("UnsortedSegmentSum", "float32", actual[0], expected[0]);
    assertClose("UnsortedSegmentSum", "int32", actual[1], expected[1]);
  });

  await t.step("gradient of a small ConvNet on wasm equals cpu, and does not leak", async () => {
    const rng = new Rng(11);
    const shapes: Record<string, number[]> = {
      x: [3, 12, 12, 3],
      c1: [3, 3, 3, 4],
      dw: [3, 3, 4, 2],
      c2: [1, 1, 8, 6],
      c3: [3, 3, 4, 6],
      dense: [6 * 3 * 3 * 2, 5],
      emb: [5, 5],
    };
    const init: Record<string, Float32Array> = {};
    for (const [k, s] of Object.entries(shapes)) {
      init[k] = rng.normalArray(s.reduce((a, b) => a * b, 1), 0, k === "x" ? 1 : 0.3);
    }
    const labels = Int32Array.from([1, 4, 2]);
    const names = Object.keys(shapes);
    const net = () => {
      const p = names.map((k) => tf.tensor(init[k], shapes[k]));
      const lab = tf.tensor1d(labels, "int32");
      const f = (...v: tf.Tensor[]) => {
        const [x, c1, dw, c2, c3, dense, emb] = v as [
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor2D,
          tf.Tensor2D,
        ];
        const h1 = tf.relu(tf.conv2d(x, c1, 1, "same")); // [3,12,12,4]
        const a = tf.depthwiseConv2d(h1, dw, 2, "same"); // [3,6,6,8]
        const a2 = tf.maxPool(tf.relu(tf.conv2d(a, c2, 1, "valid")), 2, 2, "valid"); // [3,3,3,6]
        const b = tf.conv2d(h1, c3, 2, "valid"); // [3,5,5,6]
        const b2 = tf.avgPool(tf.avgPool(b, 3, 1, "same"), 3, 1, "valid"); // [3,3,3,6]
        const cat = tf.concat([a2, b2], 3); // [3,3,3,12]
        const { mean, variance } = tf.moments(cat, [0, 1, 2]);
        const bn = tf.batchNorm(cat, mean, variance, tf.zeros([12]), tf.ones([12]), 1e-3);
        const logits = tf.add(tf.matMul(tf.reshape(bn, [3, -1]), dense), tf.gather(emb, lab));
        return tf.losses.softmaxCrossEntropy(tf.oneHot(lab, 5), logits) as tf.Scalar;
      };
      return tf.grads(f)(p);
    };
    const expected = await onBackend("cpu", net);
    const actual = await onBackend("wasm", net);
    names.forEach((k, i) => assertClose("ConvNet gradient", `d loss / d ${k}`, actual[i], expected[i], 1e-3));

    await tf.setBackend("wasm");
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(tf.tidy(net));
    assert.equal(tf.memory().numTensors, before, "tensors leaked by the wasm ConvNet gradient");
  });

  console.log("max errors vs reference (abs, relative to max |expected|):");
  for (const [k, w] of worst) {
    console.log(
      `  ${k}: ${w.cases} cases, max abs ${w.abs.toExponential(2)}, max rel ${w.rel.toExponential(2)}`,
    );
  }
});

Deno.test("wasm Sign is replaced by a correct one (the built-in returns 0 below 1.19e-7)", async () => {
  registerWasmKernels();
  const { signConfig } = await import("../../lib/kernels/sign.ts");
  assert.equal(tf.getKernel("Sign", "wasm")?.kernelFunc, signConfig.kernelFunc);
  const values = [3.7e-12, 1e-7, 1e-6, -1e-9, 0, -0, 1e-30, -2.5, NaN, Infinity, -Infinity];
  const expected = [1, 1, 1, -1, 0, 0, 1, -1, 0, 1, -1];
  for (const backend of ["wasm", "cpu"]) {
    await tf.setBackend(backend);
    const got = Array.from(tf.sign(tf.tensor1d(values)).dataSync());
    assert.deepEqual(got.map((v) => (Object.is(v, -0) ? 0 : v)), expected, backend);
    assert.deepEqual(Array.from(tf.sign(tf.tensor1d([-3, 0, 7], "int32")).dataSync()), [-1, 0, 1], backend);
    assert.equal(tf.sign(tf.tensor1d([-3, 0, 7], "int32")).dtype, "int32");
  }
  await tf.setBackend("wasm");
});
