/**
 * Batch normalization over the channel (last) axis as a tfjs layer, with an optional scale γ.
 *
 * Needed because tfjs-layers 4.22's `tf.layers.batchNormalization` with `scale: false` fails in training
 * mode (its training branch reads γ unconditionally: "Cannot read properties of undefined (reading 'read')"),
 * and Inception V3 uses batch norm without scale (TF-slim's `inception_arg_scope`, Keras' `InceptionV3`).
 *
 * Weights, in Keras order: `gamma` (trainable, only with `scale`), `beta` (trainable, only with `center`),
 * `moving_mean`, `moving_variance` (not trainable). Training mode normalizes with the batch mean and (biased)
 * variance over [B, H, W], gradients flowing through both, and updates the moving statistics as
 * `m ← decay·m + (1 − decay)·batch` (the variance with Bessel's correction n/(n−1), as TensorFlow's fused batch
 * norm does). Inference mode uses the moving statistics.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Options of {@link BatchNorm}. */
export interface BatchNormArgs {
  /** Decay of the moving statistics (slim's `decay`, Keras' `momentum`); default 0.99. */
  decay?: number;
  /** Added to the variance before the square root; default 1e-3. */
  epsilon?: number;
  /** Learn an offset β (default true). */
  center?: boolean;
  /** Learn a scale γ (default true). */
  scale?: boolean;
  /** Layer name. */
  name?: string;
}

/**
 * Channel-wise batch normalization layer (see the module doc).
 *
 * @example
 * ```ts
 * const input = tf.input({ shape: [32, 32, 16] });
 * const y = new BatchNorm({ scale: false, decay: 0.9997, epsilon: 1e-3 }).apply(input) as tf.SymbolicTensor;
 * ```
 */
export class BatchNorm extends tf.layers.Layer {
  /** Serialization name. */
  static className = "LoptBatchNorm";
  /** Decay of the moving statistics. */
  readonly decay: number;
  /** Variance epsilon. */
  readonly epsilon: number;
  /** Whether β is learned. */
  readonly center: boolean;
  /** Whether γ is learned. */
  readonly scale: boolean;
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;
  private movingMean!: tf.LayerVariable;
  private movingVariance!: tf.LayerVariable;

  /** Creates the layer; weights are made when it is first applied. */
  constructor(args: BatchNormArgs = {}) {
    super({ name: args.name });
    this.decay = args.decay ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
    this.supportsMasking = true;
  }

  /** Makes γ / β / moving statistics of the channel count. */
  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const dim = shape[shape.length - 1];
    if (dim === null) throw new Error(`BatchNorm ${this.name}: the channel dimension must be known.`);
    if (this.scale) {
      this.gamma = this.addWeight("gamma", [dim], "float32", tf.initializers.ones(), undefined, true);
    }
    if (this.center) {
      this.beta = this.addWeight("beta", [dim], "float32", tf.initializers.zeros(), undefined, true);
    }
    this.movingMean = this.addWeight(
      "moving_mean",
      [dim],
      "float32",
      tf.initializers.zeros(),
      undefined,
      false,
    );
    this.movingVariance = this.addWeight(
      "moving_variance",
      [dim],
      "float32",
      tf.initializers.ones(),
      undefined,
      false,
    );
    this.built = true;
  }

  /** Same shape as the input. */
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  /** Normalizes; in training mode also updates the moving statistics. */
  // deno-lint-ignore no-explicit-any
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, any>): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const dim = x.shape[x.shape.length - 1];
      // tfjs 4.22's batchNorm gradient fails on an absent scale or offset: pass constants instead.
      const gamma = this.gamma?.read() ?? tf.ones([dim]);
      const beta = this.beta?.read() ?? tf.zeros([dim]);
      if (!kwargs["training"]) {
        return tf.batchNorm(x, this.movingMean.read(), this.movingVariance.read(), beta, gamma, this.epsilon);
      }
      const axes = x.shape.map((_, i) => i).slice(0, -1);
      const { mean, variance } = tf.moments(x, axes);
      const y = tf.batchNorm(x, mean, variance, beta, gamma, this.epsilon);
      const n = x.size / dim;
      const d = this.decay;
      tf.tidy(() => {
        const m = this.movingMean.read();
        const v = this.movingVariance.read();
        const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
        this.movingMean.write(tf.add(tf.mul(m, d), tf.mul(mean, 1 - d)));
        this.movingVariance.write(tf.add(tf.mul(v, d), tf.mul(unbiased, 1 - d)));
      });
      return y;
    });
  }

  /** Serializable config. */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      decay: this.decay,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
    };
  }
}
tf.serialization.registerClass(BatchNorm);
