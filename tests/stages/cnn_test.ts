// The ConvNet evaluation stages (stages/cnn_common.ts, baselines_cnn.ts, eval_cnn.ts): the shared pieces as
// units, then end to end through the fixture entry tests/stages/fixtures/cnn_entry.ts (real generate-tasks,
// a meta-train STAND-IN writing an untrained HRNN, the real ConvNet stages) run as a `deno run` subprocess.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { initBackend } from "../../lib/backend.ts";
import { makeBaseline } from "../../models/optimizers/baselines.ts";
import { runCli } from "../../pipeline/cli.ts";
import { parseSetArg, resolveParams } from "../../pipeline/params.ts";
import type { Params, StageDef } from "../../pipeline/stage.ts";
import { baselinesCnn } from "../../stages/baselines_cnn.ts";
import { ResultsStore } from "../../pipeline/store.ts";
import {
  batchOrder,
  bestCells,
  CNN_PARAMS,
  CNN_PROFILES,
  type CnnParams,
  downsampleCurve,
  loadCnnData,
  logGrid,
  type StoredRun,
  sweepCells,
  trainConvNet,
  validateCnnParams,
} from "../../stages/cnn_common.ts";
import { convNetSpec } from "../../tasks/convnets.ts";
import { CNN_FX_STAGES } from "./fixtures/cnn_entry.ts";

await initBackend("wasm");

const ENTRY = fileURLToPath(new URL("./fixtures/cnn_entry.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

function params(over: Partial<CnnParams> = {}): CnnParams {
  const base = Object.fromEntries(Object.entries(CNN_PARAMS).map(([k, s]) => [k, s.default])) as CnnParams;
  return { ...base, ...CNN_PROFILES.smoke, ...over };
}

Deno.test("cnn: batch order is seeded, shared, and walks epochs of permutations", () => {
  const a = batchOrder("m", 3, 10, 7, 4);
  const b = batchOrder("m", 3, 10, 7, 4);
  assert.deepEqual(a, b);
  assert.notDeepEqual(batchOrder("m", 4, 10, 7, 4), a);
  assert.notDeepEqual(batchOrder("other", 3, 10, 7, 4), a);
  const flat = a.flatMap((x) => [...x]);
  assert.equal(flat.length, 28);
  // the first 10 and the next 10 indices are each a permutation of 0..9
  assert.deepEqual([...flat.slice(0, 10)].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...flat.slice(10, 20)].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // a longer run starts with the same batches (the order does not depend on the horizon)
  assert.deepEqual(batchOrder("m", 3, 10, 9, 4).slice(0, 7), a);
});

Deno.test("cnn: grids, curve downsampling, medians over seeds and the tuned learning rate", () => {
  assert.deepEqual(logGrid(1e-4, 1e-2, 3), [1e-4, 1e-3, 1e-2]);
  assert.deepEqual(logGrid(0.5, 2, 1), [0.5]);
  assert.throws(() => logGrid(0, 1, 3), /0 < lo/);

  assert.deepEqual(downsampleCurve([1, 2, 3], 5), [{ step: 0, value: 1 }, { step: 1, value: 2 }, {
    step: 2,
    value: 3,
  }]);
  const d = downsampleCurve(Array.from({ length: 1000 }, (_, i) => i), 300);
  assert.equal(d.length, 300);
  assert.equal(d.at(-1)!.step, 999);
  assert.ok(d.every((p, i) => i === 0 || p.step > d[i - 1].step));
  assert.deepEqual(downsampleCurve([1, NaN, 3, 5], 2), [{ step: 1, value: 1 }, { step: 3, value: 4 }]);

  const run = (optimizer: string, lr: number, seed: number, loss: number, diverged = false): StoredRun => ({
    model: "m",
    dataset: "mnist",
    optimizer,
    learningRate: lr,
    seed,
    steps: 10,
    stepsRun: 10,
    secondsPerStep: 0.1,
    diverged,
    finalTrainLoss: diverged ? NaN : loss,
    testLoss: loss,
    testAccuracy: 1 - loss / 10,
    status: "ok",
    note: "",
    curve: [],
  });
  const runs = [
    run("adam", 0.001, 0, 0.5),
    run("adam", 0.001, 1, 0.7),
    run("adam", 0.001, 2, 0.6),
    run("adam", 0.01, 0, 0.1),
    run("adam", 0.01, 1, 0.2, true),
    run("adam", 0.01, 2, 0.3, true), // two of three seeds diverged: median is +Infinity
    run("rmsprop", 0.01, 0, 0.4),
  ];
  const cells = sweepCells(runs);
  const c = cells.find((x) => x.optimizer === "adam" && x.learningRate === 0.01)!;
  assert.equal(c.medianFinalTrainLoss, Infinity);
  assert.equal(c.divergedSeeds, 2);
  const best = bestCells(cells);
  assert.equal(best.get("m\u0000adam")!.learningRate, 0.001);
  assert.equal(best.get("m\u0000adam")!.medianFinalTrainLoss, 0.6);
  assert.equal(best.get("m\u0000rmsprop")!.learningRate, 0.01);
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

Deno.test("cnn: CIFAR-10 missing gives a 'not run' reason, never other data", async () => {
  const empty = await Deno.makeTempDir({ prefix: "lopt-cnn-nocifar-" });
  try {
    const r = await loadCnnData(convNetSpec("convnet_cifar10"), params({ cifarDir: empty }));
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, /CIFAR-10 not found.*deno task data download cifar10/s);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("cnn: every optimizer of a seed starts from the same init and data; runs are reproducible", async () => {
  const p = params({
    steps: 3,
    evalEvery: 2,
    trainLimit: 64,
    testLimit: 32,
    trainEvalSize: 32,
    batchSize: 16,
  });
  const spec = convNetSpec("convnet_mnist_relu");
  const data = await loadCnnData(spec, p);
  assert.ok(data.ok);
  if (!data.ok) return;
  const before = tf.memory().numTensors;
  const go = (name: string, lr: number, seed: number) =>
    trainConvNet({
      spec,
      optimizer: makeBaseline(
        name,
        name === "momentum" ? { learningRate: lr, momentum: 0.9 } : { learningRate: lr },
      ),
      optimizerName: name,
      learningRate: lr,
      seed,
      train: data.train,
      test: data.test,
      params: p,
    });
  const a = await go("adam", 1e-3, 0);
  const a2 = await go("adam", 1e-3, 0);
  const m = await go("momentum", 0.1, 0);
  const other = await go("adam", 1e-3, 1);
  assert.equal(tf.memory().numTensors, before, "training runs leaked tensors");
  assert.deepEqual(a.minibatchLoss, a2.minibatchLoss);
  assert.deepEqual(a.evals, a2.evals);
  // step 0's loss is taken before any update: same init + same first batch -> same value
  assert.equal(a.minibatchLoss[0], m.minibatchLoss[0]);
  assert.deepEqual(a.evals[0], m.evals[0]);
  assert.notEqual(a.minibatchLoss[0], other.minibatchLoss[0]);
  assert.deepEqual(a.evals.map((e) => e.step), [0, 2, 3]);
  assert.equal(a.stepsRun, 3);
  assert.ok(Number.isFinite(a.finalTrainLoss) && a.testAccuracy >= 0 && a.testAccuracy <= 1);
  assert.ok(a.secondsPerStep > 0);
  // an absurd learning rate diverges and is recorded, not thrown
  const bad = await go("momentum", 1e12, 0);
  assert.equal(bad.diverged, true);
  assert.ok(Number.isNaN(bad.finalTrainLoss));
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
