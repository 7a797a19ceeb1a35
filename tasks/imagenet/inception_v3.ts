/**
 * Inception V3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision") as a
 * `tf.LayersModel`, written from the published definition (TF-slim `nets/inception_v3.py`).
 *
 * Every convolution is conv (no bias) → batch norm without scale (γ ≡ 1; β, moving mean and variance;
 * ε 0.001, decay 0.9997, as in slim's `inception_arg_scope`; the `BatchNorm` layer of `batch_norm.ts`, since
 * tfjs' own cannot train without scale) → ReLU. Layout:
 *
 * | block | output at 299 px |
 * |---|---|
 * | stem: Conv2d_1a_3x3/2, 2a_3x3, 2b_3x3, MaxPool_3a/2, 3b_1x1, 4a_3x3, MaxPool_5a/2 | 35×35×192 |
 * | Mixed_5b, 5c, 5d (1×1 / 5×5 / double 3×3 / avg-pool branches) | 35×35×288 |
 * | Mixed_6a (grid reduction) | 17×17×768 |
 * | Mixed_6b–6e (factorized 1×7 / 7×1 branches, 128/160/160/192 inner depth) | 17×17×768 |
 * | Mixed_7a (grid reduction) | 8×8×1280 |
 * | Mixed_7b, 7c (expanded 1×3 / 3×1 filter banks) | 8×8×2048 |
 * | global average pool → [dropout] → dense logits (bias) | numClasses |
 *
 * Deviations, none of which changes a parameter count: logits are a dense layer on the globally pooled
 * features (slim: a 1×1 conv after an 8×8 average pool, which is the same map at 299 px, and which also works
 * for other input sizes here); dropout is off unless `dropout` is given (slim trains with rate 0.2 —
 * `dropout_keep_prob=0.8`; Keras' InceptionV3 has none) and then uses `SeededDropout` (`dropout.ts`: a fresh,
 * reproducible mask per step). Logits get the He initializer of slim's arg scope.
 *
 * Parameter count at width 1, 1000 classes, no aux head: 23,851,784 in total (23,817,352 trainable plus
 * 34,432 batch-norm moving statistics), exactly Keras' `InceptionV3(include_top=True)`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { BatchNorm } from "./batch_norm.ts";
import { SeededDropout } from "./dropout.ts";
import { checkInteger, checkPositive, scaledDepth, SeedStream } from "./common.ts";

/** Smallest input size Inception V3 accepts: below 75 px the valid-padded reductions run out of pixels. */
export const INCEPTION_V3_MIN_INPUT = 75;

/** Smallest input size with the auxiliary head: Mixed_6e must be at least 5×5 for its 5×5 average pool. */
export const INCEPTION_V3_MIN_INPUT_AUX = 107;

/** Options of {@link inceptionV3}. */
export interface InceptionV3Options {
  /** Number of output classes (default 1000). */
  numClasses?: number;
  /** Channel-depth multiplier, slim's `depth_multiplier` (default 1 = the published network). */
  widthMultiplier?: number;
  /** Smallest depth of any convolution after scaling, slim's `min_depth` (default 16). */
  minDepth?: number;
  /** Height = width of the input images in pixels, ≥ {@link INCEPTION_V3_MIN_INPUT} (default 299). */
  inputSize?: number;
  /**
   * Adds slim's auxiliary classifier on Mixed_6e as a second model output (default false). Needs
   * `inputSize` ≥ {@link INCEPTION_V3_MIN_INPUT_AUX}.
   */
  auxLogits?: boolean;
  /** Dropout rate before the logits (slim trains with 0.2); omitted or 0: no dropout layer. */
  dropout?: number;
  /** Seed of all weight initializers and of dropout (default 0). */
  seed?: number;
}

type Sym = tf.SymbolicTensor;

interface ConvOpts {
  strides?: number;
  padding?: "same" | "valid";
}

/** Builds the graph; holds the width rule and the seed stream. */
class Builder {
  readonly seeds: SeedStream;
  constructor(readonly widthMultiplier: number, readonly minDepth: number, seed: number) {
    this.seeds = new SeedStream(seed);
  }

  depth(d: number): number {
    return scaledDepth(d, this.widthMultiplier, this.minDepth);
  }

