// The lr-trace CLI (stages/lr_trace_cli.ts) as a user runs it: a traced task set, a spec given inline, and
// one-line usage errors.
import assert from "node:assert/strict";
import { join } from "node:path";

const REPO = new URL("../../", import.meta.url).pathname;
const spec = { family: "quadratic", params: { ndim: 6 }, seed: 4 };

async function cli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--node-modules-dir=auto",
      "-P=lr-trace",
      join(REPO, "stages/lr_trace_cli.ts"),
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
      "20",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const row = ok.stdout.split("\n").find((l) => l.startsWith("valid/q#0\t"));
    assert.ok(row, ok.stdout);
    const cols = row.split("\t");
    assert.equal(cols.length, 5);
    assert.ok(cols.slice(1, 4).every((c) => Number.isFinite(Number(c))), row);
    // the start and horizon losses are printed though --at names neither step; l only at the steps it names
    assert.match(cols[4], /^20:-?\d+\.\d+$/);

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

Deno.test("lr-trace CLI: a spec on a real dataset loads it; a missing dataset is a one-line usage error", async () => {
  const mlp = {
    family: "fully_connected",
    params: {
      nFeatures: 784,
      nClasses: 10,
      hiddenSizes: [8],
      activation: "relu",
      init: "he",
      dataset: { kind: "mnist", split: "train", limit: 200 },
      batchSize: 32,
    },
    seed: 1,
  };
  const weights = join(REPO, "models/pretrained");
  const ok = await cli([
    "--meta-train",
    weights,
    "--spec",
    JSON.stringify(mlp),
    "--steps",
    "4",
    "--at",
    "0,4",
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  const row = ok.stdout.split("\n").find((l) => l.startsWith("spec#0\t"));
  assert.ok(row, ok.stdout);
  assert.ok(Number(row.split("\t")[1]) > 1, row); // ln 10 ≈ 2.3 at the start of a 10-class problem
  const empty = await Deno.makeTempDir({ prefix: "lopt-nocifar-" });
  try {
    const cifar = {
      ...mlp,
      params: { ...mlp.params, nFeatures: 3072, dataset: { kind: "cifar10", dir: empty } },
    };
    const missing = await cli(["--meta-train", weights, "--spec", JSON.stringify(cifar)]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^lr-trace: .*CIFAR-10 not found/);
    assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
    assert.equal(missing.stdout, "");
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});
