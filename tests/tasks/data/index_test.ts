import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { batchTensors, classCounts, gatherExamples } from "../../../tasks/data/dataset.ts";
import {
  DATASET_KINDS,
  DatasetUnavailableError,
  loadDataset,
  loadSplits,
  toDatasetSpec,
} from "../../../tasks/data/index.ts";

Deno.test("loadDataset: {kind: 'mnist'} with split and limit; batch tensors", async () => {
  const ds = await loadDataset({ kind: "mnist", split: "test", limit: 50 });
  assertEquals([ds.name, ds.n, ds.standIn], ["mnist", 50, false]);
  assertEquals(classCounts(ds).reduce((a, b) => a + b, 0), 50);
  const g = gatherExamples(ds, [3, 1]);
  assertEquals(Array.from(g.labels), [ds.labels[3], ds.labels[1]]);
  assertEquals(g.images.subarray(0, 784), ds.images.subarray(3 * 784, 4 * 784));
  tf.enableProdMode();
  await tf.setBackend("cpu");
  const before = tf.memory().numTensors;
  const b = batchTensors(ds, [0, 1, 2, 3]);
  assertEquals([b.x.shape, b.y.shape, b.y.dtype], [[4, 28, 28, 1], [4], "int32"]);
  const f = batchTensors(ds, [0], { flatten: true, oneHot: true });
  assertEquals([f.x.shape, f.y.shape], [[1, 784], [1, 10]]);
  assertEquals((await f.y.data())[ds.labels[0]], 1);
  tf.dispose([b.x, b.y, f.x, f.y]);
  assertEquals(tf.memory().numTensors, before);
  const both = await loadSplits({ kind: "mnist", limit: 10 });
  assertEquals([both.train.split, both.train.n, both.test.split, both.test.n], ["train", 10, "test", 10]);
});

Deno.test("loadDataset: every kind with a missing dir raises DatasetUnavailableError with instructions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-missing-" });
  const expect: Record<string, string> = {
    "mnist": "LOPT_MNIST_DIR",
    "fashion-mnist": "apt-get install dataset-fashion-mnist",
    "cifar10": "deno task data download cifar10",
    "imagenet": "LOPT_IMAGENET_DIR",
  };
  try {
    for (const kind of DATASET_KINDS) {
      await assertRejects(() => loadDataset({ kind, dir }), DatasetUnavailableError, expect[kind]);
    }
    // deno-lint-ignore no-explicit-any
    await assertRejects(() => loadDataset({ kind: "svhn" as any }), Error, "Unknown dataset kind 'svhn'");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a missing dataset prints the instructions, no stack trace, exit code 1", async () => {
  const cli = new URL("../../../tasks/data/cli.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", cli, "info", "cifar10", "--dir", "/nonexistent/cifar"],
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 1);
  assert(err.includes("CIFAR-10 not found in /nonexistent/cifar") && err.includes("LOPT_CIFAR10_DIR"), err);
  assert(!/\n\s+at /.test(err), `stack in output: ${err}`);
});

Deno.test("toDatasetSpec: keeps the loader's fields, drops others, names a bad field", () => {
  assertEquals(toDatasetSpec({ kind: "imagenet", split: "test", size: 32, resizeShorter: 36, seed: 4 }), {
    kind: "imagenet",
    split: "test",
    size: 32,
    resizeShorter: 36,
  });
  assertThrows(() => toDatasetSpec({ kind: "svhn" }), Error, "Unknown dataset kind 'svhn'");
  assertThrows(() => toDatasetSpec({ limit: 3 }), Error, "string 'kind'");
  assertThrows(() => toDatasetSpec({ kind: "mnist", split: "val" }), Error, "split must be");
  assertThrows(() => toDatasetSpec({ kind: "mnist", limit: "10" }), Error, "limit must be a number");
});
