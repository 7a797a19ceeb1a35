/**
 * Every param of every real stage has a documented range, and a value outside it is refused before any stage
 * runs (with `--dry-run` and without), by a one-line error naming the param, the value and the range.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../pipeline/cli.ts";
import type { ParamSpec } from "../../pipeline/stage.ts";
import { STAGES } from "../../stages/main.ts";
import { RESNET_DEPTHS } from "../../models/evaluation/imagenet_config.ts";
import { RESNET_V2_BLOCKS } from "../../tasks/imagenet/resnet_v2.ts";

/** Runs the real CLI in-process; no stage can run (every case is refused or a dry run). */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { stages: STAGES, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** What a spec documents as its range, or why it documents none. */
function rangeProblem(spec: ParamSpec): string | null {
  switch (spec.type) {
    case "boolean":
      return null;
    case "number":
    case "integer":
      return spec.min !== undefined && spec.max !== undefined ? null : "no min/max";
    case "number[]":
      return spec.min !== undefined && spec.max !== undefined && spec.maxItems !== undefined
        ? null
        : "no min/max/maxItems";
    case "string":
      return spec.choices || spec.range ? null : "no choices or range";
    case "string[]":
      return (spec.choices || spec.range) && spec.maxItems !== undefined ? null : "no choices/range/maxItems";
    case "json":
      return spec.check && spec.range ? null : "no check or range";
  }
}

Deno.test("params: every param of every stage documents its range", () => {
  const missing: string[] = [];
  for (const s of STAGES) {
    for (const [k, spec] of Object.entries(s.params)) {
      const why = rangeProblem(spec);
      if (why) missing.push(`${s.name}.${k}: ${why}`);
    }
  }
  assert.deepEqual(missing, []);
});

/** A value just above the param's maximum, as `--set` text (null: the param has no numeric maximum). */
function aboveMax(spec: ParamSpec): string | null {
  if (spec.max === undefined) return null;
  const v = spec.type === "integer" ? String(spec.max + 1) : String(spec.max * (1 + 1e-9) + 1e-12);
  return spec.type === "number[]" ? `[${v}]` : v;
}

Deno.test("params: a value just above any param's maximum is refused before any stage runs", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-bounds-" });
  try {
    let cases = 0;
    for (const s of STAGES) {
      for (const [k, spec] of Object.entries(s.params)) {
        const v = aboveMax(spec);
        if (v === null) continue;
        cases++;
        const r = await cli([
          "--results",
          results,
          "--profile",
          "smoke",
          "--dry-run",
          "--set",
          `${s.name}.${k}=${v}`,
        ]);
        assert.equal(r.code, 2, `${s.name}.${k}=${v}: ${r.out}${r.err}`);
        assert.equal(r.err.split("\n").length, 1, r.err);
        assert.match(
          r.err,
          new RegExp(`^error: stage "${s.name}": param "${k}" expects .*in \\[.*, ${spec.max}\\]`),
        );
        assert.ok(r.err.includes(`got ${JSON.parse(v) === Number(v) ? Number(v) : v}`), r.err);
      }
    }
    assert.ok(cases >= 50, `only ${cases} numeric params`);
    // Not a dry run: refused as well, before the lock, the database or any stage.
    const r = await cli(["--results", results, "--profile", "smoke", "--set", "meta-train.metaLr=1e308"]);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /^error: stage "meta-train": param "metaLr" expects number in \[1e-12, 1\], got 1e\+308/,
    );
    assert.deepEqual([...Deno.readDirSync(results)], [], "nothing was written");
    // The values the issue reported as accepted.
    for (
      const [set, name] of [
        ["meta-train.maxMetaSteps=1e300", "maxMetaSteps"],
        ["eval-problems.horizon=9007199254740993", "horizon"],
        ["baselines-cnn.batchSize=1000000000", "batchSize"],
        ["generate-tasks.heldoutPerFamily=1000000", "heldoutPerFamily"],
      ]
    ) {
      const x = await cli(["--results", results, "--dry-run", "--set", set]);
      assert.equal(x.code, 2, set);
      assert.match(x.err, new RegExp(`param "${name}" expects`), set);
    }
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});

