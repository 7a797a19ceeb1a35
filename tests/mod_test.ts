/**
 * The public module: what it exports, and how loading through it sets up TensorFlow.js — it selects `wasm`
 * when no backend is set, keeps one the user set and says which (warning that `cpu` is slow), and the tfjs
 * "install tfjs-node" banner never appears. Each case runs in a fresh Deno process (a backend is process-wide).
 */
import { strict as assert } from "node:assert";
import { REPO, runDeno } from "./fixtures/deno_process.ts";
import * as lopt from "../mod.ts";

async function script(code: string): Promise<{ code: number; text: string }> {
  const r = await runDeno(["eval", "--node-modules-dir=auto", "--ext=ts", code]);
  return { code: r.code, text: r.stdout + r.stderr };
}

const TRAIN = `
const m = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [3] })] });
m.compile({ optimizer: toTfOptimizer(l.optimizer), loss: "meanSquaredError" });
await m.fit(tf.ones([8, 3]), tf.zeros([8, 1]), { epochs: 2, verbose: 0 });
console.log("backend now", tf.getBackend());`;

Deno.test("mod.ts exports the loaders, the adapter, the baselines and the backend choice", () => {
  for (
    const name of [
      "loadPretrained",
      "loadLearnedOptimizer",
      "pretrainedRelease",
      "toTfOptimizer",
      "LoptTfOptimizer",
      "adam",
      "rmsprop",
      "sgd",
      "momentum",
      "makeBaseline",
      "selectBackendForUser",
    ]
  ) {
    assert.equal(typeof (lopt as Record<string, unknown>)[name], "function", name);
  }
  assert.equal(lopt.makeBaseline("adam", { learningRate: 0.01 }).name, "adam");
});

Deno.test("loading selects the wasm backend when none is set, without the tfjs banner", async () => {
  const r = await script(`
import * as tf from "@tensorflow/tfjs";
import { loadPretrained, toTfOptimizer } from "./mod.ts";
const l = await loadPretrained();
${TRAIN}`);
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, /^lopt: TensorFlow.js backend 'wasm' \(selected by lopt\)$/m);
  assert.match(r.text, /backend now wasm/);
  assert.doesNotMatch(r.text, /tfjs-node|Hi, looks like/);
});

Deno.test("loading keeps a backend the user set and says which; cpu is called slow, the banner silenced", async () => {
  const r = await script(`
import * as tf from "@tensorflow/tfjs";
import { loadPretrained, toTfOptimizer } from "./mod.ts";
await tf.setBackend("cpu");
const l = await loadPretrained();
if (l.backend.kept !== true) throw new Error("not kept");
console.log(l.updateEngine);
${TRAIN}`);
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, /^lopt: TensorFlow.js backend 'cpu' \(already set\); it is slow/m);
  assert.match(r.text, /HRNN update: tfjs ops \(the fused kernel needs the wasm backend, not cpu\)/);
  assert.match(r.text, /backend now cpu/);
  assert.doesNotMatch(r.text, /Hi, looks like/);
});

Deno.test("deno publish --dry-run accepts the package (name, version, exports, no slow types)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const text = dec.decode(out.stdout) + dec.decode(out.stderr);
  assert.equal(out.code, 0, text);
  assert.match(text, /Simulating publish of @lopt\/lopt@\d+\.\d+\.\d+/);
  assert.match(text, /models\/pretrained\/hrnn_weights\.ts/);
  assert.doesNotMatch(text, /error\[/);
});
