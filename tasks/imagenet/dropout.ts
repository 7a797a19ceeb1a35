/**
 * Dropout whose mask changes from call to call yet is reproducible from a seed.
 *
 * tfjs-layers 4.22's `tf.layers.dropout({seed})` passes the same seed to every call, so a seeded layer drops
 * the SAME units at every training step; unseeded, it draws from `Math.random` (not reproducible). This layer
 * draws a fresh seed per training call from an `Rng` (lib/rng.ts) seeded at construction, so a run is
 * reproducible and the masks still differ between steps. Inference mode is the identity.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";

/** Options of {@link SeededDropout}. */
export interface SeededDropoutArgs {
  /** Fraction of units dropped in training mode, in [0, 1). */
  rate: number;
  /** Seed of the stream of per-call mask seeds. */
  seed: number;
  /** Layer name. */
  name?: string;
}

/**
 * Inverted dropout with a reproducible, per-call mask (see the module doc).
 *
 * @example
 * ```ts
 * const dropout = new SeededDropout({ rate: 0.2, seed: 0 });
 * const y = dropout.apply(tf.ones([4, 8]), { training: true }) as tf.Tensor; // new mask each call
 * ```
 */
export class SeededDropout extends tf.layers.Layer {
  /** Serialization name. */
  static className = "LoptSeededDropout";
  /** Fraction of units dropped in training mode. */
  readonly rate: number;
  /** Seed the layer was built with. */
  readonly seed: number;
  #rng: Rng;

  /** Creates the layer; throws when `rate` is outside [0, 1). */
  constructor(args: SeededDropoutArgs) {
    super({ name: args.name });
    if (!(args.rate >= 0 && args.rate < 1)) {
      throw new Error(`SeededDropout rate must be in [0, 1), got ${args.rate}.`);
    }
    this.rate = args.rate;
    this.seed = args.seed;
    this.#rng = new Rng(args.seed);
  }

  /** Same shape as the input. */
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  /** Drops units in training mode (fresh mask each call); identity otherwise. */
  // deno-lint-ignore no-explicit-any
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, any>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs["training"] || this.rate === 0) return tf.clone(x);
    return tf.dropout(x, this.rate, undefined, this.#rng.nextU32());
  }

  /** Serializable config. */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(SeededDropout);
