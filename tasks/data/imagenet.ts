/**
 * ImageNet (ILSVRC-2012 layout) read lazily from a folder of JPEG files.
 *
 * Layout: `<root>/train/<wnid>/*.JPEG` and either `<root>/val/<wnid>/*.JPEG` or flat `<root>/val/*.JPEG`
 * with a labels file (`<root>/val_labels.txt`, lines `<file> <wnid or 0-based class index>`, or Kaggle's
 * `<root>/LOC_val_solution.csv`). Classes are the wnid folders of `train/` (of `val/` when there is no
 * `train/`), sorted, so class indices follow the usual sorted-wnid order. Class names come from
 * `LOC_synset_mapping.txt` or `synset_words.txt` (`<wnid> <names>` lines) when present.
 *
 * Opening a split only lists files ({@link indexImageNet}); images are read, decoded with jpeg-js, resized
 * with tfjs (bilinear, with a box pre-filter for large downscales; `resize.ts`) so the shorter side is
 * `resizeShorter`, and center-cropped to `size`x`size`, only when a batch asks for them
 * ({@link LazyImageDataset}).
 *
 * Not supported: the downsampled-ImageNet releases (Imagenet32/64), which ship as Python pickles / npz
 * archives; convert them to the folder layout (or to CIFAR-style binary records) instead.
 *
 * @module
 */
import jpeg from "jpeg-js";
import * as tf from "@tensorflow/tfjs";
import {
  type BatchTensorOptions,
  DatasetFormatError,
  DatasetUnavailableError,
  defaultDataDir,
  examplesToTensors,
  type ImageDataset,
  isDir,
  isFile,
  type Split,
} from "./dataset.ts";
import { resizeCenterCropTensor } from "./resize.ts";

/** Options of {@link openImageNet} and {@link loadImageNet}. */
export interface ImageNetOptions {
  /** `train`, or `test`/`val` for the validation images (default `train`). */
  split?: Split | "val";
  /** Root folder holding `train/` and `val/`; overrides env `LOPT_IMAGENET_DIR` and `<dataDir>/imagenet`. */
  dir?: string;
  /** Output side length in pixels (default 64). */
  size?: number;
  /** Shorter side after resizing, before the center crop (default `size`, i.e. crop the central square). */
  resizeShorter?: number;
  /** Keep at most `limit` images, taken round-robin over classes so that a small subset spans the classes. */
  limit?: number;
  /** Labels file for a flat `val/` folder (default: `val_labels.txt` or `LOC_val_solution.csv` in the root). */
  valLabels?: string;
}

/** The listing of one split: files and labels, no pixels. */
export interface ImageNetIndex {
  /** Root folder. */
  root: string;
  /** Split listed. */
  split: Split;
  /** JPEG paths, in example order. */
  files: string[];
  /** Class index of each file. */
  labels: Int32Array;
  /** Class wnids, sorted; index = class label. */
  wnids: string[];
  /** Class names aligned with `wnids` (the wnid itself when no synset file names it). */
  classNames: string[];
}

const JPEG_RE = /\.jpe?g$/i;
const WNID_RE = /^n\d{8}$/;

/**
 * The root folder used: `dir`, env `LOPT_IMAGENET_DIR`, or `<dataDir>/imagenet`.
 *
 * @example
 * ```ts
 * imageNetDir(); // $LOPT_IMAGENET_DIR, else "<dataDir>/imagenet"
 * imageNetDir("/data/ilsvrc2012"); // "/data/ilsvrc2012"
 * ```
 */
export function imageNetDir(dir?: string): string {
  return dir ?? Deno.env.get("LOPT_IMAGENET_DIR") ?? `${defaultDataDir()}/imagenet`;
}

function unavailable(root: string, what: string): DatasetUnavailableError {
  return new DatasetUnavailableError(
    "imagenet",
    `ImageNet not found: ${what}. ImageNet cannot be downloaded automatically (its licence requires an ` +
      `account at https://image-net.org). To provide it: extract ILSVRC-2012 so that ${root} holds ` +
      `train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (or val/*.JPEG plus val_labels.txt with '<file> <wnid>' lines, ` +
      `or Kaggle's LOC_val_solution.csv), or set LOPT_IMAGENET_DIR (or the dataset's \`dir\`) to such a folder.`,
    [root],
  );
}

