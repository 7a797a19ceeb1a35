/** The report's figure specs (log scales, colours, floored axes, clipped ratios), smoke banner and claim grades. */
import { strict as assert } from "node:assert";
import {
  clippedRatios,
  logFloor,
  optimizerScale,
  RATIO_CAP,
  ratioSpec,
  yScaleType,
} from "../../report/specs.ts";
import { smokeBanner } from "../../report/format.ts";
import { grade } from "../../report/claims.ts";

Deno.test("report specs: log scale only for positive data; fixed optimizer colours", () => {
  assert.equal(yScaleType([1, 2, 0.5]), "log");
  assert.equal(yScaleType([1, -2, null]), "symlog");
  assert.equal(yScaleType([null]), "linear");
  const s = optimizerScale(["momentum", "zzz", "learned", "adam"]);
  assert.deepEqual(s.domain, ["learned", "adam", "momentum", "zzz"]);
  assert.equal(new Set(s.range).size, 4);
});

Deno.test("report specs: floored loss axes, clipped ratio bars, smoke banner, claim grades", () => {
  assert.deepEqual(logFloor([100, 1, 1e-28]), { floor: 1e-4, clipped: true });
  assert.deepEqual(logFloor([5, 0.5, -1]), { floor: 0.5, clipped: false });
  const rows = [
    { task_id: "a", family: "f", ratio: 1e28 },
    { task_id: "b", family: "f", ratio: 2 },
    { task_id: "c", family: "g", ratio: 1e-9 },
  ];
  assert.deepEqual(clippedRatios(rows).map((r) => r.task_id), ["a", "c"]);
  const spec = ratioSpec(rows, "t") as unknown as {
    layer: { data: { values: Record<string, unknown>[] } }[];
  };
  assert.deepEqual(spec.layer[0].data.values.map((v) => [v.shown, v.clipped]), [
    [RATIO_CAP, true],
    [2, false],
    [1 / RATIO_CAP, true],
  ]);
  assert.match(smokeBanner({ profile: "smoke", runs: [] })!, /^SMOKE PROFILE: .*not meaningful/);
  assert.match(smokeBanner({ profile: "default", runs: [{ profile: "smoke" }] })!, /SMOKE PROFILE/);
  assert.equal(smokeBanner({ profile: "default", runs: [{ profile: "default" }] }), null);
  assert.deepEqual([grade(0.5, 0.5, 0.25), grade(0.3, 0.5, 0.25), grade(0.1, 0.5, 0.25)], [
    "reproduced",
    "partly",
    "not reproduced",
  ]);
});
