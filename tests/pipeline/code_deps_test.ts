/**
 * Code dependencies in cache keys, end to end on the stages of `fixtures/code_entry.ts` (gen -> train ->
 * report, and side) in a temporary code folder: editing a declared file reruns the stage that declares it
 * and its downstream and nothing else, and `--dry-run --json` names the file.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../../pipeline/cli.ts";
import { changedCodeFiles, hashCodeDeps } from "../../pipeline/code_deps.ts";
import { CODE_STAGES } from "./fixtures/code_entry.ts";
import { FLAGS, REPO_ROOT } from "./fixtures/harness.ts";

const ENTRY = fileURLToPath(new URL("./fixtures/code_entry.ts", import.meta.url));

interface PlanRow {
  stage: string;
  action: "cached" | "run";
  reason: string;
}

async function plan(codeRoot: string, results: string): Promise<Record<string, PlanRow>> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(["--results", results, "--dry-run", "--json"], {
    stages: CODE_STAGES,
    codeRoot,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  assert.equal(code, 0, err.join("\n"));
  const rows: PlanRow[] = JSON.parse(out.join("\n"));
  return Object.fromEntries(
    rows.map((r) => [r.stage, { stage: r.stage, action: r.action, reason: r.reason }]),
  );
}

/** Runs the fixture pipeline; returns the stages that ran, sorted. */
async function run(codeRoot: string, results: string): Promise<string[]> {
  await Deno.remove(join(results, "ran.txt")).catch(() => {});
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, ENTRY, "--results", results, "--quiet"],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", FX_CODE_ROOT: codeRoot },
    stdin: "null",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const ran = await Deno.readTextFile(join(results, "ran.txt")).catch(() => "");
  return ran.split("\n").filter((l) => l !== "").sort();
}

Deno.test("code deps: a folder hashes its source files only, sorted, by path", async () => {
  const root = await Deno.makeTempDir({ prefix: "lopt-code-" });
  try {
    await Deno.mkdir(join(root, "k", "sub"), { recursive: true });
    await Deno.writeTextFile(join(root, "k", "b.ts"), "b");
    await Deno.writeTextFile(join(root, "k", "sub", "a.c"), "a");
    await Deno.writeTextFile(join(root, "k", "notes.txt"), "not code");
    const h = await hashCodeDeps(["k/"], root);
    assert.deepEqual(Object.keys(h), ["k/b.ts", "k/sub/a.c"]);
    await Deno.writeTextFile(join(root, "k", "notes.txt"), "edited");
    assert.deepEqual(await hashCodeDeps(["k"], root), h);
    await Deno.writeTextFile(join(root, "k", "sub", "a.c"), "a2");
    assert.deepEqual(changedCodeFiles(h, await hashCodeDeps(["k/"], root)), ["k/sub/a.c"]);
    await assert.rejects(hashCodeDeps(["missing.ts"], root), /code dependency missing\.ts does not exist/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("code deps: an edited file reruns its stage and the downstream, nothing else", async () => {
  const root = await Deno.makeTempDir({ prefix: "lopt-code-" });
  const results = join(root, "results");
  try {
    await Deno.mkdir(join(root, "kernel"));
    await Deno.writeTextFile(join(root, "kernel", "step.ts"), "export const step = 1;\n");
    await Deno.writeTextFile(join(root, "loop.ts"), "export const loop = 1;\n");
    await Deno.writeTextFile(join(root, "side.ts"), "export const side = 1;\n");
    assert.deepEqual(await run(root, results), ["gen", "report", "side", "train"]);
    const cached = await plan(root, results);
    assert.deepEqual(Object.values(cached).map((p) => p.action), ["cached", "cached", "cached", "cached"]);

    await Deno.writeTextFile(join(root, "loop.ts"), "export const loop = 2;\n");
    const p = await plan(root, results);
    assert.deepEqual(p.gen, { stage: "gen", action: "cached", reason: "" });
    assert.deepEqual(p.train, { stage: "train", action: "run", reason: "code changed: loop.ts" });
    assert.deepEqual(p.report, { stage: "report", action: "run", reason: "upstream changed: train" });
    assert.deepEqual(p.side, { stage: "side", action: "cached", reason: "" });
    assert.deepEqual(await run(root, results), ["report", "train"]);

    await Deno.writeTextFile(join(root, "kernel", "step.ts"), "export const step = 2;\n");
    const k = await plan(root, results);
    assert.equal(k.gen.reason, "code changed: kernel/step.ts");
    assert.deepEqual([k.train.action, k.report.action, k.side.action], ["run", "run", "cached"]);
    assert.equal(k.train.reason, "upstream changed: gen");
    assert.deepEqual(await run(root, results), ["gen", "report", "train"]);
    assert.deepEqual(await run(root, results), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
