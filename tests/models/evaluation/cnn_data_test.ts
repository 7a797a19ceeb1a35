import assert from "node:assert/strict";
import { loadCnnData } from "../../../models/evaluation/cnn_data.ts";
import { convNetSpec } from "../../../tasks/convnets.ts";

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
