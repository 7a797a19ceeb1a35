/**
 * Example: the learned optimizer from your own meta-training run. Run meta-training first, e.g.
 * `deno task pipeline meta-train --profile smoke`; then pass the artifact folder it printed
 * (`results/artifacts/meta-train/<key>`) or its `hrnn.weights`:
 *
 * ```sh
 * deno run --node-modules-dir=auto --allow-read --allow-env --allow-ffi examples/own_weights.ts results/artifacts/meta-train/<key>
 * ```
 *
 * Prints where the weights came from, then trains a small classifier with them through `model.fit`, and one
 * JSON line.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { loadLearnedOptimizer, toTfOptimizer } from "../mod.ts";

const path = Deno.args[0];
if (!path) {
  console.error("usage: examples/own_weights.ts META_TRAIN_ARTIFACT_DIR | WEIGHTS_FILE");
  Deno.exit(2);
}
let learned;
try {
  learned = await loadLearnedOptimizer(path);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  Deno.exit(2);
}
const p = learned.provenance;
console.log(
  `weights: profile ${p.profile}, ${p.metaTraining?.metaSteps} meta-steps, commit ${
    p.gitCommit ?? "unknown"
  }, ` +
    `created ${p.createdAt}`,
);

// Two Gaussian blobs in 2-D, labels 0/1.
const x = tf.concat([
  tf.randomNormal([128, 2], -1, 1, "float32", 1),
  tf.randomNormal([128, 2], 1, 1, "float32", 2),
]);
const y = tf.concat([tf.zeros([128, 1]), tf.ones([128, 1])]);
const model = tf.sequential({
  layers: [
    tf.layers.dense({ units: 16, inputShape: [2], activation: "tanh", kernelInitializer: "glorotUniform" }),
    tf.layers.dense({ units: 1, activation: "sigmoid" }),
  ],
});
const optimizer = toTfOptimizer(learned.optimizer);
model.compile({ optimizer, loss: "binaryCrossentropy" });
const h = await model.fit(x, y, { epochs: 20, batchSize: 32, verbose: 0 });
const losses = h.history.loss as number[];
console.log(`loss per epoch: ${losses.map((l) => l.toFixed(4)).join(", ")}`);
console.log(JSON.stringify({ profile: p.profile, first: losses[0], last: losses[losses.length - 1] }));
optimizer.dispose();
learned.dispose();
