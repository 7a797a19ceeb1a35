// The stages' declared code dependencies: every path exists, and a change to one file reruns exactly the
// stages whose hashed code includes it plus their downstream (as the engine decides: see
// tests/pipeline/code_deps_test.ts for the engine's own rerun test on a toy DAG).
import assert from "node:assert/strict";
import { hashCodeDeps, REPO_ROOT } from "../../pipeline/code_deps.ts";
import { downstreamOf } from "../../pipeline/graph.ts";
import { STAGES } from "../../stages/main.ts";

const hashed = new Map<string, Record<string, string>>();
for (const s of STAGES) hashed.set(s.name, s.codeDeps ? await hashCodeDeps(s.codeDeps, REPO_ROOT) : {});

/** The stages that rerun when `file` changes: those whose code hashes include it, and their downstream. */
function rerunsFor(file: string): string[] {
  const direct = STAGES.filter((s) => file in hashed.get(s.name)!).map((s) => s.name);
  return [...new Set([...direct, ...downstreamOf(STAGES, direct)])].sort();
}

Deno.test("stage code dependencies: every stage declares some, and every declared path exists", () => {
  for (const s of STAGES) {
    assert.ok(s.codeDeps && s.codeDeps.length > 0, `${s.name} declares no code dependencies`);
    assert.ok(Object.keys(hashed.get(s.name)!).length > 0, `${s.name}: no file hashed`);
  }
});

Deno.test("stage code dependencies: a changed file reruns its stages and their downstream, nothing else", () => {
  assert.deepEqual(rerunsFor("report/claims.ts"), ["report"]);
  assert.deepEqual(rerunsFor("stages/eval_problems.ts"), ["eval-problems", "report"]);
  const metaTrain = rerunsFor("models/metatrain/unroll.ts");
  for (const s of ["meta-train", "meta-train-l2l-lstm", "meta-train-crnn", "ablations", "eval-problems"]) {
    assert.ok(metaTrain.includes(s), `models/metatrain/unroll.ts should rerun ${s}`);
  }
  for (const s of ["generate-tasks", "tune-baselines", "baselines-cnn"]) {
    assert.ok(!metaTrain.includes(s), `models/metatrain/unroll.ts should not rerun ${s}`);
  }
  // Everything that trains a problem depends on the one inner loop; generating the task set does not.
  const loop = rerunsFor("models/inner_loop.ts");
  assert.ok(
    loop.includes("tune-baselines") && loop.includes("baselines-cnn") && !loop.includes("meta-train"),
  );
  assert.ok(!loop.includes("generate-tasks"));
  // A kernel source reruns every stage that can run the HRNN; docs never rerun anything.
  assert.ok(rerunsFor("models/hrnn/kernel/hrnn_vjp_body.h").includes("meta-train"));
  assert.deepEqual(rerunsFor("models/hrnn/README.md"), []);
  assert.deepEqual(rerunsFor("docs/design.md"), []);
  // Diagnostic tools read the stages' artifacts; changing them reruns nothing.
  assert.deepEqual(rerunsFor("models/diagnostics/lr_trace.ts"), []);
});