  /** conv (no bias) → batch norm (no scale) → ReLU, slim's `conv2d` under `inception_arg_scope`. */
  conv(
    x: Sym,
    depth: number,
    kernel: [number, number],
    name: string,
    opts: ConvOpts = {},
    init = this.seeds.he(),
  ): Sym {
    const conv = tf.layers.conv2d({
      filters: this.depth(depth),
      kernelSize: kernel,
      strides: opts.strides ?? 1,
      padding: opts.padding ?? "same",
      useBias: false,
      kernelInitializer: init,
      name: `${name}/conv`,
    });
    const bn = new BatchNorm({
      decay: 0.9997,
      epsilon: 0.001,
      center: true,
      scale: false,
      name: `${name}/BatchNorm`,
    });
    const relu = tf.layers.activation({ activation: "relu", name: `${name}/relu` });
    return relu.apply(bn.apply(conv.apply(x))) as Sym;
  }

  maxPool(x: Sym, size: number, stride: number, padding: "same" | "valid", name: string): Sym {
    return tf.layers.maxPooling2d({ poolSize: size, strides: stride, padding, name }).apply(x) as Sym;
  }

  avgPool(x: Sym, size: number, stride: number, padding: "same" | "valid", name: string): Sym {
    return tf.layers.averagePooling2d({ poolSize: size, strides: stride, padding, name }).apply(x) as Sym;
  }

  concat(xs: Sym[], name: string): Sym {
    return tf.layers.concatenate({ axis: -1, name }).apply(xs) as Sym;
  }
}

/** Mixed_5b/5c/5d: 1×1, 1×1→5×5, 1×1→3×3→3×3 and avg-pool→1×1 branches (35×35 grid). */
function mixed5(b: Builder, x: Sym, name: string, poolDepth: number): Sym {
  const b0 = b.conv(x, 64, [1, 1], `${name}/Branch_0/Conv2d_0a_1x1`);
  let b1 = b.conv(x, 48, [1, 1], `${name}/Branch_1/Conv2d_0a_1x1`);
  b1 = b.conv(b1, 64, [5, 5], `${name}/Branch_1/Conv2d_0b_5x5`);
  let b2 = b.conv(x, 64, [1, 1], `${name}/Branch_2/Conv2d_0a_1x1`);
  b2 = b.conv(b2, 96, [3, 3], `${name}/Branch_2/Conv2d_0b_3x3`);
  b2 = b.conv(b2, 96, [3, 3], `${name}/Branch_2/Conv2d_0c_3x3`);
  let b3 = b.avgPool(x, 3, 1, "same", `${name}/Branch_3/AvgPool_0a_3x3`);
  b3 = b.conv(b3, poolDepth, [1, 1], `${name}/Branch_3/Conv2d_0b_1x1`);
  return b.concat([b0, b1, b2, b3], `${name}/concat`);
}

/** Mixed_6a: grid reduction 35×35 → 17×17 (strided 3×3, strided double 3×3, max pool). */
function mixed6a(b: Builder, x: Sym): Sym {
  const name = "Mixed_6a";
  const b0 = b.conv(x, 384, [3, 3], `${name}/Branch_0/Conv2d_1a_1x1`, { strides: 2, padding: "valid" });
  let b1 = b.conv(x, 64, [1, 1], `${name}/Branch_1/Conv2d_0a_1x1`);
  b1 = b.conv(b1, 96, [3, 3], `${name}/Branch_1/Conv2d_0b_3x3`);
  b1 = b.conv(b1, 96, [3, 3], `${name}/Branch_1/Conv2d_1a_1x1`, { strides: 2, padding: "valid" });
  const b2 = b.maxPool(x, 3, 2, "valid", `${name}/Branch_2/MaxPool_1a_3x3`);
  return b.concat([b0, b1, b2], `${name}/concat`);
}

/** Mixed_6b–6e: factorized 7×7 branches with inner depth `d` (17×17 grid). */
function mixed6(b: Builder, x: Sym, name: string, d: number): Sym {
  const b0 = b.conv(x, 192, [1, 1], `${name}/Branch_0/Conv2d_0a_1x1`);
  let b1 = b.conv(x, d, [1, 1], `${name}/Branch_1/Conv2d_0a_1x1`);
  b1 = b.conv(b1, d, [1, 7], `${name}/Branch_1/Conv2d_0b_1x7`);
  b1 = b.conv(b1, 192, [7, 1], `${name}/Branch_1/Conv2d_0c_7x1`);
  let b2 = b.conv(x, d, [1, 1], `${name}/Branch_2/Conv2d_0a_1x1`);
  b2 = b.conv(b2, d, [7, 1], `${name}/Branch_2/Conv2d_0b_7x1`);
  b2 = b.conv(b2, d, [1, 7], `${name}/Branch_2/Conv2d_0c_1x7`);
  b2 = b.conv(b2, d, [7, 1], `${name}/Branch_2/Conv2d_0d_7x1`);
  b2 = b.conv(b2, 192, [1, 7], `${name}/Branch_2/Conv2d_0e_1x7`);
  let b3 = b.avgPool(x, 3, 1, "same", `${name}/Branch_3/AvgPool_0a_3x3`);
  b3 = b.conv(b3, 192, [1, 1], `${name}/Branch_3/Conv2d_0b_1x1`);
  return b.concat([b0, b1, b2, b3], `${name}/concat`);
}

