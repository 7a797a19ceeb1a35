/**
 * The real `meta-train` stage through the real entry (`stages/main.ts`): a SIGKILL mid-training followed by
 * a rerun resumes from the last checkpoint and finishes with a complete, duplicate-free curve.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ResultsStore } from "../../pipeline/store.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"];
const STEPS = 40;
const ARGS = [
  "meta-train",
  "--profile",
  "smoke",
  "--set",
  `meta-train.maxMetaSteps=${STEPS}`,
  "--set",
  "meta-train.checkpointEvery=2",
];

function pipeline(results: string, stdout: "piped" | "null" = "piped"): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, "stages/main.ts", "--results", results, ...ARGS],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout,
    stderr: stdout,
  });
}

async function checkpoints(results: string): Promise<string[]> {
  const root = join(results, "checkpoints", "meta-train");
  const out: string[] = [];
  try {
    for await (const k of Deno.readDir(root)) {
      for await (const f of Deno.readDir(join(root, k.name))) if (f.name.endsWith(".json")) out.push(f.name);
    }
  } catch { /* not there yet */ }
  return out;
}

Deno.test("meta-train stage: SIGKILL mid-training, rerun resumes from the checkpoint", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-meta-kill-" });
  try {
    const child = pipeline(results, "null").spawn();
    const deadline = Date.now() + 90_000;
    let seen: string[] = [];
    while (Date.now() < deadline) {
      seen = await checkpoints(results);
      if (seen.some((n) => /ckpt-0*([4-9]|\d\d+)\b/.test(n))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(seen.length > 0, "no checkpoint appeared within 90 s");
    child.kill("SIGKILL");
    await child.status;
    // Nothing published: no artifact dir other than generate-tasks', and the run is not marked success.
    const arts = join(results, "artifacts", "meta-train");
    const published = [];
    for await (const e of Deno.readDir(arts)) {
      if (!e.name.startsWith(".") && e.isDirectory) published.push(e.name);
    }
    assert.deepEqual(published, [], "a killed meta-train must not publish an artifact");
    await new Promise((r) => setTimeout(r, 1500)); // let the orphaned child notice its parent died

    const out = await pipeline(results).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    const logs = [];
    for await (const e of Deno.readDir(join(results, "logs"))) {
      if (e.name.startsWith("meta-train")) logs.push(e.name);
    }
    const log = await Deno.readTextFile(join(results, "logs", logs[0]));
    const m = log.match(/resumed from checkpoint at meta-step (\d+)/);
    assert.ok(m, `the rerun did not resume:\n${log}`);
    assert.ok(Number(m[1]) >= 2 && Number(m[1]) < STEPS, `resumed from step ${m[1]}`);

    const store = await ResultsStore.open(results, { readOnly: true });
    try {
      const r = await store.query(
        "SELECT count(*) AS n, count(DISTINCT (meta_step, slot)) AS d, max(meta_step) AS last FROM meta_train_curve",
      );
      const [n, d, last] = r.rows[0] as number[];
      assert.equal(last, STEPS);
      assert.equal(n, d, "curve rows duplicated after resume");
      assert.equal(n, STEPS, "one row per meta-step (meta-batch 1)");
      const runs = await store.query("SELECT status FROM stage_runs WHERE stage = 'meta-train'");
      assert.deepEqual(runs.rows, [["success"]]);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