Deno.test("params: below-minimum values, bad list lengths, json shapes and cross-param rules are refused", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-bounds-" });
  try {
    const cases: [string[], RegExp][] = [
      [["meta-train.metaBatch=0"], /param "metaBatch" expects integer in \[1, 64\], got 0/],
      [["eval-problems.seed=-1"], /param "seed" expects integer in \[0, 1000000000\], got -1/],
      [
        ["baselines-cnn.seeds=[]"],
        /param "seeds" expects json .*got \[\].*need a JSON list of 1 to 20 seeds/,
      ],
      [
        ['baselines-cnn.learningRates={"adam":[0]}'],
        /param "learningRates".*adam: need 1 to 50 learning rates/,
      ],
      [['baselines-cnn.learningRates={"sgd":[0.1]}'], /unknown family "sgd"/],
      [['baselines-cnn.learningRates={"adam":[0.1]}'], /learningRates has no grid for optimizer momentum/],
      [["baselines-cnn.models=[]"], /models=\[\] names no ConvNet/],
      [
        ['meta-train.hrnn={"levelSizes":"x"}'],
        /param "hrnn" expects json \(an object of HrnnConfig options, see/,
      ],
      [['meta-train.hrnn={"nope":1}'], /param "hrnn".*nope/],
      [
        ["meta-train.minUnrollLength=30", "meta-train.maxUnrollLength=20"],
        /stage "meta-train" \(profile "smoke" with the --set overrides\): minUnrollLength=30 must be at most maxUnrollLength=20/,
      ],
      [["meta-train.objTrainMaxMultiplier=0.5"], /objTrainMaxMultiplier=0\.5 would end every trajectory/],
      [["tune-baselines.lrMin=1", "tune-baselines.lrMax=0.1"], /lrMin=1 must be at most lrMax=0\.1/],
      [["tune-baselines.tasks=train/001"], /param "tasks".*"train\/001" not of the form test\/<name>/],
      [["tune-baselines.skipFamilies=nosuch"], /param "skipFamilies" expects string\[\] \(one of /],
      [["imagenet-transfer.imagenetDir=/nonexistent/imagenet"], /param "imagenetDir".*: no such folder/],
      [["imagenet-transfer.resnetDepth=27"], /param "resnetDepth".*got 27.*no ResNet V2 of depth 27/],
      [
        ["imagenet-transfer.lrMultipliers=[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21]"],
        /at most 20 items/,
      ],
      [
        ["generate-tasks.groups=bowl_problems", "generate-tasks.exclude=bowl_problems"],
        /leaves no ensemble group/,
      ],
    ];
    for (const [sets, re] of cases) {
      const r = await cli([
        "--results",
        results,
        "--profile",
        "smoke",
        "--dry-run",
        ...sets.flatMap((s) => ["--set", s]),
      ]);
      assert.equal(r.code, 2, `${sets.join(" ")}: ${r.out}`);
      assert.equal(r.err.split("\n").length, 1, r.err);
      assert.match(r.err, re);
    }
    // A stage that is not selected is checked too (its params are never silently wrong).
    const r = await cli([
      "--results",
      results,
      "--dry-run",
      "generate-tasks",
      "--set",
      "eval-problems.horizon=0",
    ]);
    assert.equal(r.code, 2);
    assert.match(r.err, /param "horizon"/);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});

Deno.test("params: every profile of every stage resolves within the ranges", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-bounds-" });
  try {
    for (const profile of ["smoke", "default", "paper", "gpu"]) {
      const r = await cli(["--results", join(results, profile), "--profile", profile, "--dry-run"]);
      assert.equal(r.code, 0, r.err);
    }
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});

Deno.test("params: the ResNet depths accepted are the ones the network builder knows", () => {
  assert.deepEqual([...RESNET_DEPTHS], Object.keys(RESNET_V2_BLOCKS).map(Number));
});

Deno.test("--params meta-train shows each profile's value next to the schema, without garbled text", async () => {
  const r = await cli(["--params", "meta-train"]);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /\n {2}metaLr = 0\.001 {2}\(from profile default\)\n {6}accepts: {2}number in \[1e-12, 1\]\n {6}profiles: smoke 0\.001 \| default 0\.001 \| paper 0\.000001 \| gpu 0\.001\n/,
  );
  assert.match(
    r.out,
    /\n {2}maxMetaSteps = 2400 .*\n.*\n {6}profiles: smoke 6 \| default 2400 \| paper 100000 \| gpu 2400\n/,
  );
  assert.match(r.out, /\n {2}seed = 0 {2}\(from schema default\)\n/);
  assert.doesNotMatch(r.out, /; default;|\(integer; default/);
  const paper = await cli(["--params", "meta-train", "--profile", "paper", "--set", "meta-train.seed=3"]);
  assert.match(paper.out, /\n {2}metaLr = 0\.000001 {2}\(from schema default\)\n/);
  assert.match(paper.out, /\n {2}seed = 3 {2}\(from --set\)\n/);
});
