/**
 * The shipped pretrained weights: the embedded copy is the file, the file is the one the release record
 * describes, it loads through every public path, and its recorded evaluation matches a short re-evaluation
 * (the recheck runs of `provenance.json`, rerun here with `loadPretrained`).
 */
import { strict as assert } from "node:assert";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { loadLearnedOptimizer, loadPretrained, pretrainedRelease } from "../../mod.ts";
import { decodeBase64, sha256Hex } from "../../models/hrnn/kernel/encoding.ts";
import {
  PRETRAINED_WEIGHTS_BASE64,
  PRETRAINED_WEIGHTS_SHA256,
} from "../../models/pretrained/hrnn_weights.ts";
import { lossesMatch, type RecheckRun, rerun } from "../../release/recheck.ts";

const DIR = fileURLToPath(new URL("../../models/pretrained/", import.meta.url));
const quiet = { log: null };

Deno.test("pretrained: the embedded weights are hrnn.weights, as the release record describes", async () => {
  const file = await Deno.readFile(`${DIR}hrnn.weights`);
  const embedded = decodeBase64(PRETRAINED_WEIGHTS_BASE64);
  assert.deepEqual(embedded, file, "hrnn_weights.ts is stale: rerun deno task release-weights");
  const release = pretrainedRelease();
  assert.equal(await sha256Hex(file), release.weights.sha256);
  assert.equal(PRETRAINED_WEIGHTS_SHA256, release.weights.sha256);
  assert.equal(file.length, release.weights.bytes);
  assert.equal(release.licence, "Apache-2.0");
  assert.ok(release.recheck.runs.length > 0, "the release records no recheck runs");
});

Deno.test("pretrained: loads from the module, the file and its folder, with the same weights", async () => {
  const a = await loadPretrained(quiet);
  const b = await loadLearnedOptimizer(`${DIR}hrnn.weights`, quiet);
  const c = await loadLearnedOptimizer(DIR, quiet);
  try {
    assert.equal(a.provenance.profile, pretrainedRelease().profile);
    assert.equal(a.backend.backend, "wasm");
    assert.deepEqual(b.provenance, a.provenance);
    assert.deepEqual(c.provenance, a.provenance);
    // Same weights, same seed: the same first update (each optimizer's init is called once: it draws from
    // the optimizer's own random stream).
    const updateOf = (o: typeof a) =>
      tf.tidy(() => {
        const params = [tf.linspace(-1, 1, 12).reshape([3, 4])];
        const grads = [tf.linspace(0.5, -0.5, 12).reshape([3, 4])];
        return o.optimizer.update(grads, o.optimizer.init(params), params).updates[0].arraySync();
      });
    const expected = updateOf(a);
    assert.deepEqual(updateOf(b), expected);
    assert.deepEqual(updateOf(c), expected);
  } finally {
    [a, b, c].forEach((l) => l.dispose());
  }
});

Deno.test("pretrained: its recorded evaluation runs give the recorded losses again", async () => {
  const runs = pretrainedRelease().recheck.runs as unknown as RecheckRun[];
  for (const run of runs) {
    const loss = await rerun(run, (seed) => loadPretrained({ seed, log: null }));
    assert.ok(
      lossesMatch(run.recordedFinalLoss, loss),
      `${JSON.stringify((run.task as { id?: string }).id)}: recorded ${run.recordedFinalLoss}, now ${loss}`,
    );
  }
});

Deno.test("loadLearnedOptimizer: a missing path is a one-line error naming it", async () => {
  await assert.rejects(
    () => loadLearnedOptimizer("/nonexistent/hrnn.weights", quiet),
    /^Error: HRNN weights file \/nonexistent\/hrnn.weights does not exist\./,
  );
  await assert.rejects(
    () => loadLearnedOptimizer(new Uint8Array([1, 2, 3]), quiet),
    /the given weights bytes/,
  );
});
