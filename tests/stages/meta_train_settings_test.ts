/** `meta-train`'s params as the meta-training settings they select (`stages/meta_train_settings.ts`). */
import assert from "node:assert/strict";
import { parseSetArg, resolveParams } from "../../pipeline/params.ts";
import { metaTrainStage } from "../../stages/meta_train.ts";
import { metaTrainL2lLstm } from "../../stages/meta_train_variants.ts";
import { type MetaTrainParams, metaTrainSettings } from "../../stages/meta_train_settings.ts";

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