async function listDir(path: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(path)) out.push(e);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function wnidDirs(path: string): Promise<string[]> {
  return (await listDir(path)).filter((e) => e.isDirectory && !e.name.startsWith(".")).map((e) => e.name);
}

async function jpegsIn(path: string): Promise<string[]> {
  return (await listDir(path)).filter((e) => e.isFile && JPEG_RE.test(e.name)).map((e) =>
    `${path}/${e.name}`
  );
}

/**
 * Reads `<wnid> <name, name...>` lines (LOC_synset_mapping.txt / synset_words.txt) into a map.
 *
 * @example
 * ```ts
 * const names = await readSynsets(imageNetDir());
 * names.get("n01440764"); // "tench, Tinca tinca"
 * ```
 */
export async function readSynsets(root: string): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const f of ["LOC_synset_mapping.txt", "synset_words.txt", "synsets.txt"]) {
    const p = `${root}/${f}`;
    if (!(await isFile(p))) continue;
    for (const line of (await Deno.readTextFile(p)).split(/\r?\n/)) {
      const m = /^(n\d{8})\s+(.*)$/.exec(line.trim());
      if (m) map.set(m[1], m[2].trim());
    }
    break;
  }
  return map;
}

/**
 * Parses a validation labels file into image base name (no extension) -> wnid or class index.
 *
 * @example
 * ```ts
 * const labels = parseValLabels("ILSVRC2012_val_00000001.JPEG n01751748\n", wnids);
 * labels.get("ILSVRC2012_val_00000001"); // wnids.indexOf("n01751748")
 * ```
 */
