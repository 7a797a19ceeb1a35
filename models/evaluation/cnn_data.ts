/**
 * The data of a ConvNet evaluation model: its dataset's first training and test examples, or why the dataset
 * is not on this machine.
 *
 * @module
 */
import type { ConvNetSpec } from "../../tasks/convnets.ts";
import { DatasetUnavailableError, type ImageDataset, loadDataset } from "../../tasks/data/index.ts";

/** Training and test data of one model, or why it could not be loaded. */
export type CnnData =
  | { ok: true; train: ImageDataset; test: ImageDataset }
  | { ok: false; reason: string };

/**
 * Loads the data of `spec` (train: first `trainLimit`, test: first `testLimit`; CIFAR-10 from `cifarDir` when
 * not empty). A dataset that is not on this machine gives `{ok: false, reason}` with the loader's
 * instructions; never another dataset in its place.
 *
 * @example
 * ```ts
 * const data = await loadCnnData(convNetSpec("convnet_mnist_relu"), { trainLimit: 256, testLimit: 128, cifarDir: "" });
 * ```
 */
export async function loadCnnData(
  spec: ConvNetSpec,
  p: { trainLimit: number; testLimit: number; cifarDir: string },
): Promise<CnnData> {
  const dir = spec.dataset === "cifar10" && p.cifarDir !== "" ? p.cifarDir : undefined;
  try {
    const train = await loadDataset({ kind: spec.dataset, split: "train", limit: p.trainLimit, dir });
    const test = await loadDataset({ kind: spec.dataset, split: "test", limit: p.testLimit, dir });
    for (const ds of [train, test]) {
      const [h, w, c] = spec.inputShape;
      if (ds.height !== h || ds.width !== w || ds.channels !== c) {
        throw new Error(
          `${ds.name} images are ${ds.height}x${ds.width}x${ds.channels}, ${spec.name} needs ${h}x${w}x${c}.`,
        );
      }
    }
    return { ok: true, train, test };
  } catch (e) {
    if (e instanceof DatasetUnavailableError) return { ok: false, reason: e.message };
    throw e;
  }
}
