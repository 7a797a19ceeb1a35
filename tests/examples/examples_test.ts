/**
 * Every example of `examples/` runs and does what it says: MNIST `model.fit` with the pretrained optimizer next
 * to Adam, a custom `init`/`update` loop, and weights loaded from a `meta-train` artifact of one's own (made here
 * by the smoke profile).
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { runDeno } from "../fixtures/deno_process.ts";

const FLAGS = ["--node-modules-dir=auto", "--allow-read", "--allow-env", "--allow-ffi"];

const deno = runDeno;

/** The last line of stdout, parsed (each example ends with one JSON line). */
function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

Deno.test("examples/mnist_fit.ts: the pretrained optimizer and Adam both lower the MNIST loss", async () => {
  const r = await deno([
    "run",
    "-q",
    ...FLAGS,
    "examples/mnist_fit.ts",
    "--examples",
    "512",
    "--epochs",
    "1",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /lopt: TensorFlow.js backend 'wasm' \(selected by lopt\)/);
  const out = lastJson(r.stdout) as Record<string, { before: number; after: number }>;
  for (const name of ["learned", "adam"]) {
    assert.ok(Number.isFinite(out[name].after), `${name}: ${JSON.stringify(out[name])}`);
    assert.ok(
      out[name].after < out[name].before,
      `${name} did not lower the loss: ${JSON.stringify(out[name])}`,
    );
  }
  assert.equal(out.learned.before, out.adam.before, "both start from the same weights");
});

Deno.test("examples/custom_loop.ts: init/update lower the loss", async () => {
  const r = await deno(["run", "-q", ...FLAGS, "examples/custom_loop.ts", "--steps", "100"]);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout) as { first: number; last: number; steps: number };
  assert.equal(out.steps, 100);
  assert.ok(out.last < 0.8 * out.first, JSON.stringify(out));
});

Deno.test("examples/own_weights.ts: loads a meta-train artifact of one's own and trains with it", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-example-weights-" });
  try {
    const p = await deno([
      "run",
      "-q",
      "--node-modules-dir=auto",
      "-P=pipeline",
      "stages/main.ts",
      "meta-train",
      "--profile",
      "smoke",
      "--results",
      results,
      "-q",
    ]);
    assert.equal(p.code, 0, p.stdout + p.stderr);
    const dir = join(results, "artifacts", "meta-train");
    const keys = [...Deno.readDirSync(dir)].filter((e) => e.isDirectory && !e.name.startsWith("."));
    assert.equal(keys.length, 1);
    const r = await deno(["run", "-q", ...FLAGS, "examples/own_weights.ts", join(dir, keys[0].name)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /weights: profile smoke, 6 meta-steps/);
    const out = lastJson(r.stdout) as { first: number; last: number };
    assert.ok(out.last < out.first, JSON.stringify(out));

    const bad = await deno(["run", "-q", ...FLAGS, "examples/own_weights.ts", join(results, "missing")]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr.trim(), /^error: HRNN weights file .*missing does not exist\./);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