export function parseValLabels(text: string, wnids: string[]): Map<string, number> {
  const out = new Map<string, number>();
  const index = new Map(wnids.map((w, i) => [w, i]));
  for (const line of text.split(/\r?\n/)) {
    const tok = line.trim().split(/[\s,]+/);
    if (tok.length < 2) continue;
    const key = tok[0].replace(/\.[^./]*$/, "").replace(/^.*\//, "");
    let label: number | undefined;
    if (WNID_RE.test(tok[1])) label = index.get(tok[1]);
    else if (/^\d+$/.test(tok[1])) label = Number(tok[1]);
    else continue; // header line
    if (label === undefined) {
      throw new DatasetFormatError(`Validation label '${tok[1]}' is not a known class.`);
    }
    if (label >= wnids.length) {
      throw new DatasetFormatError(`Validation label ${label} >= ${wnids.length} classes.`);
    }
    out.set(key, label);
  }
  return out;
}

function roundRobin(perClass: string[][], limit: number): { files: string[]; labels: number[] } {
  const files: string[] = [];
  const labels: number[] = [];
  const longest = Math.max(0, ...perClass.map((c) => c.length));
  for (let j = 0; j < longest && files.length < limit; j++) {
    for (let c = 0; c < perClass.length && files.length < limit; c++) {
      if (j < perClass[c].length) {
        files.push(perClass[c][j]);
        labels.push(c);
      }
    }
  }
  return { files, labels };
}

/**
 * Lists one split's JPEG files and labels (no decoding). Throws {@link DatasetUnavailableError} when absent.
 *
 * @example
 * ```ts
 * const index = await indexImageNet({ split: "val", limit: 1000 });
 * console.log(index.files.length, index.wnids.length); // 1000 1000
 * ```
 */
export async function indexImageNet(opts: ImageNetOptions = {}): Promise<ImageNetIndex> {
  const split: Split = opts.split === "val" || opts.split === "test" ? "test" : "train";
  const root = imageNetDir(opts.dir);
  const splitDir = `${root}/${split === "train" ? "train" : "val"}`;
  if (!(await isDir(splitDir))) throw unavailable(root, `no folder ${splitDir}`);
  const trainDir = `${root}/train`;
  const wnids = (await isDir(trainDir)) ? await wnidDirs(trainDir) : await wnidDirs(splitDir);
  const perClass: string[][] = wnids.map(() => []);
  const splitWnids = await wnidDirs(splitDir);
  if (splitWnids.length > 0) {
    const index = new Map(wnids.map((w, i) => [w, i]));
    for (const w of splitWnids) {
      const c = index.get(w);
      if (c === undefined) {
        throw new DatasetFormatError(`${splitDir}/${w}: class folder not present in ${trainDir}.`);
      }
      perClass[c] = await jpegsIn(`${splitDir}/${w}`);
    }
  } else {
    const flat = await jpegsIn(splitDir);
    if (flat.length > 0) {
      const candidates = opts.valLabels
        ? [opts.valLabels]
        : [`${root}/val_labels.txt`, `${root}/LOC_val_solution.csv`];
      let labelsFile: string | null = null;
      for (const p of candidates) {
        if (await isFile(p)) {
          labelsFile = p;
          break;
        }
      }
      if (!labelsFile) {
        throw unavailable(
          root,
          `${splitDir} has JPEG files but no labels file (looked for ${candidates.join(", ")})`,
        );
      }
      if (wnids.length === 0) throw unavailable(root, `no class folders in ${trainDir} to number the labels`);
      const map = parseValLabels(await Deno.readTextFile(labelsFile), wnids);
      for (const f of flat) {
        const key = f.replace(/^.*\//, "").replace(/\.[^.]*$/, "");
        const c = map.get(key);
        if (c === undefined) throw new DatasetFormatError(`${labelsFile} has no label for ${f}.`);
        perClass[c].push(f);
      }
    }
  }
  const { files, labels } = roundRobin(perClass, opts.limit ?? Infinity);
  if (files.length === 0) throw unavailable(root, `no JPEG files under ${splitDir}`);
  const synsets = await readSynsets(root);
  return {
    root,
    split,
    files,
    labels: Int32Array.from(labels),
    wnids,
    classNames: wnids.map((w) => synsets.get(w) ?? w),
  };
}

/**
 * Decodes a JPEG into RGB bytes (3 channels, also for greyscale and CMYK files).
 *
 * @example
 * ```ts
 * const { width, height, data } = decodeJpegRgb(await Deno.readFile(path), path); // data: width·height·3 bytes
 * ```
 */
export function decodeJpegRgb(
  bytes: Uint8Array,
  source = "JPEG",
): { width: number; height: number; data: Uint8Array } {
  try {
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: 250,
      maxMemoryUsageInMB: 2048,
    });
    return { width: img.width, height: img.height, data: img.data };
  } catch (e) {
    throw new DatasetFormatError(`${source}: cannot decode JPEG (${(e as Error).message}).`);
  }
}

/**
 * A dataset whose images are decoded on demand. Has the shape fields of {@link ImageDataset} and the labels
 * (known from the index), but no `images` array: ask for batches with {@link LazyImageDataset.loadExamples}
 * or {@link LazyImageDataset.batchTensors}, or decode everything with {@link LazyImageDataset.materialize}.
 *
 * @example
 * ```ts
 * const ds = new LazyImageDataset(await indexImageNet({ split: "train" }), 224, 256);
 * const { x, y } = await ds.batchTensors([0, 1, 2], { oneHot: true }); // x [3, 224, 224, 3]
 * ```
 */
export class LazyImageDataset {
  /** Dataset name. */
  readonly name = "imagenet";
  /** Always false: these are real images. */
  readonly standIn = false;
  /** Split. */
  readonly split: Split;
  /** Number of examples. */
  readonly n: number;
  /** Output height. */
  readonly height: number;
  /** Output width. */
  readonly width: number;
  /** Output channels (3). */
  readonly channels = 3;
  /** Number of classes. */
  readonly numClasses: number;
  /** Class names aligned with the labels. */
  readonly classNames: string[];
  /** Class index of each example. */
  readonly labels: Int32Array;
  /** The file listing. */
  readonly index: ImageNetIndex;
  private readonly shorter: number;