/** Mixed_7a: grid reduction 17×17 → 8×8. */
function mixed7a(b: Builder, x: Sym): Sym {
  const name = "Mixed_7a";
  let b0 = b.conv(x, 192, [1, 1], `${name}/Branch_0/Conv2d_0a_1x1`);
  b0 = b.conv(b0, 320, [3, 3], `${name}/Branch_0/Conv2d_1a_3x3`, { strides: 2, padding: "valid" });
  let b1 = b.conv(x, 192, [1, 1], `${name}/Branch_1/Conv2d_0a_1x1`);
  b1 = b.conv(b1, 192, [1, 7], `${name}/Branch_1/Conv2d_0b_1x7`);
  b1 = b.conv(b1, 192, [7, 1], `${name}/Branch_1/Conv2d_0c_7x1`);
  b1 = b.conv(b1, 192, [3, 3], `${name}/Branch_1/Conv2d_1a_3x3`, { strides: 2, padding: "valid" });
  const b2 = b.maxPool(x, 3, 2, "valid", `${name}/Branch_2/MaxPool_1a_3x3`);
  return b.concat([b0, b1, b2], `${name}/concat`);
}

/** Mixed_7b/7c: expanded filter banks with parallel 1×3 and 3×1 convolutions (8×8 grid). */
function mixed7(b: Builder, x: Sym, name: string): Sym {
  const b0 = b.conv(x, 320, [1, 1], `${name}/Branch_0/Conv2d_0a_1x1`);
  const b1 = b.conv(x, 384, [1, 1], `${name}/Branch_1/Conv2d_0a_1x1`);
  const b1cat = b.concat([
    b.conv(b1, 384, [1, 3], `${name}/Branch_1/Conv2d_0b_1x3`),
    b.conv(b1, 384, [3, 1], `${name}/Branch_1/Conv2d_0c_3x1`),
  ], `${name}/Branch_1/concat`);
  let b2 = b.conv(x, 448, [1, 1], `${name}/Branch_2/Conv2d_0a_1x1`);
  b2 = b.conv(b2, 384, [3, 3], `${name}/Branch_2/Conv2d_0b_3x3`);
  const b2cat = b.concat([
    b.conv(b2, 384, [1, 3], `${name}/Branch_2/Conv2d_0c_1x3`),
    b.conv(b2, 384, [3, 1], `${name}/Branch_2/Conv2d_0d_3x1`),
  ], `${name}/Branch_2/concat`);
  let b3 = b.avgPool(x, 3, 1, "same", `${name}/Branch_3/AvgPool_0a_3x3`);
  b3 = b.conv(b3, 192, [1, 1], `${name}/Branch_3/Conv2d_0b_1x1`);
  return b.concat([b0, b1cat, b2cat, b3], `${name}/concat`);
}

/** Slim's auxiliary classifier on Mixed_6e: 5×5/3 avg pool, 1×1 conv, k×k conv (k = min(5, grid)), logits. */
function auxHead(b: Builder, x: Sym, numClasses: number): Sym {
  const name = "AuxLogits";
  let y = b.avgPool(x, 5, 3, "valid", `${name}/AvgPool_1a_5x5`);
  y = b.conv(y, 128, [1, 1], `${name}/Conv2d_1b_1x1`);
  const [h, w] = [y.shape[1] as number, y.shape[2] as number];
  const k: [number, number] = [Math.min(h, 5), Math.min(w, 5)];
  y = b.conv(y, 768, k, `${name}/Conv2d_2a_${k[0]}x${k[1]}`, { padding: "valid" }, b.seeds.truncNormal(0.01));
  y = tf.layers.conv2d({
    filters: numClasses,
    kernelSize: 1,
    useBias: true,
    kernelInitializer: b.seeds.truncNormal(0.001),
    name: `${name}/Conv2d_2b_1x1`,
  }).apply(y) as Sym;
  // The grid is 1×1 at 299 px (slim squeezes it); pooling keeps larger inputs working too.
  return tf.layers.globalAveragePooling2d({ name: `${name}/pool` }).apply(y) as Sym;
}

