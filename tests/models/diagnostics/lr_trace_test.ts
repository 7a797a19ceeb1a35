import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../../../lib/backend.ts";
import { Rng } from "../../../lib/rng.ts";
import { buildProblem } from "../../../tasks/registry.ts";
import { hrnnLearnedOptimizer } from "../../../models/optimizers/hrnn_learned.ts";
import { adam } from "../../../models/optimizers/baselines.ts";
import { summariseLogLr, traceLogLearningRate } from "../../../models/diagnostics/lr_trace.ts";
import { MIN_LOG_LR } from "../../../models/hrnn/config.ts";

await initBackend();

const REPO = new URL("../../../", import.meta.url).pathname;
const spec = { family: "quadratic", params: { ndim: 6 }, seed: 4 };

Deno.test("summariseLogLr: mean and share at the floor", () => {
  assert.deepEqual(summariseLogLr([MIN_LOG_LR, -5]), { meanLogLr: (MIN_LOG_LR - 5) / 2, atFloor: 0.5 });
  assert.deepEqual(summariseLogLr([-1, -2, -3]), { meanLogLr: -2, atFloor: 0 });
});

Deno.test("traceLogLearningRate samples the HRNN's log learning rates at the asked steps", async () => {
  const learned = hrnnLearnedOptimizer({ initLrRange: [0.02, 0.1], zeroInitLrWeights: false });
  const meta = learned.init(0);
  const problem = buildProblem(spec);
  try {
    const trace = await traceLogLearningRate({
      optimizer: learned.optimizer(meta, { rng: new Rng(1) }),
      problem,
      steps: 6,
      at: [6, 0, 3, 99],
      rng: new Rng(2),
    });
    assert.deepEqual(trace.samples.map((s) => s.step), [0, 3, 6]);
    const [s0, s3] = trace.samples;
    // Random (not zero) learning-rate readout weights, so that ℓ moves. Initial ℓ is drawn log-uniformly in [ln 0.02, ln 0.1].
    assert.ok(s0.meanLogLr > Math.log(0.02) && s0.meanLogLr < Math.log(0.1), `${s0.meanLogLr}`);
    assert.equal(s0.atFloor, 0);
    assert.notEqual(s3.meanLogLr, s0.meanLogLr);
    assert.equal(trace.fullLoss.length, 3);
    assert.ok(trace.fullLoss.every(Number.isFinite));
    assert.ok(Number.isFinite(trace.finalLoss));
    assert.equal(trace.fullLoss[2], trace.finalLoss);
  } finally {
    problem.dispose();
    tf.dispose(Object.values(meta));
  }
});

Deno.test("traceLogLearningRate refuses an optimizer without log learning rates", async () => {
  const problem = buildProblem(spec);
  try {
    await assert.rejects(
      traceLogLearningRate({
        optimizer: adam({ learningRate: 0.01 }),
        problem,
        steps: 2,
        at: [0],
        rng: new Rng(0),
      }),
      /no per-coordinate log learning rate/,
    );
  } finally {
    problem.dispose();
  }
});

async function cli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--node-modules-dir=auto",
      "-P=lr-trace",
      join(REPO, "models/diagnostics/lr_trace_cli.ts"),
      ...args,
    ],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("lr-trace CLI: traces the pretrained HRNN on a task set; one-line usage errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tasks = {
      version: 1,
      seed: 0,
      tasks: [{
        id: "valid/q#0",
        split: "valid",
        name: "q#0",
        group: "q",
        spec,
        batchSize: null,
        initSeed: null,
      }],
    };
    await Deno.writeTextFile(join(dir, "tasks.json"), JSON.stringify(tasks));
    const ok = await cli([
      "--meta-train",
      join(REPO, "models/pretrained"),
      "--tasks",
      dir,
      "--steps",
      "20",
      "--horizon",
      "10",
      "--at",
      "0,20",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const row = ok.stdout.split("\n").find((l) => l.startsWith("valid/q#0\t"));
    assert.ok(row, ok.stdout);
    const cols = row.split("\t");
    assert.equal(cols.length, 5);
    assert.ok(cols.slice(1, 4).every((c) => Number.isFinite(Number(c))), row);
    assert.match(cols[4], /^0:-?\d+\.\d+ {2}20:-?\d+\.\d+/);

    const bad = await cli([
      "--tasks",
      dir,
      "--meta-train",
      join(REPO, "models/pretrained"),
      "--task",
      "valid/none",
    ]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim(), `lr-trace: no valid task valid/none in ${dir}`);
    const given = await cli([
      "--meta-train",
      join(REPO, "models/pretrained"),
      "--spec",
      JSON.stringify(spec),
      "--steps",
      "10",
      "--at",
      "0,10",
    ]);
    assert.equal(given.code, 0, given.stderr);
    assert.match(given.stdout, /^spec#0\t/m);
    const unknown = await cli([
      "--meta-train",
      join(REPO, "models/pretrained"),
      "--spec",
      '{"family":"nope"}',
    ]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^lr-trace: spec#0: problem family 'nope': unknown family/);
    assert.equal(unknown.stdout, "");
    const notJson = await cli(["--meta-train", join(REPO, "models/pretrained"), "--spec", "{"]);
    assert.equal(notJson.code, 2);
    assert.equal(notJson.stderr.trim(), "lr-trace: --spec is not JSON: {");
    const empty = await cli(["--results", dir]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /^lr-trace: no meta-train artifact/);
    assert.equal(empty.stderr.trim().split("\n").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
