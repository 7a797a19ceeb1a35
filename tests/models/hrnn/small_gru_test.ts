import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { biasGruCell, type GruWeights } from "../../../models/hrnn/gru.ts";
import { smallGruCell } from "../../../models/hrnn/small_gru.ts";

await initBackend("wasm");

/** max|a − b| / max|a| over two tensors. */
function rel(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.dataSync(), y = b.dataSync();
  let s = 0, d = 0;
  for (let i = 0; i < x.length; i++) {
    s = Math.max(s, Math.abs(x[i]));
    d = Math.max(d, Math.abs(x[i] - y[i]));
  }
  return d / (s + 1e-30);
}

Deno.test("smallGruCell equals biasGruCell in value and in the gradient w.r.t. every input", () => {
  const rng = new Rng(2);
  const before = tf.memory().numTensors;
  for (const [b, d, n, biasRows] of [[3, 7, 5, 1], [1, 20, 20, 0], [4, 22, 20, 1]]) {
    const t = (shape: number[], s = 0.5) =>
      tf.tensor(rng.normalArray(shape.reduce((p, q) => p * q, 1)).map((v) => v * s), shape);
    const xs = [t([b, d]), t([b, n]), t([d + n, 2 * n]), t([2 * n]), t([d + n, n]), t([n])];
    if (biasRows) xs.push(t([biasRows, 3 * n]));
    const w = (v: tf.Tensor[]): GruWeights => ({ gatesW: v[2], gatesB: v[3], candW: v[4], candB: v[5] });
    const probe = t([b, n], 1);
    const fOf = (cell: typeof biasGruCell) => (...v: tf.Tensor[]) =>
      tf.sum(
        tf.mul(
          cell(w(v), v[0] as tf.Tensor2D, v[1] as tf.Tensor2D, (v[6] ?? null) as tf.Tensor2D | null),
          probe,
        ),
      )
        .mul(1) as tf.Scalar;
    const va = tf.tidy(() =>
      biasGruCell(
        w(xs),
        xs[0] as tf.Tensor2D,
        xs[1] as tf.Tensor2D,
        (xs[6] ?? null) as tf.Tensor2D | null,
      )
    );
    const vb = smallGruCell(
      w(xs),
      xs[0] as tf.Tensor2D,
      xs[1] as tf.Tensor2D,
      (xs[6] ?? null) as tf.Tensor2D | null,
    );
    assert.ok(rel(va, vb) < 1e-6, `value differs by ${rel(va, vb)}`);
    const ga = tf.grads(fOf(biasGruCell))(xs), gb = tf.grads(fOf(smallGruCell))(xs);
    ga.forEach((g, i) => assert.ok(rel(g, gb[i]) < 1e-5, `[${b},${d},${n}] input ${i}: ${rel(g, gb[i])}`));
    tf.dispose([...xs, probe, va, vb, ...ga, ...gb]);
  }
  assert.equal(tf.memory().numTensors, before);
});
