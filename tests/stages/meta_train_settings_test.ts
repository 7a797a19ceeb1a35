/** `meta-train`'s params as the meta-training settings they select (`stages/meta_train_settings.ts`). */
import assert from "node:assert/strict";
import { parseSetArg, resolveParams } from "../../pipeline/params.ts";
import { metaTrainStage } from "../../stages/meta_train.ts";
import { type MetaTrainParams, metaTrainSettings } from "../../stages/meta_train_settings.ts";

Deno.test("meta-train settings: objTrainMaxMultiplier reaches the unroll config (off by default)", () => {
  const off = metaTrainSettings(resolveParams(metaTrainStage, "default", []) as MetaTrainParams);
  assert.equal(off.config.unroll?.objTrainMaxMultiplier, -1);
  const on = metaTrainSettings(
    resolveParams(metaTrainStage, "default", [
      parseSetArg("meta-train.objTrainMaxMultiplier=4"),
    ]) as MetaTrainParams,
  );
  assert.equal(on.config.unroll?.objTrainMaxMultiplier, 4);
  assert.deepEqual({ ...on.config.unroll, objTrainMaxMultiplier: -1 }, off.config.unroll);
  assert.throws(
    () => resolveParams(metaTrainStage, "default", [parseSetArg("meta-train.objTrainMaxMultiplier=-2")]),
    /objTrainMaxMultiplier/,
  );
});
