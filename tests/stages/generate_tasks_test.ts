/** Tests of the `generate-tasks` stage's group params (`groups`, `addGroups`, `exclude`). */
import assert from "node:assert/strict";
import { generateTasks, type GenerateTasksParams, includedGroups } from "../../stages/generate_tasks.ts";
import { parseSetArg, resolveParams } from "../../pipeline/params.ts";
import { ensemble } from "../../tasks/ensemble.ts";

const base = resolveParams(generateTasks, "default", []) as GenerateTasksParams;

Deno.test("generate-tasks: addGroups switches a group on beside the paper configuration; exclude wins", () => {
  assert.deepEqual(includedGroups(base), {});
  const added = includedGroups({ ...base, addGroups: ["multiclass_minibatch_problems"] });
  assert.equal(ensemble({ include: added }).length, ensemble().length + 8);
  const only = includedGroups({ ...base, groups: ["bowl_problems"], addGroups: ["norm_problems"] });
  assert.deepEqual(
    new Set(ensemble({ include: only }).map((e) => e.group)),
    new Set(["bowl_problems", "norm_problems"]),
  );
  const both = includedGroups({ ...base, addGroups: ["norm_problems"], exclude: ["norm_problems"] });
  assert.equal(ensemble({ include: both }).some((e) => e.group === "norm_problems"), false);
});

Deno.test("generate-tasks: addGroups is checked against the group names", () => {
  assert.throws(
    () => resolveParams(generateTasks, "default", [parseSetArg('generate-tasks.addGroups=["nope"]')]),
    /nope/,
  );
});
