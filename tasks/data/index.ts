/**
 * One entry point for problem specs that name a dataset, e.g. `{kind: "mnist", split: "train", limit: 1000}`.
 *
 * @module
 */
import { loadCifar10 } from "./cifar10.ts";
import type { DatasetSplits, ImageDataset, Split } from "./dataset.ts";
import { type LazyImageDataset, loadImageNet, openImageNet } from "./imagenet.ts";
import { loadFashionMnist, loadMnist } from "./mnist.ts";

export { DatasetUnavailableError } from "./dataset.ts";
export type { DatasetSplits, ImageDataset, Split } from "./dataset.ts";

/** Dataset kinds {@link loadDataset} knows. */
export const DATASET_KINDS = ["mnist", "fashion-mnist", "cifar10", "imagenet"] as const;
/** One of {@link DATASET_KINDS}. */
export type DatasetKind = typeof DATASET_KINDS[number];

/** A JSON dataset spec as found in problem params. */
export interface DatasetSpec {
  /** Which dataset. */
  kind: DatasetKind;
  /** Split (default `train`; ImageNet's `test` is its validation set). */
  split?: Split;
  /** Keep at most this many examples. */
  limit?: number;
  /** Folder to read from instead of the env variable / default location. */
  dir?: string;
  /** ImageNet only: output side length (default 64). */
  size?: number;
  /** ImageNet only: shorter side before the center crop (default `size`). */
  resizeShorter?: number;
}

function checkKind(kind: string): asserts kind is DatasetKind {
  if (!(DATASET_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`Unknown dataset kind '${kind}'. Choose one of: ${DATASET_KINDS.join(", ")}.`);
  }
}

/**
 * Checks a dataset description from problem params (any object with a `kind`) and returns it as a
 * {@link DatasetSpec}: a known kind, and the optional fields of the right types (others are dropped). Throws
 * a one-line error naming the field otherwise.
 *
 * @example
 * ```ts
 * const spec = toDatasetSpec({ kind: "mnist", limit: 1000 }); // { kind: "mnist", limit: 1000 }
 * ```
 */
export function toDatasetSpec(description: object): DatasetSpec {
  const field = (key: string): unknown => (description as Record<string, unknown>)[key];
  const kind = field("kind");
  if (typeof kind !== "string") throw new Error("A dataset spec needs a string 'kind'.");
  checkKind(kind);
  const spec: DatasetSpec = { kind };
  const split = field("split");
  if (split !== undefined) {
    if (split !== "train" && split !== "test") {
      throw new Error(`Dataset ${kind}: split must be 'train' or 'test', got ${JSON.stringify(split)}.`);
    }
    spec.split = split;
  }
  const dir = field("dir");
  if (dir !== undefined) {
    if (typeof dir !== "string") throw new Error(`Dataset ${kind}: dir must be a string.`);
    spec.dir = dir;
  }
  for (const key of ["limit", "size", "resizeShorter"] as const) {
    const v = field(key);
    if (v === undefined) continue;
    if (typeof v !== "number") throw new Error(`Dataset ${kind}: ${key} must be a number.`);
    spec[key] = v;
  }
  return spec;
}

/**
 * Loads the dataset named by `spec` into memory. Throws `DatasetUnavailableError` (with instructions) when
 * the data is not on this machine; never substitutes other data.
 *
 * @example
 * ```ts
 * const ds = await loadDataset({ kind: "cifar10", split: "test", limit: 1000 });
 * console.log(ds.n, ds.height, ds.channels); // 1000 32 3
 * ```
 */
export async function loadDataset(spec: DatasetSpec): Promise<ImageDataset> {
  checkKind(spec.kind);
  const opts = { split: spec.split, limit: spec.limit, dir: spec.dir };
  switch (spec.kind) {
    case "mnist":
      return await loadMnist(opts);
    case "fashion-mnist":
      return await loadFashionMnist(opts);
    case "cifar10":
      return await loadCifar10(opts);
    case "imagenet":
      return await loadImageNet({ ...opts, size: spec.size, resizeShorter: spec.resizeShorter });
  }
}

/**
 * Loads both splits named by `spec` (its `split` is ignored; `limit` applies to each split).
 *
 * @example
 * ```ts
 * const { train, test } = await loadSplits({ kind: "mnist", limit: 5000 });
 * ```
 */
export async function loadSplits(spec: DatasetSpec): Promise<DatasetSplits> {
  const train = await loadDataset({ ...spec, split: "train" });
  const test = await loadDataset({ ...spec, split: "test" });
  return { train, test };
}

/**
 * Opens ImageNet lazily (images decoded per batch); other kinds are small enough for {@link loadDataset}.
 *
 * @example
 * ```ts
 * const ds = await openDataset({ kind: "imagenet", split: "test", size: 224, resizeShorter: 256 });
 * const { x, y } = await ds.batchTensors([0, 1, 2]);
 * ```
 */
export async function openDataset(spec: DatasetSpec & { kind: "imagenet" }): Promise<LazyImageDataset> {
  return await openImageNet({ ...spec });
}
