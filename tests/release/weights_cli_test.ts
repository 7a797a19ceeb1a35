/**
 * `deno task release-weights` end to end on the smoke profile: it runs the pipeline, copies the meta-train
 * artifact's weights, records the evaluations and a recheck that matches, and writes files that load; and its
 * usage errors are one line with exit code 2.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { type DenoProcessResult, runDeno } from "../fixtures/deno_process.ts";
import { decodeBase64, sha256Hex } from "../../models/hrnn/kernel/encoding.ts";
import type { PretrainedRelease } from "../../models/release_record.ts";
import { loadLearnedOptimizer } from "../../mod.ts";

function release(...args: string[]): Promise<DenoProcessResult> {
  return runDeno(["run", "-q", "--node-modules-dir=auto", "-P=pipeline", "release/weights_cli.ts", ...args]);
}

Deno.test("release-weights --profile smoke writes weights, record and README that match the pipeline run", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "lopt-release-" });
  try {
    const results = join(tmp, "results"), out = join(tmp, "out");
    const r = await release(
      "--profile",
      "smoke",
      "--results",
      results,
      "--out",
      out,
      "--note",
      "test release",
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /recheck .* ok/);

    const record = JSON.parse(await Deno.readTextFile(join(out, "provenance.json"))) as PretrainedRelease;
    assert.equal(record.profile, "smoke");
    assert.equal(record.note, "test release");
    assert.equal(record.command, "deno task release-weights --profile smoke");
    assert.equal(record.metaTraining.params.maxMetaSteps, 6);
    assert.equal(record.metaTraining.summary.metaSteps, 6);
    assert.equal(typeof record.heldOut.summary.problems, "number");
    assert.ok(record.convnet.some((c) => c.model === "convnet_mnist_relu" && c.status === "ok"));

    // The weights are the meta-train artifact's, byte for byte, and the embedded copy is the same.
    const weights = await Deno.readFile(join(out, "hrnn.weights"));
    const artifact = join(results, "artifacts", "meta-train", record.artifacts["meta-train"], "hrnn.weights");
    assert.deepEqual(weights, await Deno.readFile(artifact));
    assert.equal(record.weights.sha256, await sha256Hex(weights));
    const mod = await Deno.readTextFile(join(out, "hrnn_weights.ts"));
    const b64 = /PRETRAINED_WEIGHTS_BASE64 = "([^"]+)"/.exec(mod)![1];
    assert.deepEqual(decodeBase64(b64), weights);

    // The recheck compared runs that eval-problems recorded with the same runs made again.
    assert.ok(record.recheck.runs.length > 0);
    const finals = (await Deno.readTextFile(
      join(
        results,
        "artifacts",
        "eval-problems",
        record.artifacts["eval-problems"],
        "rows",
        "eval_final.ndjson",
      ),
    )).trim().split("\n").map((l) => JSON.parse(l));
    for (const run of record.recheck.runs) {
      const id = (run.task as { id: string }).id;
      const row = finals.find((f) => f.task_id === id && f.optimizer === "learned" && f.seed === run.seed);
      assert.equal(run.recordedFinalLoss, row.final_loss);
      assert.ok(
        Math.abs(run.releaseFinalLoss - run.recordedFinalLoss) <= 1e-3 * Math.abs(run.recordedFinalLoss),
      );
    }
    const readme = await Deno.readTextFile(join(out, "README.md"));
    assert.match(readme, /\*\*Profile:\*\* `smoke`/);

    const loaded = await loadLearnedOptimizer(out, { log: null });
    assert.equal(loaded.provenance.profile, "smoke");
    loaded.dispose();

    // A second release from the same results dir reuses every stage.
    const again = await release("--profile", "smoke", "--results", results, "--out", out);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout + again.stderr, /0 ran, 6 cached/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("release-weights: --help, and usage errors are one line with exit code 2", async () => {
  const help = await release("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task release-weights --profile NAME/);
  const none = await release();
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^error: --profile NAME is required/);
  const bad = await release("--profile", "smoke", "--bogus");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error: Unknown option '--bogus'/);
  const badSet = await release(
    "--profile",
    "smoke",
    "--set",
    "meta-train.metaLr=7",
    "--results",
    "/tmp/lopt-x",
  );
  assert.equal(badSet.code, 2, badSet.stderr);
});
