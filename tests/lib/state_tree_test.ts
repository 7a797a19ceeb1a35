import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { decodeTree, encodeTree, treeLeaves, treeTensors } from "../../lib/state_tree.ts";

await initBackend();

Deno.test("treeLeaves: every leaf with its path, in treeTensors' order", () => {
  const a = tf.tensor1d([1]), b = tf.tensor1d([2]), c = tf.scalar(3);
  const tree = { m: [a, b], step: 4, inner: { v: c } };
  const leaves = treeLeaves(tree);
  assert.deepEqual(leaves.map(([p]) => p), ["m/0", "m/1", "step", "inner/v"]);
  assert.deepEqual(leaves.filter(([, l]) => l instanceof tf.Tensor).map(([, l]) => l), treeTensors(tree));
  assert.equal(leaves[2][1], 4);
  tf.dispose([a, b, c]);
});

Deno.test("encodeTree / decodeTree round-trip tensors bit for bit and non-finite numbers", () => {
  const t = tf.tensor1d([0.1, -3e-39, NaN]);
  const back = decodeTree(encodeTree({ s: [t, Infinity] })) as { s: [tf.Tensor, number] };
  assert.deepEqual(
    new Uint8Array(back.s[0].dataSync().buffer),
    new Uint8Array(t.dataSync().buffer),
  );
  assert.equal(back.s[1], Infinity);
  tf.dispose([t, back.s[0]]);
});
