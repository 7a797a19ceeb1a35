import assert from "node:assert/strict";
import { loadCnnData } from "../../../models/evaluation/cnn_data.ts";
import { convNetSpec } from "../../../tasks/convnets.ts";
import { FASHION_MNIST_AVAILABLE } from "../../tasks/data/fashion_mnist_available.ts";

Deno.test("cnn data: CIFAR-10 missing gives a 'not run' reason, never other data", async () => {
  const empty = await Deno.makeTempDir({ prefix: "lopt-cnn-nocifar-" });
  try {
    const r = await loadCnnData(convNetSpec("convnet_cifar10"), {
      trainLimit: 256,
      testLimit: 128,
      cifarDir: empty,
    });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, /CIFAR-10 not found.*deno task data download cifar10/s);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test({
  name:
    "cnn data: the validation ConvNet trains on Fashion-MNIST (ignored when dataset-fashion-mnist is absent)",
  ignore: !FASHION_MNIST_AVAILABLE,
  fn: async () => {
    const r = await loadCnnData(convNetSpec("convnet_fashion_relu"), {
      trainLimit: 300,
      testLimit: 100,
      cifarDir: "",
    });
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.deepEqual([r.train.name, r.train.n, r.test.n, r.train.standIn], [
      "fashion-mnist",
      300,
      100,
      false,
    ]);
    const mnist = await loadCnnData(convNetSpec("convnet_mnist_relu"), {
      trainLimit: 300,
      testLimit: 1,
      cifarDir: "",
    });
    assert.ok(mnist.ok);
    // Different images, not MNIST under another name.
    if (mnist.ok) {
      assert.notDeepEqual(r.train.images.slice(0, 784 * 10), mnist.train.images.slice(0, 784 * 10));
    }
  },
});
