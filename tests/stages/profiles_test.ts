import assert from "node:assert/strict";
import { resolveParams } from "../../pipeline/params.ts";
import { STAGES } from "../../stages/main.ts";
import { gradMsAtBatch } from "../../tasks/imagenet/overhead.ts";

Deno.test("profile gpu: every stage but imagenet-transfer resolves exactly its default params", () => {
  for (const s of STAGES) {
    if (s.name === "imagenet-transfer") continue;
    assert.deepEqual(resolveParams(s, "gpu", []), resolveParams(s, "default", []), s.name);
  }
});

Deno.test("profile gpu: imagenet-transfer runs the full-size networks on webgpu and measures batch 32", () => {
  const stage = STAGES.find((s) => s.name === "imagenet-transfer")!;
  const p = resolveParams(stage, "gpu", []) as Record<string, unknown>;
  assert.equal(p.backend, "webgpu");
  assert.equal(p.widthMultiplier, 1);
  assert.equal(p.inceptionInputSize, 299);
  assert.equal(p.resnetInputSize, 224);
  assert.equal(p.resnetDepth, 50);
  assert.equal(p.batchSize, 32);
  assert.ok((p.steps as number) >= 1000, `thousands of steps, got ${p.steps}`);
  assert.equal(p.overheadWidth, 1);
  assert.equal(p.overheadInceptionInput, 299);
  assert.equal(p.overheadResnetInput, 224);
  assert.equal(p.overheadStepBatch, p.overheadTargetBatch, "the step is measured at the target batch");
  assert.equal(p.overheadTargetBatch, 32);
  // step_basis: measured when the measured batch is the target, else labelled as extrapolated.
  const timing = { inputSize: 299, gradMs: 100, updateMs: 1, stepMs: 101, peakBytes: 0, repeats: 3 };
  const measured = gradMsAtBatch({ ...timing, batch: 32 }, 32);
  assert.equal(measured.gradMs, 100);
  assert.match(measured.basis, /^measured at batch 32, 299 px$/);
  const extrapolated = gradMsAtBatch({ ...timing, batch: 1 }, 32);
  assert.equal(extrapolated.gradMs, 3200);
  assert.match(extrapolated.basis, /^EXTRAPOLATED to batch 32/);
});
