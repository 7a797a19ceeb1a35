import assert from "node:assert/strict";
import { ArtifactStore } from "../../pipeline/artifacts.ts";
import { changedParams, keyedParams, planRun } from "../../pipeline/plan.ts";
import { defineStage } from "../../pipeline/stage.ts";

const up = defineStage<{ x: number }>({
  name: "up",
  description: "u",
  deps: [],
  version: "2",
  params: { x: { type: "number", default: 1, description: "x" } },
  profiles: {},
  tables: [],
  run: () => Promise.resolve(),
});
const down = defineStage<{ y: number }>({
  name: "down",
  description: "d",
  deps: ["up"],
  version: "2",
  params: { y: { type: "number", default: 1, description: "y" } },
  profiles: {},
  tables: [],
  run: () => Promise.resolve(),
});

Deno.test("plan: reasons come from the last artifact of the profile", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const artifacts = new ArtifactStore(dir);
    const base = { stages: [up, down], profile: "default", sets: [], force: new Set<string>(), artifacts };
    const first = await planRun(base);
    assert.deepEqual(first.map((p) => p.reason), ["no artifact", "no artifact"]);
    assert.deepEqual(first[1].inputs, { up: first[0].key });
    await artifacts.writeLast("up", "default", {
      key: "old",
      version: "1",
      params: { x: 1 },
      inputs: {},
      time: "",
    });
    await artifacts.writeLast("down", "default", {
      key: "old",
      version: "2",
      params: { y: 2 },
      inputs: { up: "old" },
      time: "",
    });
    const second = await planRun(base);
    assert.deepEqual(second.map((p) => p.reason), [
      "version changed",
      "params changed: y; upstream changed: up",
    ]);
    assert.equal((await planRun({ ...base, profile: "smoke" }))[0].reason, "no artifact");
    assert.deepEqual((await planRun({ ...base, force: "all" })).map((p) => p.reason), ["forced", "forced"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plan: changedParams names added, removed and changed keys", () => {
  assert.deepEqual(changedParams({ a: 1, b: [1], c: 0 }, { a: 1, b: [2], d: 0 }), ["b", "c", "d"]);
});

Deno.test("plan: params with key omit never enter the key; omit-default ones only when not at the default", () => {
  const s = defineStage({
    name: "k",
    description: "",
    deps: [],
    version: "1",
    params: {
      a: { type: "integer", default: 1, min: 0, max: 9, description: "" },
      how: { type: "integer", default: 0, min: 0, max: 9, key: "omit", description: "" },
      mode: { type: "string", default: "x", choices: ["x", "y"], key: "omit-default", description: "" },
    },
    profiles: {},
    tables: [],
    run: () => Promise.resolve(),
  });
  assert.deepEqual(keyedParams(s, { a: 1, how: 5, mode: "x" }), { a: 1 });
  assert.deepEqual(keyedParams(s, { a: 2, how: 0, mode: "y" }), { a: 2, mode: "y" });
});
