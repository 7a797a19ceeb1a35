/**
 * The in-memory image-dataset shape shared by every loader in `tasks/data/`, the error raised when a dataset
 * is not on this machine, and helpers that turn a batch of example indices into TensorFlow.js tensors.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The split of a dataset. ImageNet's `val` split is its `test` split. */
export type Split = "train" | "test";

/** An image-classification dataset held in memory (one split). */
export interface ImageDataset {
  /** Dataset name, e.g. `mnist`, `fashion-mnist`, `cifar10`, `imagenet`. */
  name: string;
  /** True when the data is a synthetic stand-in, not the real dataset (the real loaders always set false). */
  standIn: boolean;
  /** Which split this is. */
  split: Split;
  /** Pixels, N*H*W*C floats in NHWC order, scaled to [0, 1]. */
  images: Float32Array;
  /** Class index of each example, in [0, numClasses). */
  labels: Int32Array;
  /** Number of examples. */
  n: number;
  /** Image height in pixels. */
  height: number;
  /** Image width in pixels. */
  width: number;
  /** Channels per pixel (1 grey, 3 RGB). */
  channels: number;
  /** Number of classes. */
  numClasses: number;
  /** Human-readable class names, index-aligned with the labels, when known. */
  classNames?: string[];
}

/** Both splits of a dataset. */
export interface DatasetSplits {
  /** Training split. */
  train: ImageDataset;
  /** Test (ImageNet: validation) split. */
  test: ImageDataset;
}

/**
 * A dataset that is not available on this machine. The message says exactly how to provide it (directory,
 * environment variable, install command or download option). Callers that face users should print only
 * `err.message`, not the stack.
 *
 * @example
 * ```ts
 * try {
 *   await loadCifar10();
 * } catch (e) {
 *   if (e instanceof DatasetUnavailableError) console.error(e.message); // says how to provide the data
 * }
 * ```
 */
export class DatasetUnavailableError extends Error {
  /** The dataset that is missing (`mnist`, `fashion-mnist`, `cifar10`, `imagenet`). */
  readonly dataset: string;
  /** Where the loader looked. */
  readonly searched: string[];

  /** Builds the error; `message` must already contain the instructions. */
  constructor(dataset: string, message: string, searched: string[] = []) {
    super(message);
    this.name = "DatasetUnavailableError";
    this.dataset = dataset;
    this.searched = searched;
  }
}

/**
 * A file that exists but does not have the expected dataset format (truncated, wrong magic, wrong size).
 *
 * @example
 * ```ts
 * throw new DatasetFormatError(`${path}: truncated IDX file (3 bytes).`);
 * ```
 */
export class DatasetFormatError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "DatasetFormatError";
  }
}

/**
 * Size in floats of one example of `ds`.
 *
 * @example
 * ```ts
 * exampleSize({ height: 32, width: 32, channels: 3 }); // 3072
 * ```
 */
export function exampleSize(ds: Pick<ImageDataset, "height" | "width" | "channels">): number {
  return ds.height * ds.width * ds.channels;
}

/**
 * Copies the examples at `indices` into fresh arrays (images NHWC, labels). Throws on an index out of range.
 *
 * @example
 * ```ts
 * const { images, labels } = gatherExamples(ds, [0, 1, 2]); // images.length = 3 · exampleSize(ds)
 * ```
 */
export function gatherExamples(
  ds: ImageDataset,
  indices: ArrayLike<number>,
): { images: Float32Array; labels: Int32Array } {
  const size = exampleSize(ds);
  const images = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    if (!Number.isInteger(k) || k < 0 || k >= ds.n) {
      throw new RangeError(`Example index ${k} is out of range for ${ds.name} ${ds.split} (n=${ds.n}).`);
    }
    images.set(ds.images.subarray(k * size, (k + 1) * size), i * size);
    labels[i] = ds.labels[k];
  }
  return { images, labels };
}

