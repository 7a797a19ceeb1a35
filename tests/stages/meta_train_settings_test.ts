/** `meta-train`'s params as the meta-training settings they select (`stages/meta_train_settings.ts`). */
import assert from "node:assert/strict";
import { parseSetArg, resolveParams } from "../../pipeline/params.ts";
import { metaTrainStage } from "../../stages/meta_train.ts";
import { metaTrainL2lLstm } from "../../stages/meta_train_variants.ts";
import { type MetaTrainParams, metaTrainSettings } from "../../stages/meta_train_settings.ts";
import { NATS_URL_ENV } from "../../lib/nats_env.ts";

const unrollOf = (profile: string, sets: string[] = [], stage = metaTrainStage) =>
  metaTrainSettings(resolveParams(stage, profile, sets.map(parseSetArg)) as MetaTrainParams).config.unroll;

Deno.test("meta-train settings: objTrainMaxMultiplier reaches the unroll config (10 in default, off in paper)", () => {
  assert.equal(unrollOf("default")?.objTrainMaxMultiplier, 10);
  assert.equal(unrollOf("paper")?.objTrainMaxMultiplier, -1, "the reference never stops on blow-up");
  assert.equal(
    unrollOf("default", [], metaTrainL2lLstm)?.objTrainMaxMultiplier,
    -1,
    "the L2L protocol neither",
  );
  const off = unrollOf("default", ["meta-train.objTrainMaxMultiplier=-1"]);
  assert.equal(off?.objTrainMaxMultiplier, -1);
  assert.deepEqual({ ...unrollOf("default"), objTrainMaxMultiplier: -1 }, off);
  assert.throws(() => unrollOf("default", ["meta-train.objTrainMaxMultiplier=-2"]), /objTrainMaxMultiplier/);
});

Deno.test("meta-train settings: workerMode=async without workers fails when the run is planned", () => {
  const prior = Deno.env.get(NATS_URL_ENV);
  Deno.env.delete(NATS_URL_ENV);
  try {
    const resolve = (sets: string[]) => resolveParams(metaTrainStage, "default", sets.map(parseSetArg));
    assert.throws(
      () => resolve(["meta-train.workerMode=async"]),
      /workerMode=async needs workers: set meta-train.workers=N, or pass --nats URL/,
    );
    resolve(["meta-train.workerMode=async", "meta-train.workers=2"]);
    Deno.env.set(NATS_URL_ENV, "nats://127.0.0.1:4222");
    resolve(["meta-train.workerMode=async"]); // remote workers come through NATS
  } finally {
    if (prior === undefined) Deno.env.delete(NATS_URL_ENV);
    else Deno.env.set(NATS_URL_ENV, prior);
  }
});
