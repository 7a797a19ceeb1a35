/**
 * Regression tests of the wasm heap guards in `lib/kernels/` (`heap_guard.ts`, `zero_size_guard.ts`).
 *
 * The reported crash (`memory access out of bounds` in `disposeData` while training `convnet_mnist_*`) came
 * from the full-dataset objective: the ConvNet's activations on all 60000 MNIST images need more than the
 * 4 GiB the wasm heap can grow to, tfjs-backend-wasm ignores the NULL that `malloc` then returns, and the
 * kernel writes its output over the allocator's bookkeeping at address 0. These tests check that such an
 * allocation now throws a {@link WasmOutOfMemoryError} and leaves the backend working, and that the
 * zero-size outputs that corrupt the heap the same way (a VALID window larger than its input) are harmless.
 *
 * The large allocations are made with `makeOutput` and never written, so they cost address space, not RAM.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { WASM_HEAP_LIMIT, WasmOutOfMemoryError } from "../../lib/kernels/mod.ts";

tf.enableProdMode();

/** Wasm heap address of a tensor's data. */
function offsetOf(backend: BackendWasm, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}

/** Gradients of a small conv / depthwise / pooling / gather model on the current backend. */
function smallGrads(): Float32Array[] {
  return tf.tidy(() => {
    const wave = (shape: number[], f: number) =>
      tf.tensor(
        Float32Array.from({ length: tf.util.sizeFromShape(shape) }, (_, i) => Math.sin(f * i)),
        shape,
      );
    const x = wave([2, 6, 5, 3], 1);
    const w = wave([3, 3, 3, 4], 0.7);
    const d = wave([2, 2, 3, 2], 3);
    const g = tf.grads((x: tf.Tensor, w: tf.Tensor, d: tf.Tensor) => {
      const a = tf.relu(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"));
      const b = tf.depthwiseConv2d(x as tf.Tensor4D, d as tf.Tensor4D, 2, "valid");
      const p = tf.maxPool(a, 2, 2, "same");
      const rows = tf.gather(tf.reshape(x, [12, 15]), tf.tensor1d([0, 3, 3, 11], "int32"));
      return tf.addN([tf.sum(tf.square(p)), tf.sum(tf.tanh(b)), tf.sum(tf.square(rows))]);
    })([x, w, d]);
    return g.map((t) => Float32Array.from(t.dataSync()));
  });
}

function assertGradsClose(actual: Float32Array[], expected: Float32Array[]): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.equal(actual[i].length, expected[i].length);
    for (let j = 0; j < expected[i].length; j++) {
      const tol = 1e-4 * Math.max(1, Math.abs(expected[i][j]));
      assert.ok(
        Math.abs(actual[i][j] - expected[i][j]) <= tol,
        `grad ${i}[${j}]: wasm ${actual[i][j]}, cpu ${expected[i][j]}`,
      );
    }
  }
}

Deno.test("wasm heap guards", async (t) => {
  await initBackend("wasm");
  const backend = tf.backend() as unknown as BackendWasm;
  await tf.setBackend("cpu");
  const expected = smallGrads();
  await tf.setBackend("wasm");
  const tensorsBefore = tf.memory().numTensors;

  await t.step("an op whose output exceeds 4 GiB throws WasmOutOfMemoryError (no 32-bit wrap-around)", () => {
    // [32768, 1] x [1, 32768] float32 = 4 GiB: the byte count would wrap to 0 before reaching malloc.
    const n = 32768;
    assert.throws(
      () => tf.tidy(() => tf.matMul(tf.ones([n, 1]), tf.ones([1, n]))),
      (e: unknown) => e instanceof WasmOutOfMemoryError && e.requestedBytes === WASM_HEAP_LIMIT,
    );
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });

  await t.step("filling the 4 GiB heap throws WasmOutOfMemoryError instead of handing out address 0", () => {
    const chunk = 2 ** 28; // 1 GiB of float32, never written
    const held: tf.TensorInfo[] = [];
    let error: unknown;
    try {
      for (let i = 0; i < 5 && error === undefined; i++) {
        try {
          const out = backend.makeOutput([chunk], "float32");
          held.push(out);
          assert.notEqual(offsetOf(backend, out), 0, `allocation #${i} got wasm address 0 (malloc failed)`);
        } catch (e) {
          if (e instanceof assert.AssertionError) throw e;
          error = e;
        }
      }
    } finally {
      for (const out of held) backend.disposeData(out.dataId);
    }
    assert.ok(error instanceof WasmOutOfMemoryError, `expected WasmOutOfMemoryError, got ${error}`);
    assert.match(error.message, /smaller batches/);
  });

  await t.step("the backend still computes correct gradients after the failures", () => {
    for (let i = 0; i < 3; i++) assertGradsClose(smallGrads(), expected);
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });

  await t.step("zero-size conv / depthwise / pooling outputs leave the heap intact", () => {
    // A 4x4 VALID window with stride 2 over a 5x3 image has output width 0.
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 5 * 3 * 4 }, (_, i) => i % 7), [2, 5, 3, 4]);
    const ops: Array<[string, () => tf.Tensor]> = [
      ["conv2d", () => tf.conv2d(x, tf.ones([4, 4, 4, 6]), 2, "valid")],
      ["depthwiseConv2d", () => tf.depthwiseConv2d(x, tf.ones([4, 4, 4, 3]), 2, "valid")],
      ["maxPool", () => tf.maxPool(x, 4, 2, "valid")],
      ["avgPool", () => tf.avgPool(x, 4, 2, "valid")],
    ];
    for (const [name, op] of ops) {
      for (let i = 0; i < 20; i++) {
        const y = tf.tidy(() => tf.add(op(), 1));
        assert.equal(y.size, 0, name);
        assert.equal(y.shape[2], 0, name);
        y.dispose();
        tf.tidy(() => tf.randomNormal([4096]).dataSync());
      }
    }
    x.dispose();
    assertGradsClose(smallGrads(), expected);
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });
});
