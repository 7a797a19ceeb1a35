import assert from "node:assert/strict";
import { downstreamOf, selectWithUpstream, topoOrder, validateGraph } from "../../pipeline/graph.ts";

const g = [
  { name: "report", deps: ["eval", "train"] },
  { name: "eval", deps: ["train", "data"] },
  { name: "train", deps: ["data"] },
  { name: "data", deps: [] },
  { name: "other", deps: [] },
];

Deno.test("graph: validation", () => {
  validateGraph(g);
  assert.throws(
    () => validateGraph([{ name: "a", deps: [] }, { name: "a", deps: [] }]),
    /duplicate stage name "a"/,
  );
  assert.throws(
    () => validateGraph([{ name: "a", deps: ["zz"] }]),
    /depends on unknown stage "zz"; valid stages: a/,
  );
  assert.throws(
    () => validateGraph([{ name: "a", deps: ["c"] }, { name: "b", deps: ["a"] }, { name: "c", deps: ["b"] }]),
    /cycle: a -> c -> b -> a/,
  );
});

Deno.test("graph: order and closures", () => {
  assert.deepEqual(topoOrder(g).map((s) => s.name), ["data", "train", "eval", "report", "other"]);
  assert.deepEqual(selectWithUpstream(g, ["eval"]).map((s) => s.name), ["data", "train", "eval"]);
  assert.equal(selectWithUpstream(g, []).length, 5);
  assert.throws(() => selectWithUpstream(g, ["nope"]), /unknown stage "nope"; valid stages: report, eval/);
  assert.deepEqual([...downstreamOf(g, ["train"])].sort(), ["eval", "report"]);
  assert.deepEqual([...downstreamOf(g, ["other"])], []);
});

Deno.test("selectWithUpstream: no names leaves out defaultTarget: false stages unless a default one needs them", () => {
  const g = [
    { name: "a", deps: [] },
    { name: "slow", deps: ["a"], defaultTarget: false },
    { name: "b", deps: ["a"] },
    { name: "extra", deps: ["slow", "b"], defaultTarget: false },
  ];
  assert.deepEqual(selectWithUpstream(g, []).map((s) => s.name), ["a", "b"]);
  assert.deepEqual(selectWithUpstream(g, ["extra"]).map((s) => s.name), ["a", "slow", "b", "extra"]);
  const needed = [...g, { name: "c", deps: ["slow"] }];
  assert.deepEqual(selectWithUpstream(needed, []).map((s) => s.name), ["a", "slow", "b", "c"]);
});

Deno.test("selectWithUpstream: an optional dep is ordered first and becomes a dep only when it is selected", () => {
  const g = [
    { name: "a", deps: [] },
    { name: "report", deps: ["a"], optionalDeps: ["slow"] },
    { name: "slow", deps: ["a"], defaultTarget: false },
  ];
  validateGraph(g);
  const alone = selectWithUpstream(g, ["report"]);
  assert.deepEqual(alone.map((s) => s.name), ["a", "report"]);
  assert.deepEqual(alone[1].deps, ["a"]);
  assert.deepEqual(selectWithUpstream(g, []).map((s) => s.name), ["a", "report"]);
  const both = selectWithUpstream(g, ["report", "slow"]);
  assert.deepEqual(both.map((s) => s.name), ["a", "slow", "report"]);
  assert.deepEqual(both[2].deps, ["a", "slow"]);
  // The registry's stage objects are not changed.
  assert.deepEqual(g[1].deps, ["a"]);
  assert.throws(
    () => validateGraph([{ name: "r", deps: [], optionalDeps: ["nope"] }]),
    /stage "r" depends on unknown stage "nope"/,
  );
  assert.throws(
    () => validateGraph([{ name: "r", deps: [], optionalDeps: ["s"] }, { name: "s", deps: ["r"] }]),
    /cycle/,
  );
});
