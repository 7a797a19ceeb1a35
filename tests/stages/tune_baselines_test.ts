import assert from "node:assert/strict";
import { join } from "node:path";
import { logGrid } from "../../lib/stats.ts";
import { downsampleSteps, medianLoss, pickLearningRate, rankValue } from "../../models/evaluation/stats.ts";
import { DatasetCache, readTuned, runRng, selectProblems } from "../../stages/eval_common.ts";
import type { TaskRecord } from "../../stages/task_set.ts";
import { artifactDir, dryRun, query, runEvalOk } from "./fixtures/eval_harness.ts";

Deno.test("logGrid spans [min, max] evenly in log space", () => {
  assert.deepEqual(logGrid(1e-4, 1, 5), [1e-4, 1e-3, 1e-2, 1e-1, 1]);
  assert.deepEqual(logGrid(0.01, 0.01, 1), [0.01]);
  assert.throws(() => logGrid(0, 1, 3), /> 0/);
  assert.throws(() => logGrid(1, 0.1, 3), /upper end/);
});

Deno.test("medianLoss and pickLearningRate treat divergence as +inf", () => {
  assert.equal(rankValue(NaN), Infinity);
  assert.equal(rankValue(1, true), Infinity);
  assert.equal(medianLoss([3, 1, 2]), 2);
  assert.equal(medianLoss([1, Infinity]), Infinity);
  assert.equal(medianLoss([Infinity, Infinity]), Infinity);
  assert.equal(medianLoss([1, NaN, 2]), 2);
  const pick = pickLearningRate([
    { learningRate: 0.1, losses: [Infinity, 0.5, Infinity] },
    { learningRate: 0.01, losses: [0.9, 0.8, 1.0] },
    { learningRate: 0.001, losses: [0.9, 0.95, 1.0] },
  ]);
  assert.equal(pick.learningRate, 0.01);
  assert.equal(pick.medianLoss, 0.9);
  assert.equal(pick.allDiverged, false);
  const all = pickLearningRate([
    { learningRate: 1, losses: [Infinity] },
    { learningRate: 0.1, losses: [Infinity] },
  ]);
  assert.equal(all.learningRate, 0.1); // ties go to the smallest rate
  assert.equal(all.allDiverged, true);
});

Deno.test("downsampleSteps keeps at most about maxPoints and the last step", () => {
  assert.deepEqual(downsampleSteps(5, 200), [0, 1, 2, 3, 4]);
  const d = downsampleSteps(10000, 200);
  assert.ok(d.length <= 201, `${d.length}`);
  assert.equal(d[0], 0);
  assert.equal(d.at(-1), 9999);
  assert.deepEqual(downsampleSteps(0, 10), []);
});

Deno.test("selectProblems filters held-out tasks and the run rng ignores the optimizer", () => {
  const rec = (id: string, family: string, split: "train" | "valid" | "test" = "test"): TaskRecord => ({
    id,
    split,
    name: id,
    group: "g",
    spec: { family, params: {}, seed: 1 },
    batchSize: null,
    initSeed: 7,
  });
  const tasks = [
    rec("train/000", "quadratic", "train"),
    rec("test/a", "quadratic"),
    rec("test/b", "conv_net"),
    rec(
      "test/c",
      "bowl",
    ),
    rec("test/d", "bowl"),
    rec("valid/bowl#0", "bowl", "valid"),
  ];
  const dims = new Map([["test/c", 5000]]);
  const { selected, excluded } = selectProblems(
    tasks,
    { maxProblems: 1, maxDims: 100, skipFamilies: ["conv_net"], tasks: [] },
    dims,
  );
  assert.deepEqual(selected.map((t) => t.id), ["test/a"]);
  assert.deepEqual(excluded.map((e) => e.taskId), ["test/b", "test/c", "test/d"]);
  const valid = selectProblems(tasks, {
    split: "valid",
    maxProblems: 0,
    maxDims: 0,
    skipFamilies: [],
    tasks: [],
  });
  assert.deepEqual(valid.selected.map((t) => t.id), ["valid/bowl#0"], "the validation split alone");
  assert.throws(
    () =>
      selectProblems(tasks, {
        split: "valid",
        maxProblems: 0,
        maxDims: 0,
        skipFamilies: [],
        tasks: ["test/a"],
      }),
    /unknown validation task id/,
  );
  assert.throws(
    () => selectProblems(tasks, { maxProblems: 0, maxDims: 0, skipFamilies: [], tasks: ["test/zz"] }),
    /unknown held-out task id/,
  );
  // Same (task, purpose, seed) -> same stream; different seed or purpose -> different stream.
  assert.equal(runRng(tasks[1], "tune", 3).nextU32(), runRng(tasks[1], "tune", 3).nextU32());
  assert.notEqual(runRng(tasks[1], "tune", 3).nextU32(), runRng(tasks[1], "tune", 4).nextU32());
  assert.notEqual(runRng(tasks[1], "tune", 3).nextU32(), runRng(tasks[1], "eval", 3).nextU32());
});