/**
 * Builds Inception V3 (see the module doc). Output: logits [B, numClasses]; with `auxLogits`, two outputs
 * `[logits, auxLogits]`. Throws when an option is out of range, saying what to pass instead.
 *
 * @example
 * ```ts
 * const model = inceptionV3({ numClasses: 10, inputSize: 139, widthMultiplier: 0.5, auxLogits: true });
 * const [logits, aux] = model.predict(tf.zeros([2, 139, 139, 3])) as tf.Tensor[]; // [2, 10] each
 * ```
 */
export function inceptionV3(options: InceptionV3Options = {}): tf.LayersModel {
  const numClasses = options.numClasses ?? 1000;
  const widthMultiplier = options.widthMultiplier ?? 1;
  const minDepth = options.minDepth ?? 16;
  const inputSize = options.inputSize ?? 299;
  const auxLogits = options.auxLogits ?? false;
  const dropout = options.dropout ?? 0;
  checkInteger("inceptionV3 numClasses", numClasses, 1, "Pass the number of classes, e.g. 1000.");
  checkPositive("inceptionV3 widthMultiplier", widthMultiplier, "Use 1 for the published network.");
  checkInteger("inceptionV3 minDepth", minDepth, 1, "Slim uses 16.");
  checkInteger(
    "inceptionV3 inputSize",
    inputSize,
    INCEPTION_V3_MIN_INPUT,
    "Inception V3 needs images of at least 75×75 pixels (299 is the published size); resize the images.",
  );
  if (auxLogits && inputSize < INCEPTION_V3_MIN_INPUT_AUX) {
    throw new Error(
      `inceptionV3 auxLogits needs inputSize ≥ ${INCEPTION_V3_MIN_INPUT_AUX}, got ${inputSize}: ` +
        "pass auxLogits: false or larger images.",
    );
  }
  if (!(dropout >= 0 && dropout < 1)) {
    throw new Error(`inceptionV3 dropout must be a rate in [0, 1), got ${dropout}. Slim trains with 0.2.`);
  }

  const b = new Builder(widthMultiplier, minDepth, options.seed ?? 0);
  const input = tf.input({ shape: [inputSize, inputSize, 3], name: "images" });
  // Stem (valid padding unless stated).
  let x = b.conv(input, 32, [3, 3], "Conv2d_1a_3x3", { strides: 2, padding: "valid" });
  x = b.conv(x, 32, [3, 3], "Conv2d_2a_3x3", { padding: "valid" });
  x = b.conv(x, 64, [3, 3], "Conv2d_2b_3x3", { padding: "same" });
  x = b.maxPool(x, 3, 2, "valid", "MaxPool_3a_3x3");
  x = b.conv(x, 80, [1, 1], "Conv2d_3b_1x1", { padding: "valid" });
  x = b.conv(x, 192, [3, 3], "Conv2d_4a_3x3", { padding: "valid" });
  x = b.maxPool(x, 3, 2, "valid", "MaxPool_5a_3x3");
  // Inception blocks.
  x = mixed5(b, x, "Mixed_5b", 32);
  x = mixed5(b, x, "Mixed_5c", 64);
  x = mixed5(b, x, "Mixed_5d", 64);
  x = mixed6a(b, x);
  x = mixed6(b, x, "Mixed_6b", 128);
  x = mixed6(b, x, "Mixed_6c", 160);
  x = mixed6(b, x, "Mixed_6d", 160);
  x = mixed6(b, x, "Mixed_6e", 192);
  const aux = auxLogits ? auxHead(b, x, numClasses) : null;
  x = mixed7a(b, x);
  x = mixed7(b, x, "Mixed_7b");
  x = mixed7(b, x, "Mixed_7c");
  // Head.
  x = tf.layers.globalAveragePooling2d({ name: "Logits/AvgPool" }).apply(x) as Sym;
  if (dropout > 0) {
    x = new SeededDropout({ rate: dropout, seed: b.seeds.next(), name: "Logits/Dropout_1b" }).apply(x) as Sym;
  }
  const logits = tf.layers.dense({
    units: numClasses,
    useBias: true,
    kernelInitializer: b.seeds.he(),
    name: "Logits/Conv2d_1c_1x1",
  }).apply(x) as Sym;
  return tf.model({ inputs: input, outputs: aux ? [logits, aux] : logits, name: "InceptionV3" });
}
