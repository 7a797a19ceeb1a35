import assert from "node:assert/strict";
import { collectSeeds, ensemble } from "../../tasks/ensemble.ts";
import { freshInstances, validationInstances } from "../../tasks/heldout.ts";

Deno.test("validation split: fresh instances of every training family, train-range seeds disjoint from the ensemble and the held-out set", () => {
  const valid = validationInstances({ perFamily: 2 });
  const families = new Set(ensemble().map((e) => e.spec.family));
  assert.equal(valid.length, 2 * families.size);
  assert.deepEqual(new Set(valid.map((v) => v.spec.family)), families);
  const validSeeds = valid.flatMap((v) => collectSeeds(v.spec));
  assert.ok(validSeeds.every((s) => s >= 0 && s < 2 ** 30), "train-split seed range");
  const trainSeeds = new Set(ensemble().flatMap((e) => collectSeeds(e.spec)));
  const testSeeds = new Set(freshInstances({ perFamily: 2 }).flatMap((h) => collectSeeds(h.spec)));
  for (const s of validSeeds) {
    assert.ok(!trainSeeds.has(s), `validation seed ${s} is an ensemble entry's seed`);
    assert.ok(!testSeeds.has(s), `validation seed ${s} is a held-out seed`);
  }
  assert.deepEqual(validationInstances({ perFamily: 2 }), valid, "deterministic");
  assert.notDeepEqual(
    validationInstances({ perFamily: 2, seed: 1 }),
    valid,
    "base seed changes the instances",
  );
});
