// The ConvNet evaluation stages (stages/cnn_common.ts, baselines_cnn.ts, eval_cnn.ts): params and grids, then
// end to end through the fixture entry tests/stages/fixtures/cnn_entry.ts (real generate-tasks,
// a meta-train STAND-IN writing an untrained HRNN, the real ConvNet stages) run as a `deno run` subprocess.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { initBackend } from "../../lib/backend.ts";
import { runCli } from "../../pipeline/cli.ts";
import { parseSetArg, resolveParams } from "../../pipeline/params.ts";
import type { Params, StageDef } from "../../pipeline/stage.ts";
import { baselinesCnn } from "../../stages/baselines_cnn.ts";
import { ResultsStore } from "../../pipeline/store.ts";
import { CNN_PARAMS, CNN_PROFILES, type CnnParams, validateCnnParams } from "../../stages/cnn_common.ts";
import { logGrid } from "../../lib/stats.ts";
import { CNN_FX_STAGES } from "./fixtures/cnn_entry.ts";
import { FASHION_MNIST_AVAILABLE } from "../tasks/data/fashion_mnist_available.ts";

await initBackend("wasm");

const ENTRY = fileURLToPath(new URL("./fixtures/cnn_entry.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

function params(over: Partial<CnnParams> = {}): CnnParams {
  const base = Object.fromEntries(Object.entries(CNN_PARAMS).map(([k, s]) => [k, s.default])) as CnnParams;
  return { ...base, ...CNN_PROFILES.smoke, ...over };
}

Deno.test("cnn: the paper grids", () => {
  // The paper profile's grids round to 3 significant digits.
  assert.deepEqual(logGrid(1e-4, 1e-2, 3, 3), [1e-4, 1e-3, 1e-2]);
  assert.deepEqual(logGrid(1e-3, 1, 7, 3), [0.001, 0.00316, 0.01, 0.0316, 0.1, 0.316, 1]);
  assert.deepEqual(CNN_PROFILES.paper.learningRates!.momentum, logGrid(1e-3, 1, 7, 3));
});

Deno.test("cnn: params are validated with messages that say what to fix", () => {
  validateCnnParams(params());
  const set = (...sets: string[]) => () =>
    resolveParams(baselinesCnn as StageDef<Params>, "smoke", sets.map(parseSetArg));
  assert.throws(set("baselines-cnn.seeds=[]"), /param "seeds" .*need a JSON list of 1 to 20 seeds/);
  assert.throws(set("baselines-cnn.seeds=[1.5]"), /param "seeds" .*1\.5 not an integer in \[0, 1000000000\]/);
  assert.throws(
    set('baselines-cnn.learningRates={"momentum":[0.1],"rmsprop":[],"adam":[1e-3]}'),
    /param "learningRates" .*rmsprop: need 1 to 50 learning rates in \(0, 10\]/,
  );
  assert.throws(
    () => validateCnnParams(params({ learningRates: { momentum: [0.1], adam: [1e-3] } })),
    /learningRates has no grid for optimizer rmsprop/,
  );
});

async function fx(results: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      "--allow-sys",
      "--allow-run",
      ENTRY,
      "--results",
      results,
      ...args,
    ],
    cwd: REPO_ROOT,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", LOPT_CIFAR10_DIR: join(results, "no-cifar-here") },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

async function plan(results: string, args: string[]): Promise<Record<string, string>> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(["--results", results, "--dry-run", "--json", ...args], {
    stages: CNN_FX_STAGES,
    program: "cnn-fx-pipeline",
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  assert.equal(code, 0, err.join("\n"));
  return Object.fromEntries(
    (JSON.parse(out.join("\n")) as { stage: string; action: string }[]).map((p) => [p.stage, p.action]),
  );
}

async function query(results: string, sql: string): Promise<unknown[][]> {
  const store = await ResultsStore.open(results, { readOnly: true, log: () => {} });
  try {
    return (await store.query(sql)).rows;
  } finally {
    await store.close();
  }
}

Deno.test("cnn: eval-cnn end to end; a meta-train change reruns eval-cnn but not baselines-cnn", async () => {
  const R = await Deno.makeTempDir({ prefix: "lopt-cnn-e2e-" });
  const small = [
    "--profile",
    "smoke",
    "--set",
    "baselines-cnn.steps=4",
    "--set",
    "baselines-cnn.evalEvery=2",
    "--set",
    'baselines-cnn.learningRates={"momentum":[0.01,0.1],"rmsprop":[0.003],"adam":[0.003]}',
    // The CIFAR folder is part of the key: the in-process plans below must name the same one as the run.
    "--set",
    `baselines-cnn.cifarDir=${join(R, "no-cifar-here")}`,
  ];
  try {
    const r = await fx(R, [...small, "eval-cnn"]);
    assert.equal(r.code, 0, r.out + r.err);
    const runs = await query(
      R,
      "SELECT optimizer, learning_rate, model, status, steps_run, final_train_loss, note FROM cnn_runs " +
        "ORDER BY model, optimizer, learning_rate",
    );
    const mnist = runs.filter((x) => x[2] === "convnet_mnist_relu");
    assert.deepEqual(mnist.map((x) => [x[0], x[1], x[3], Number(x[4])]), [
      ["adam", 0.003, "ok", 4],
      ["learned", null, "ok", 4],
      ["momentum", 0.01, "ok", 4],
      ["momentum", 0.1, "ok", 4],
      ["rmsprop", 0.003, "ok", 4],
    ]);
    assert.ok(mnist.every((x) => Number.isFinite(x[5] as number)));
    assert.match(String(mnist[1][6]), /STAND-IN/);
    const cifar = runs.filter((x) => x[2] === "convnet_cifar10");
    assert.equal(cifar.length, 4); // 3 baselines + learned, all not run, with the loader's message
    assert.ok(cifar.every((x) => x[3] === "not run" && /CIFAR-10 not found/.test(String(x[6]))));

    const summary = await query(
      R,
      "SELECT model, baseline, baseline_lr, loss_ratio, learned_stand_in, status FROM cnn_summary ORDER BY model, baseline",
    );
    assert.equal(summary.length, 6);
    const ms = summary.filter((x) => x[0] === "convnet_mnist_relu");
    assert.deepEqual(ms.map((x) => x[1]), ["adam", "momentum", "rmsprop"]);
    assert.ok(ms.every((x) => x[5] === "ok" && x[4] === true && Number.isFinite(x[3] as number)));
    assert.ok(summary.filter((x) => x[0] === "convnet_cifar10").every((x) => x[5] === "not run"));
    const sweep = await query(
      R,
      "SELECT count(*), sum(CASE WHEN is_best THEN 1 ELSE 0 END) FROM cnn_lr_sweep",
    );
    assert.deepEqual(sweep[0].map(Number), [4, 3]);
    const curves = await query(R, "SELECT kind, count(*) FROM cnn_curves GROUP BY kind ORDER BY kind");
    assert.deepEqual(curves.map((x) => [x[0], Number(x[1])]), [["eval", 15], ["train", 20]]);

    // A change to meta-training params: meta-train and eval-cnn rerun, baselines-cnn stays cached.
    const changed = [...small, "--set", "meta-train.seed=1", "eval-cnn"];
    assert.deepEqual(await plan(R, changed), {
      "generate-tasks": "cached",
      "meta-train": "run",
      "baselines-cnn": "cached",
      "eval-cnn": "run",
    });
    // ...and a change to the evaluation settings reruns both ConvNet stages but not meta-train.
    assert.deepEqual(await plan(R, [...small, "--set", "baselines-cnn.steps=5", "eval-cnn"]), {
      "generate-tasks": "cached",
      "meta-train": "cached",
      "baselines-cnn": "run",
      "eval-cnn": "run",
    });
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test({
  name: "cnn: the validation ConvNet runs through baselines-cnn on Fashion-MNIST (ignored without it)",
  ignore: !FASHION_MNIST_AVAILABLE,
  fn: async () => {
    const R = await Deno.makeTempDir({ prefix: "lopt-cnn-fashion-" });
    try {
      const r = await fx(R, [
        "--profile",
        "smoke",
        "--set",
        'baselines-cnn.models=["convnet_fashion_relu"]',
        "--set",
        "baselines-cnn.steps=2",
        "--set",
        "baselines-cnn.evalEvery=2",
        "--set",
        'baselines-cnn.learningRates={"momentum":[0.03],"rmsprop":[0.003],"adam":[0.01]}',
        "baselines-cnn",
      ]);
      assert.equal(r.code, 0, r.out + r.err);
      const runs = await query(
        R,
        "SELECT model, dataset, optimizer, status, steps_run FROM cnn_baseline_runs ORDER BY optimizer",
      );
      assert.deepEqual(runs.map((x) => [x[0], x[1], x[2], x[3], Number(x[4])]), [
        ["convnet_fashion_relu", "fashion-mnist", "adam", "ok", 2],
        ["convnet_fashion_relu", "fashion-mnist", "momentum", "ok", 2],
        ["convnet_fashion_relu", "fashion-mnist", "rmsprop", "ok", 2],
      ]);
    } finally {
      await Deno.remove(R, { recursive: true });
    }
  },
});
