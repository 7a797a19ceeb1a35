/**
 * Pre-activation ResNet (He et al. 2016, "Identity Mappings in Deep Residual Networks") with bottleneck units,
 * as a `tf.LayersModel`, written from the published definition (TF-slim `nets/resnet_v2.py`).
 *
 * Layout (depths at width 1, grid at 224 px):
 *
 * | part | what | output |
 * |---|---|---|
 * | root | 7×7/2 conv, 64, with bias, no norm (slim `conv2d_same`: explicit symmetric padding) → 3×3/2 max pool (SAME) | 56×56×64 |
 * | block1–block4 | bottleneck units, base depth 64 / 128 / 256 / 512 (output 4×), stride 2 / 2 / 2 / 1 in the LAST unit of a block | 7×7×2048 |
 * | postnorm | batch norm + ReLU | 7×7×2048 |
 * | head | global average pool → dense logits (bias) | numClasses |
 *
 * A bottleneck unit: `preact = ReLU(BN(x))`; shortcut = `x` (subsampled by a 1×1/stride max pool when the
 * unit strides) when the depth is unchanged, otherwise a 1×1 conv with bias on `preact`; residual =
 * 1×1 conv → BN → ReLU → 3×3 conv (stride, `conv2d_same`) → BN → ReLU → 1×1 conv with bias (4× depth);
 * output = shortcut + residual. Batch norm has scale and offset (ε 1e-5, decay 0.997 as in slim's
 * `resnet_arg_scope`); hidden convolutions have no bias. Units per block: 50 → [3, 4, 6, 3], 101 →
 * [3, 4, 23, 3], 152 → [3, 8, 36, 3], 200 → [3, 24, 36, 3]; small bottleneck variants 14 → [1, 1, 1, 1] and
 * 26 → [2, 2, 2, 2] (depth = 3·Σunits + 2), or any four counts through `blocks`.
 *
 * The logits are a dense layer on the globally pooled features (slim: a 1×1 conv on the 1×1 pooled map,
 * the same map). Parameter count of depth 50 at width 1 with 1000 classes: 25,613,800 in total (25,568,360
 * trainable plus 45,440 batch-norm moving statistics), exactly Keras' `ResNet50V2(include_top=True)`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { BatchNorm } from "./batch_norm.ts";
import { checkInteger, checkPositive, scaledDepth, SeedStream } from "./common.ts";

/** Units per block for the standard (and small) bottleneck depths. */
export const RESNET_V2_BLOCKS: Readonly<Record<number, readonly number[]>> = {
  14: [1, 1, 1, 1],
  26: [2, 2, 2, 2],
  50: [3, 4, 6, 3],
  101: [3, 4, 23, 3],
  152: [3, 8, 36, 3],
  200: [3, 24, 36, 3],
};

/** Base (bottleneck) depth of each block; a unit outputs 4× this. */
const BASE_DEPTHS = [64, 128, 256, 512] as const;
/** Stride of the last unit of each block. */
const BLOCK_STRIDES = [2, 2, 2, 1] as const;

/** Options of {@link resnetV2}. */
export interface ResNetV2Options {
  /** Network depth, a key of {@link RESNET_V2_BLOCKS} (default 50); ignored when `blocks` is given. */
  depth?: number;
  /** Units in each of the four blocks, overriding `depth` (e.g. [2, 2, 2, 2] = depth 26). */
  blocks?: readonly number[];
  /** Number of output classes (default 1000). */
  numClasses?: number;
  /** Channel-depth multiplier (default 1 = the published network); depth rule as slim's inception. */
  widthMultiplier?: number;
  /** Smallest depth of any convolution after scaling (default 16). */
  minDepth?: number;
  /** Height = width of the input images in pixels (default 224). */
  inputSize?: number;
  /** Seed of all weight initializers (default 0). */
  seed?: number;
}

type Sym = tf.SymbolicTensor;

/**
 * Units per block for `options` (validated); throws a message saying what to pass.
 *
 * @example
 * ```ts
 * resnetV2Blocks({ depth: 101 }); // [3, 4, 23, 3]
 * resnetV2Blocks({ blocks: [2, 2, 2, 2] }); // [2, 2, 2, 2]
 * ```
 */
export function resnetV2Blocks(options: Pick<ResNetV2Options, "depth" | "blocks"> = {}): number[] {
  if (options.blocks !== undefined) {
    const blocks = [...options.blocks];
    if (blocks.length !== 4 || !blocks.every((n) => Number.isInteger(n) && n >= 1)) {
      throw new Error(
        `resnetV2 blocks must be four positive integers (units per block), got ${JSON.stringify(blocks)}.`,
      );
    }
    return blocks;
  }
  const depth = options.depth ?? 50;
  const blocks = RESNET_V2_BLOCKS[depth];
  if (blocks === undefined) {
    throw new Error(
      `resnetV2 has no preset for depth ${depth}. Choose one of ${
        Object.keys(RESNET_V2_BLOCKS).join(", ")
      }, ` +
        "or pass blocks: [n1, n2, n3, n4] (bottleneck depth = 3·Σn + 2).",
    );
  }
  return [...blocks];
}

