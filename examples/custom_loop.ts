/**
 * Example: a training loop of your own with the learned optimizer's pure `init` / `update` (no `tf.Optimizer`):
 * a small two-layer regression, full batch. Prints the loss every few steps, and one JSON line.
 *
 * ```sh
 * deno run --node-modules-dir=auto --allow-read --allow-env --allow-ffi examples/custom_loop.ts --steps 200
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { loadPretrained, type OptState } from "../mod.ts";

const { values } = parseArgs({ args: Deno.args, options: { steps: { type: "string", default: "200" } } });
const steps = Number(values.steps);

const { optimizer, dispose } = await loadPretrained({ seed: 0 });

// Data: y = sin(x·w*) for a fixed w*, 256 points in 8 dimensions.
const x = tf.randomNormal([256, 8], 0, 1, "float32", 1);
const y = tf.sin(tf.matMul(x, tf.randomNormal([8, 1], 0, 1, "float32", 2)));
// Parameters are plain tensors that this loop owns.
let params: tf.Tensor[] = [
  tf.randomNormal([8, 32], 0, 0.3, "float32", 3),
  tf.zeros([32]),
  tf.randomNormal([32, 1], 0, 0.3, "float32", 4),
  tf.zeros([1]),
];
const lossOf = (p: tf.Tensor[]) =>
  tf.losses.meanSquaredError(y, tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, p[0]), p[1])), p[2]), p[3]));

const valueAndGrads = tf.valueAndGrads((...p: tf.Tensor[]) => lossOf(p));

let state: OptState = optimizer.init(params);
const losses: number[] = [];
for (let step = 0; step <= steps; step++) {
  const { value, grads } = valueAndGrads(params);
  losses.push(value.dataSync()[0]);
  if (step % 50 === 0) console.log(`step ${step}: loss ${losses[step].toFixed(5)}`);
  if (step === steps) break;
  // update() is pure: it returns additive updates and a new state, and leaves its inputs alone.
  const { updates, state: next } = optimizer.update(grads, state, params);
  const newParams = params.map((p, i) => tf.add(p, updates[i]));
  tf.dispose([value, ...grads, ...updates, ...params]);
  disposeState(state, next);
  params = newParams;
  state = next;
}
console.log(JSON.stringify({ steps, first: losses[0], last: losses[losses.length - 1] }));
tf.dispose(params);
disposeState(state, 0);
dispose();

/** Frees the tensors of `old` that `keep` does not hold. */
function disposeState(old: OptState, keep: OptState): void {
  const kept = new Set(tensorsOf(keep));
  for (const t of tensorsOf(old)) if (!kept.has(t)) t.dispose();
}

function tensorsOf(s: OptState): tf.Tensor[] {
  if (s instanceof tf.Tensor) return [s];
  if (typeof s === "number") return [];
  return (Array.isArray(s) ? s : Object.values(s)).flatMap(tensorsOf);
}
