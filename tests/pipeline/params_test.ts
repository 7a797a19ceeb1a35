import assert from "node:assert/strict";
import { PipelineError } from "../../pipeline/errors.ts";
import {
  assertProfile,
  knownProfiles,
  parseParamValue,
  parseSetArg,
  resolveParams,
  validateSets,
} from "../../pipeline/params.ts";
import { defineStage, type Params, type ParamSpec, type StageDef } from "../../pipeline/stage.ts";

const train = defineStage<
  { lr: number; steps: number; fast: boolean; opt: string; sizes: number[]; cfg: unknown }
>({
  name: "train",
  description: "t",
  deps: [],
  version: "1",
  params: {
    lr: { type: "number", default: 0.1, min: 0, max: 1, description: "learning rate" },
    steps: { type: "integer", default: 10, min: 1, description: "steps" },
    fast: { type: "boolean", default: false, description: "fast" },
    opt: { type: "string", default: "adam", choices: ["adam", "sgd"], description: "optimizer" },
    sizes: { type: "number[]", default: [1, 2], description: "sizes" },
    cfg: { type: "json", default: { a: 1 }, description: "config" },
  },
  profiles: { smoke: { steps: 2 }, paper: { steps: 1000, lr: 0.01 } },
  tables: [],
  run: () => Promise.resolve(),
});

Deno.test("params: defaults < profile < --set", () => {
  assert.deepEqual(resolveParams(train, "default", []), {
    lr: 0.1,
    steps: 10,
    fast: false,
    opt: "adam",
    sizes: [1, 2],
    cfg: { a: 1 },
  });
  assert.equal(resolveParams(train, "smoke", []).steps, 2);
  const sets = ["train.steps=5", "train.fast=yes", "train.sizes=3, 4.5", 'train.cfg={"b":[1]}', "other.x=1"]
    .map(parseSetArg);
  const p = resolveParams(train, "paper", sets);
  assert.deepEqual([p.steps, p.lr, p.fast, p.sizes, p.cfg], [5, 0.01, true, [3, 4.5], { b: [1] }]);
});

Deno.test("params: --set parsing", () => {
  assert.deepEqual(parseSetArg("a.b=c=d.e"), { stage: "a", key: "b", raw: "c=d.e" });
  assert.throws(() => parseSetArg("ab=1"), PipelineError);
  const spec = (type: ParamSpec["type"]): ParamSpec => ({ type, default: null, description: "d" });
  assert.deepEqual(parseParamValue("s", "k", spec("number[]"), "[1,2]"), [1, 2]);
  assert.deepEqual(parseParamValue("s", "k", spec("number[]"), ""), []);
  assert.deepEqual(parseParamValue("s", "k", spec("string[]"), "a,b"), ["a", "b"]);
  assert.equal(parseParamValue("s", "k", spec("boolean"), "0"), false);
  assert.throws(() => parseParamValue("s", "k", spec("number"), ""), /expects number/);
  assert.throws(
    () => parseParamValue("s", "k", spec("boolean"), "maybe"),
    /stage "s": param "k" expects boolean/,
  );
});

Deno.test("params: validation errors name stage, key and type", () => {
  const bad = (s: string, re: RegExp) =>
    assert.throws(() => resolveParams(train, "default", [parseSetArg(s)]), re);
  bad("train.lr=2", /stage "train": param "lr" expects number in \[0, 1\], got 2 \(from --set train.lr\)/);
  bad("train.steps=1.5", /param "steps" expects integer/);
  bad("train.opt=rmsprop", /param "opt" expects string \(one of adam, sgd\)/);
  bad("train.sizes=1,x", /param "sizes" expects number\[\]/);
  bad('train.sizes=["a"]', /param "sizes" expects number\[\]/);
  bad("train.nope=1", /stage "train" has no param "nope".*valid params: lr, steps/);
  const broken = { ...train, profiles: { smoke: { steps: "many" } } } as unknown as StageDef<Params>;
  assert.throws(
    () => resolveParams(broken, "smoke", []),
    /param "steps" expects integer.*profile "smoke"/,
  );
});

Deno.test("params: integers and numbers from --set are parsed strictly", () => {
  const int: ParamSpec = { type: "integer", default: 0, min: -100, max: 100, description: "i" };
  const num: ParamSpec = { type: "number", default: 0, description: "x" };
  const list: ParamSpec = { type: "number[]", default: [], description: "l" };
  assert.equal(parseParamValue("s", "k", int, "16"), 16);
  assert.equal(parseParamValue("s", "k", int, "-7"), -7);
  assert.equal(parseParamValue("s", "k", int, "+5"), 5);
  for (const raw of ["0x10", " 6 ", "6 ", "1e3", "1.0", "0b1", "0o7", "", "Infinity", "6_000"]) {
    assert.throws(
      () => parseParamValue("s", "k", int, raw),
      /param "k" expects integer in \[-100, 100\], got .*: write an integer as decimal digits/,
      raw,
    );
  }
  assert.equal(parseParamValue("s", "k", num, "1e-3"), 0.001);
  assert.equal(parseParamValue("s", "k", num, ".5"), 0.5);
  assert.equal(parseParamValue("s", "k", num, "-2."), -2);
  for (const raw of ["0x10", " 0.5", "Infinity", "NaN", "1e", "--1", ""]) {
    assert.throws(
      () => parseParamValue("s", "k", num, raw),
      /expects number, got .*write a decimal number/,
      raw,
    );
  }
  assert.deepEqual(parseParamValue("s", "k", list, "3, 4.5"), [3, 4.5]);
  assert.throws(() => parseParamValue("s", "k", list, "3,0x10"), /expects number\[\]/);
  // A JSON value of an integer param must be a safe integer too.
  assert.throws(
    () => resolveParams(train, "default", [parseSetArg("train.steps=9007199254740993")]),
    /param "steps" expects integer/,
  );
});

Deno.test("params: a stage's validate runs on the resolved params and names the profile", () => {
  const ranged = defineStage<{ lo: number; hi: number }>({
    ...train,
    params: {
      lo: { type: "integer", default: 1, min: 0, max: 10, description: "lo" },
      hi: { type: "integer", default: 5, min: 0, max: 10, description: "hi" },
    },
    profiles: { smoke: { lo: 6 } },
    validate(p: { lo: number; hi: number }) {
      if (p.lo > p.hi) throw new Error(`lo=${p.lo} must be at most hi=${p.hi}`);
    },
  } as unknown as StageDef<{ lo: number; hi: number }>);
  assert.deepEqual(resolveParams(ranged as StageDef<Params>, "default", []), { lo: 1, hi: 5 });
  assert.throws(
    () => resolveParams(ranged as StageDef<Params>, "smoke", []),
    (e: unknown) =>
      e instanceof PipelineError &&
      e.message === 'stage "train" (profile "smoke"): lo=6 must be at most hi=5',
  );
  assert.throws(
    () => resolveParams(ranged as StageDef<Params>, "default", [parseSetArg("train.lo=7")]),
    /stage "train" \(profile "default" with the --set overrides\): lo=7 must be at most hi=5/,
  );
});

Deno.test("params: profiles and --set stage names", () => {
  assert.deepEqual(knownProfiles([train]), ["default", "paper", "smoke"]);
  assertProfile([train], "smoke");
  assert.throws(() => assertProfile([train], "x"), /unknown profile "x"; profiles: default, paper, smoke/);
  assert.throws(
    () => validateSets([train], [parseSetArg("eval.x=1")]),
    /unknown stage "eval"; valid stages: train/,
  );
});
