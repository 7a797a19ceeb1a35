/**
 * Shared building blocks of the ImageNet architectures (`inception_v3.ts`, `resnet_v2.ts`): channel-depth
 * scaling by a width multiplier (TF-slim's `depth_multiplier` / `min_depth` rule), option validation, and a
 * deterministic source of initializer seeds.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";

/**
 * TF-slim's depth rule: `max(floor(depth · widthMultiplier), minDepth)`. At width 1 every published depth is
 * returned unchanged (published depths are ≥ 16).
 *
 * @example
 * ```ts
 * scaledDepth(64, 0.5, 16); // 32
 * scaledDepth(64, 0.1, 16); // 16
 * ```
 */
export function scaledDepth(depth: number, widthMultiplier: number, minDepth: number): number {
  return Math.max(Math.floor(depth * widthMultiplier), minDepth);
}

/**
 * Throws a message telling the user what to pass when `value` is not a positive finite number.
 *
 * @example
 * ```ts
 * checkPositive("resnetV2 widthMultiplier", 0.5, "Use 1 for the published network."); // passes; 0 would throw
 * ```
 */
export function checkPositive(name: string, value: number, hint: string): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number, got ${value}. ${hint}`);
  }
}

/**
 * Throws a message telling the user what to pass when `value` is not an integer ≥ `min`.
 *
 * @example
 * ```ts
 * checkInteger("resnetV2 numClasses", 1000, 1, "Pass the number of classes, e.g. 1000."); // passes; 2.5 would throw
 * ```
 */
export function checkInteger(name: string, value: number, min: number, hint: string): void {
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer ≥ ${min}, got ${value}. ${hint}`);
  }
}

/**
 * Hands out one 32-bit seed per initializer, drawn from an {@link Rng} seeded by the model's `seed` option,
 * so that building the same architecture with the same seed gives the same initial weights.
 *
 * @example
 * ```ts
 * const seeds = new SeedStream(0);
 * const conv = tf.layers.conv2d({ filters: 64, kernelSize: 3, kernelInitializer: seeds.he() });
 * ```
 */
export class SeedStream {
  #rng: Rng;

  /** Starts the stream from an integer seed. */
  constructor(seed: number) {
    this.#rng = new Rng(seed);
  }

  /** The next initializer seed. */
  next(): number {
    return this.#rng.nextU32();
  }

  /**
   * He (variance-scaling, fan-in, scale 2, truncated normal) initializer — TF-slim's
   * `variance_scaling_initializer()` default used by both inception and resnet arg scopes.
   */
  he(): ReturnType<typeof tf.initializers.varianceScaling> {
    return tf.initializers.varianceScaling({
      scale: 2,
      mode: "fanIn",
      distribution: "truncatedNormal",
      seed: this.next(),
    });
  }

  /** Truncated normal initializer with the given standard deviation (TF-slim `trunc_normal(stddev)`). */
  truncNormal(stddev: number): ReturnType<typeof tf.initializers.truncatedNormal> {
    return tf.initializers.truncatedNormal({ mean: 0, stddev, seed: this.next() });
  }
}
