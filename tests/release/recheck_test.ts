/**
 * The recheck's selection rule and comparison, and the release record's summaries (pure functions).
 */
import { strict as assert } from "node:assert";
import { lossesMatch, pickRecheckRuns, RECHECK_MAX_DIMS } from "../../release/recheck.ts";
import { buildReleaseRecord, releaseReadme } from "../../release/record.ts";
import type { TaskRecord } from "../../stages/task_set.ts";

const task = (id: string, params: Record<string, unknown> = {}): TaskRecord => ({
  id,
  split: "test",
  name: id,
  group: "test_problems",
  spec: { family: "quadratic", params: { ndim: 4, ...params }, seed: 1 },
  batchSize: null,
  initSeed: 7,
});

Deno.test("pickRecheckRuns: first learned runs at the first seed, no external data, small, not diverged", () => {
  const tasks = [
    task("test/a"),
    task("test/b"),
    task("test/mnist", { dataset: { kind: "mnist" } }),
    task("test/big"),
    task("test/c"),
    task("test/d"),
  ];
  const dims = new Map(tasks.map((t) => [t.id, t.id === "test/big" ? RECHECK_MAX_DIMS + 1 : 10]));
  const row = (
    task_id: string,
    seed: number,
    final_loss: number | null,
    diverged = false,
    optimizer = "learned",
  ) => ({
    task_id,
    optimizer,
    seed,
    final_loss,
    diverged,
  });
  const finals = [
    row("test/a", 0, 1.5, false, "adam"),
    row("test/a", 1, 1.0),
    row("test/a", 0, null, true),
    row("test/b", 0, 2.0),
    row("test/mnist", 0, 0.3),
    row("test/big", 0, 0.2),
    row("test/c", 0, 0.1),
    row("test/d", 0, 0.05),
  ];
  const runs = pickRecheckRuns(tasks, finals, dims, { horizon: 300, fullEvery: 30 }, 2);
  assert.deepEqual(runs.map((r) => [r.task.id, r.seed, r.recordedFinalLoss, r.steps]), [
    ["test/b", 0, 2.0, 300],
    ["test/c", 0, 0.1, 300],
  ]);
});

Deno.test("lossesMatch: relative tolerance 1e-3, non-finite never matches", () => {
  assert.ok(lossesMatch(1, 1.0009));
  assert.ok(!lossesMatch(1, 1.002));
  assert.ok(lossesMatch(0, 0));
  assert.ok(!lossesMatch(NaN, NaN));
  assert.ok(!lossesMatch(1, Infinity));
});

Deno.test("buildReleaseRecord: summaries from the artifacts; the README leaves out rows that did not run", () => {
  const record = buildReleaseRecord({
    profile: "default",
    sets: ["meta-train.seed=1"],
    command: "deno task release-weights --profile default --set meta-train.seed=1",
    artifacts: { "meta-train": "k1" },
    trainedAtCommit: "abc",
    releasedAtCommit: "def",
    weights: {
      profile: "default",
      params: { maxMetaSteps: 1200 },
      metaTraining: { metaSteps: 1200, curve: [1, 2] },
    },
    weightsSha256: "00",
    weightsBytes: 10,
    evalParams: { horizon: 300 },
    evalSummary: { problems: 2, winFraction: { adam: 0.5 }, learnedProvenance: { big: true } },
    evalLong: [{ task_id: "test/a", improvement_ratio: 1.2, learned_diverged: false, other: 1 }],
    learnedFinals: [
      { task_id: "test/b", diverged: true },
      { task_id: "test/a", diverged: false },
      { task_id: "test/b", diverged: true },
    ],
    cnnSummary: [
      {
        model: "m",
        dataset: "mnist",
        status: "ok",
        baseline: "adam",
        baseline_final_train_loss: 0.2,
        loss_ratio: 0.9,
      },
      { model: "c", dataset: "cifar10", status: "not run", baseline: "adam" },
    ],
    kernel: "HRNN update: native",
    recheck: [],
    releasedAt: "2026-01-01T00:00:00Z",
    note: "n",
  });
  assert.equal(record.heldOut.summary.learnedProvenance, undefined);
  assert.deepEqual(record.heldOut.learnedDivergedProblems, ["test/b"]);
  assert.deepEqual(record.heldOut.longHorizon, [{
    task_id: "test/a",
    improvement_ratio: 1.2,
    learned_diverged: false,
  }]);
  assert.deepEqual(record.metaTraining.curve, [1, 2]);
  assert.equal(record.metaTraining.summary.curve, undefined);
  assert.equal(record.metaTraining.summary.metaSteps, 1200);
  const readme = releaseReadme(record);
  assert.match(readme, /`--set meta-train\.seed=1`/);
  assert.match(readme, /at the commit it was trained at \(`git checkout abc`\)/);
  assert.match(readme, /\| m \| adam/);
  assert.doesNotMatch(readme, /\| c \|/);
  assert.match(readme, /Learned diverged on: test\/b\./);
  assert.match(readme, /\| learned wins \| – \| – \| 50 % \|/);
});