  /** Wraps an index; `size` is the output side, `shorter` the side length before cropping. */
  constructor(index: ImageNetIndex, size: number, shorter: number = size) {
    if (!(size > 0 && Number.isInteger(size))) {
      throw new RangeError(`size must be a positive integer, got ${size}.`);
    }
    if (shorter < size) throw new RangeError(`resizeShorter (${shorter}) must be >= size (${size}).`);
    this.index = index;
    this.split = index.split;
    this.n = index.files.length;
    this.height = size;
    this.width = size;
    this.numClasses = index.wnids.length;
    this.classNames = index.classNames;
    this.labels = index.labels;
    this.shorter = shorter;
  }

  /** Reads, decodes, resizes and crops the examples at `indices` (NHWC floats in [0, 1]) with their labels. */
  async loadExamples(indices: ArrayLike<number>): Promise<{ images: Float32Array; labels: Int32Array }> {
    const per = this.height * this.width * 3;
    const images = new Float32Array(indices.length * per);
    const labels = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i];
      if (!Number.isInteger(k) || k < 0 || k >= this.n) {
        throw new RangeError(`Example index ${k} is out of range for imagenet ${this.split} (n=${this.n}).`);
      }
      const path = this.index.files[k];
      const img = decodeJpegRgb(await Deno.readFile(path), path);
      const crop = tf.tidy(() =>
        resizeCenterCropTensor(
          tf.tensor3d(img.data, [img.height, img.width, 3], "float32"),
          this.height,
          this.shorter,
        )
      );
      images.set(await crop.data(), i * per);
      crop.dispose();
      labels[i] = this.labels[k];
    }
    return { images, labels };
  }

  /** Loads a batch as tensors `x` [B, size, size, 3] and `y` (see `batchTensors` in dataset.ts). Caller disposes. */
  async batchTensors(
    indices: ArrayLike<number>,
    opts: BatchTensorOptions = {},
  ): Promise<{ x: tf.Tensor; y: tf.Tensor }> {
    const { images, labels } = await this.loadExamples(indices);
    return examplesToTensors(images, labels, this, opts);
  }

  /** Decodes every example into an in-memory {@link ImageDataset}. */
  async materialize(): Promise<ImageDataset> {
    const all = Array.from({ length: this.n }, (_, i) => i);
    const { images, labels } = await this.loadExamples(all);
    return {
      name: this.name,
      standIn: false,
      split: this.split,
      images,
      labels,
      n: this.n,
      height: this.height,
      width: this.width,
      channels: 3,
      numClasses: this.numClasses,
      classNames: this.classNames,
    };
  }
}

/**
 * Lists a split and returns a {@link LazyImageDataset} (no image is decoded yet).
 *
 * @example
 * ```ts
 * const ds = await openImageNet({ split: "val", size: 224, resizeShorter: 256 });
 * const { images, labels } = await ds.loadExamples([0, 1]);
 * ```
 */
export async function openImageNet(opts: ImageNetOptions = {}): Promise<LazyImageDataset> {
  const index = await indexImageNet(opts);
  const size = opts.size ?? 64;
  return new LazyImageDataset(index, size, opts.resizeShorter ?? size);
}

/** The most images {@link loadImageNet} decodes into memory without an explicit `limit`. */
export const IMAGENET_MAX_IN_MEMORY = 20000;

/**
 * Decodes a (limited) ImageNet split into memory. Without `limit`, refuses splits larger than
 * {@link IMAGENET_MAX_IN_MEMORY} images (use {@link openImageNet} to stream batches instead).
 *
 * @example
 * ```ts
 * const ds = await loadImageNet({ split: "val", size: 64, limit: 5000 });
 * console.log(ds.n, ds.numClasses); // 5000 1000
 * ```
 */
export async function loadImageNet(opts: ImageNetOptions = {}): Promise<ImageDataset> {
  const ds = await openImageNet(opts);
  if (opts.limit === undefined && ds.n > IMAGENET_MAX_IN_MEMORY) {
    throw new RangeError(
      `ImageNet ${ds.split} has ${ds.n} images, too many to decode into memory; pass a limit ` +
        `(<= ${IMAGENET_MAX_IN_MEMORY} is sensible) or use openImageNet() to load batches on demand.`,
    );
  }
  return await ds.materialize();
}