class Builder {
  readonly seeds: SeedStream;
  constructor(readonly widthMultiplier: number, readonly minDepth: number, seed: number) {
    this.seeds = new SeedStream(seed);
  }

  depth(d: number): number {
    return scaledDepth(d, this.widthMultiplier, this.minDepth);
  }

  /** Batch norm (scale + offset) followed by ReLU. */
  bnRelu(x: Sym, name: string): Sym {
    const bn = new BatchNorm({
      decay: 0.997,
      epsilon: 1e-5,
      center: true,
      scale: true,
      name: `${name}/BatchNorm`,
    });
    return tf.layers.activation({ activation: "relu", name: `${name}/relu` }).apply(bn.apply(x)) as Sym;
  }

  /**
   * Slim's `conv2d_same`: SAME padding at stride 1; at stride > 1 explicit symmetric zero padding
   * (k−1 split as ⌊(k−1)/2⌋ before, the rest after) then a VALID conv, independent of the input size.
   */
  conv(x: Sym, filters: number, kernel: number, stride: number, useBias: boolean, name: string): Sym {
    let y = x;
    if (stride > 1 && kernel > 1) {
      const before = Math.floor((kernel - 1) / 2);
      const after = kernel - 1 - before;
      y = tf.layers.zeroPadding2d({ padding: [[before, after], [before, after]], name: `${name}/pad` })
        .apply(y) as Sym;
    }
    return tf.layers.conv2d({
      filters,
      kernelSize: kernel,
      strides: stride,
      padding: stride > 1 && kernel > 1 ? "valid" : "same",
      useBias,
      kernelInitializer: this.seeds.he(),
      name: `${name}/conv`,
    }).apply(y) as Sym;
  }

  /** One pre-activation bottleneck unit (see the module doc). */
  bottleneck(x: Sym, baseDepth: number, stride: number, name: string): Sym {
    const depthIn = x.shape[3] as number;
    const depthOut = 4 * baseDepth;
    const preact = this.bnRelu(x, `${name}/preact`);
    let shortcut: Sym;
    if (depthIn === depthOut) {
      shortcut = stride === 1 ? x : tf.layers.maxPooling2d({
        poolSize: 1,
        strides: stride,
        padding: "same",
        name: `${name}/shortcut_subsample`,
      }).apply(x) as Sym;
    } else {
      shortcut = this.conv(preact, depthOut, 1, stride, true, `${name}/shortcut`);
    }
    let r = this.conv(preact, baseDepth, 1, 1, false, `${name}/conv1`);
    r = this.bnRelu(r, `${name}/conv1`);
    r = this.conv(r, baseDepth, 3, stride, false, `${name}/conv2`);
    r = this.bnRelu(r, `${name}/conv2`);
    r = this.conv(r, depthOut, 1, 1, true, `${name}/conv3`);
    return tf.layers.add({ name: `${name}/add` }).apply([shortcut, r]) as Sym;
  }
}

/**
 * Builds a pre-activation bottleneck ResNet (see the module doc). Output: logits [B, numClasses]. Throws when
 * an option is out of range, saying what to pass instead.
 *
 * @example
 * ```ts
 * const model = resnetV2({ depth: 50, numClasses: 10, widthMultiplier: 0.25, inputSize: 64 });
 * const logits = model.predict(tf.zeros([2, 64, 64, 3])) as tf.Tensor; // [2, 10]
 * ```
 */
export function resnetV2(options: ResNetV2Options = {}): tf.LayersModel {
  const blocks = resnetV2Blocks(options);
  const numClasses = options.numClasses ?? 1000;
  const widthMultiplier = options.widthMultiplier ?? 1;
  const minDepth = options.minDepth ?? 16;
  const inputSize = options.inputSize ?? 224;
  checkInteger("resnetV2 numClasses", numClasses, 1, "Pass the number of classes, e.g. 1000.");
  checkPositive("resnetV2 widthMultiplier", widthMultiplier, "Use 1 for the published network.");
  checkInteger("resnetV2 minDepth", minDepth, 1, "16 is the default.");
  checkInteger("resnetV2 inputSize", inputSize, 1, "224 is the published size.");

  const b = new Builder(widthMultiplier, minDepth, options.seed ?? 0);
  const layers = 3 * blocks.reduce((a, n) => a + n, 0) + 2;
  const input = tf.input({ shape: [inputSize, inputSize, 3], name: "images" });
  let x = b.conv(input, b.depth(64), 7, 2, true, "conv1");
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "same", name: "pool1" }).apply(x) as Sym;
  for (let i = 0; i < 4; i++) {
    for (let u = 0; u < blocks[i]; u++) {
      const stride = u === blocks[i] - 1 ? BLOCK_STRIDES[i] : 1;
      x = b.bottleneck(x, b.depth(BASE_DEPTHS[i]), stride, `block${i + 1}/unit_${u + 1}`);
    }
  }
  x = b.bnRelu(x, "postnorm");
  x = tf.layers.globalAveragePooling2d({ name: "pool5" }).apply(x) as Sym;
  const logits = tf.layers.dense({
    units: numClasses,
    useBias: true,
    kernelInitializer: b.seeds.he(),
    name: "logits",
  }).apply(x) as Sym;
  return tf.model({ inputs: input, outputs: logits, name: `resnet_v2_${layers}` });
}
