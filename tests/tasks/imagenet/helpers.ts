// Shared pieces of the tests of tasks/imagenet/.
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../lib/rng.ts";

/** A seeded batch of `n` images of `size` px with labels 0..classes-1. */
export function batch(
  seed: number,
  n: number,
  size: number,
  classes: number,
): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const rng = new Rng(seed);
  const x = tf.tensor4d(rng.normalArray(n * size * size * 3), [n, size, size, 3]);
  const y = tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), "int32");
  return { x, y };
}
