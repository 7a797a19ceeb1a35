import assert from "node:assert/strict";
import { compareOnProblem } from "../../../models/evaluation/stats.ts";
import { summarize } from "../../../models/evaluation/heldout_summary.ts";

Deno.test("compareOnProblem and summarize: wins, ratios, per-family table", () => {
  const a = compareOnProblem({ learned: 1, adam: 2, rmsprop: 0.5, momentum: Infinity }, "learned");
  assert.equal(a.bestOptimizer, "rmsprop");
  assert.equal(a.bestBaseline, "rmsprop");
  assert.equal(a.ratio, 2);
  assert.deepEqual(a.wins, { adam: true, rmsprop: false, momentum: true });
  assert.equal(a.ratios.momentum, null);
  const b = compareOnProblem({ learned: -3, adam: -1, rmsprop: 1, momentum: 2 }, "learned");
  assert.equal(b.bestOptimizer, "learned");
  assert.equal(b.ratio, null); // negative losses: no ratio
  const s = summarize([{ family: "quadratic", cmp: a }, { family: "bowl", cmp: b }], {
    version: 1,
    learnedStandIn: true,
    learnedProvenance: {},
    baselines: ["momentum", "rmsprop", "adam"],
    seeds: [0],
    horizon: 10,
    tuneHorizon: 10,
    notRun: [],
  });
  assert.equal(s.problems, 2);
  assert.deepEqual(s.winFraction, { momentum: 1, rmsprop: 0.5, adam: 1 });
  assert.equal(s.winFractionVsBest, 0.5);
  assert.equal(s.medianRatio.best, 2);
  assert.equal(s.medianRatio.adam, 0.5);
  assert.deepEqual(s.perFamily.bowl, {
    problems: 1,
    wins: { momentum: 1, rmsprop: 1, adam: 1 },
    winsVsBest: 1,
  });
});