/** Options of {@link batchTensors}. */
export interface BatchTensorOptions {
  /** Return `x` as [B, H*W*C] instead of [B, H, W, C]. */
  flatten?: boolean;
  /** Return `y` as one-hot float32 [B, numClasses] instead of int32 [B]. */
  oneHot?: boolean;
}

/**
 * Builds the tensors of a minibatch: `x` float32 [B, H, W, C] (or [B, H*W*C] with `flatten`), `y` int32 [B]
 * (or one-hot float32 [B, numClasses]). The caller owns (and disposes) both tensors.
 *
 * @example
 * ```ts
 * const { x, y } = batchTensors(mnist, [0, 1, 2], { flatten: true, oneHot: true }); // x [3, 784], y [3, 10]
 * tf.dispose([x, y]);
 * ```
 */
export function batchTensors(
  ds: ImageDataset,
  indices: ArrayLike<number>,
  opts: BatchTensorOptions = {},
): { x: tf.Tensor; y: tf.Tensor } {
  const { images, labels } = gatherExamples(ds, indices);
  return examplesToTensors(images, labels, ds, opts);
}

/**
 * Turns gathered example arrays into tensors (see {@link batchTensors}). The caller owns the tensors.
 *
 * @example
 * ```ts
 * const { images, labels } = gatherExamples(ds, [4, 8, 15]);
 * const { x, y } = examplesToTensors(images, labels, ds); // x [3, H, W, C], y int32 [3]
 * ```
 */
export function examplesToTensors(
  images: Float32Array,
  labels: Int32Array,
  shape: Pick<ImageDataset, "height" | "width" | "channels" | "numClasses">,
  opts: BatchTensorOptions = {},
): { x: tf.Tensor; y: tf.Tensor } {
  const b = labels.length;
  const x = opts.flatten
    ? tf.tensor2d(images, [b, shape.height * shape.width * shape.channels])
    : tf.tensor4d(images, [b, shape.height, shape.width, shape.channels]);
  let y: tf.Tensor;
  if (opts.oneHot) {
    const hot = new Float32Array(b * shape.numClasses);
    for (let i = 0; i < b; i++) hot[i * shape.numClasses + labels[i]] = 1;
    y = tf.tensor2d(hot, [b, shape.numClasses]);
  } else {
    y = tf.tensor1d(labels, "int32");
  }
  return { x, y };
}

/**
 * Number of examples of each class (length numClasses).
 *
 * @example
 * ```ts
 * classCounts(await loadMnist({ split: "test" })); // [980, 1135, 1032, ...]
 * ```
 */
export function classCounts(ds: Pick<ImageDataset, "labels" | "numClasses">): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (const l of ds.labels) counts[l]++;
  return counts;
}

/**
 * The root folder for downloaded datasets: env `LOPT_DATA_DIR`, else `data/` at the repository root.
 *
 * @example
 * ```ts
 * const dir = `${defaultDataDir()}/cifar-10-batches-bin`; // under $LOPT_DATA_DIR, else <repo>/data
 * ```
 */
export function defaultDataDir(): string {
  const env = Deno.env.get("LOPT_DATA_DIR");
  if (env) return env;
  return decodeURIComponent(new URL("../../data", import.meta.url).pathname);
}

/**
 * True when `path` exists and is a regular file.
 *
 * @example
 * ```ts
 * await isFile(`${dir}/test_batch.bin`); // false when absent
 * ```
 */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
}

/**
 * True when `path` exists and is a directory.
 *
 * @example
 * ```ts
 * await isDir(`${defaultDataDir()}/imagenet`); // false when absent
 * ```
 */
export async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
}

/**
 * Converts bytes 0..255 into floats in [0, 1].
 *
 * @example
 * ```ts
 * bytesToUnit(Uint8Array.of(0, 51, 255)); // Float32Array [0, 0.2, 1]
 * ```
 */
export function bytesToUnit(
  bytes: Uint8Array,
  out: Float32Array = new Float32Array(bytes.length),
): Float32Array {
  const s = 1 / 255;
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] * s;
  return out;
}