Deno.test("DatasetCache turns a missing external dataset into a reason, not an exception", async () => {
  const cache = new DatasetCache();
  const missing = await Deno.makeTempDir({ prefix: "lopt-nodata-" });
  try {
    const spec = {
      family: "softmax_regression",
      params: { nFeatures: 10, nClasses: 10, dataset: { kind: "cifar10", dir: missing }, batchSize: 8 },
      seed: 1,
    };
    const r = await cache.resolverFor(spec);
    assert.equal(r.resolver, undefined);
    assert.match(r.error ?? "", /^external dataset unavailable: /);
    assert.deepEqual(await cache.resolverFor({ family: "quadratic", params: { ndim: 2 }, seed: 1 }), {});
  } finally {
    await Deno.remove(missing, { recursive: true });
  }
});

Deno.test("tune-baselines through the engine (smoke profile, a grid reaching divergence)", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-tune-" });
  try {
    // lrMax 1e4 makes the top grid point diverge on some problems: divergence must be recorded, not thrown.
    const args = [
      "--profile",
      "smoke",
      "--set",
      "tune-baselines.lrMax=10000",
      "--set",
      "tune-baselines.lrPoints=3",
      "tune-baselines",
    ];
    await runEvalOk(results, args);
    const runs = await query(
      results,
      "SELECT task_id, optimizer, learning_rate, seed, final_loss, diverged, steps_run FROM tuning_runs",
      ["task_id", "optimizer", "learning_rate", "seed", "final_loss", "diverged", "steps_run"],
    );
    // smoke: 4 problems × 3 baselines × 3 grid points × 1 seed.
    assert.equal(runs.length, 4 * 3 * 3 * 1);
    assert.ok(runs.some((r) => r.diverged === true), "expected some diverged runs at lr 1e4");
    for (const r of runs) {
      if (r.diverged) assert.ok((r.steps_run as number) <= 40);
      else assert.equal(typeof r.final_loss, "number");
    }
    const tuned = await query(
      results,
      "SELECT task_id, optimizer, learning_rate, median_final_loss, status FROM tuned_lr",
      ["task_id", "optimizer", "learning_rate", "median_final_loss", "status"],
    );
    assert.equal(tuned.length, 4 * 3);
    // The tuned rate is the argmin of the median final loss over seeds (diverged = +inf, ties to smaller lr).
    for (const t of tuned) {
      const mine = runs.filter((r) => r.task_id === t.task_id && r.optimizer === t.optimizer);
      const byLr = new Map<number, number[]>();
      for (const r of mine) {
        const v = r.diverged || r.final_loss === null ? Infinity : (r.final_loss as number);
        byLr.set(r.learning_rate as number, [...(byLr.get(r.learning_rate as number) ?? []), v]);
      }
      const expected = pickLearningRate(
        [...byLr].map(([learningRate, losses]) => ({ learningRate, losses })),
      );
      assert.equal(t.learning_rate, expected.learningRate, `${t.task_id} ${t.optimizer}`);
      assert.equal(t.status, expected.allDiverged ? "all_diverged" : "tuned");
      if (!expected.allDiverged) {
        assert.ok(Math.abs((t.median_final_loss as number) - expected.medianLoss) < 1e-9);
      }
    }
    // tuned.json agrees with the table, and meta-train was never needed.
    const plan = await dryRun(results, args);
    assert.equal(plan["tune-baselines"].action, "cached");
    assert.equal(plan["meta-train"], undefined);
    const file = await readTuned(artifactDir(results, "tune-baselines", plan["tune-baselines"].key));
    assert.deepEqual(file.grid, [0.001, 3.16228, 10000]);
    assert.equal(file.problems.length, 4);
    for (const t of tuned) {
      const p = file.problems.find((x) => x.taskId === t.task_id)!;
      assert.equal(p.learningRate[t.optimizer as string], t.learning_rate);
    }
    await Deno.stat(join(results, "artifacts", "tune-baselines", plan["tune-baselines"].key, "tuned.json"));
    // A rerun with the same params is cached; another tuning seed is a new run.
    const other = await dryRun(results, [...args, "--set", "tune-baselines.seed=1"]);
    assert.equal(other["tune-baselines"].action, "run");
    assert.equal(other["generate-tasks"].action, "cached");
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
