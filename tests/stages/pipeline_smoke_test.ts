/**
 * The whole DAG of the real entry (`stages/main.ts`) on the smoke profile: every stage succeeds, a second
 * run is all cached, a deleted database is rebuilt from the artifacts as it was, a meta-training param
 * change reruns exactly the stages downstream of `meta-train`, and the tasks table answers the README's query.
 */
import { strict as assert } from "node:assert";
import { fileURLToPath } from "node:url";
import { ResultsStore } from "../../pipeline/store.ts";
import { STAGES as ALL_STAGES } from "../../stages/main.ts";

/** The stages a run without stage names covers (named-only stages such as eval-horizon are left out). */
const STAGES = ALL_STAGES.filter((s) => s.defaultTarget !== false);
import { downstreamOf } from "../../pipeline/graph.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"];

async function pipeline(results: string, ...args: string[]): Promise<{ code: number; text: string }> {
  return await pipelineEnv({}, results, ...args);
}

async function pipelineEnv(
  env: Record<string, string>,
  results: string,
  ...args: string[]
): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, "stages/main.ts", "--profile", "smoke", "--results", results, ...args],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("smoke DAG: all stages run, then all cached; a meta-train change reruns only its downstream", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-smoke-dag-" });
  try {
    const first = await pipeline(results, "--jobs", "2");
    assert.equal(first.code, 0, first.text);

    const store = await ResultsStore.open(results, { readOnly: true });
    try {
      const runs = await store.query("SELECT stage, status FROM stage_runs ORDER BY stage");
      assert.deepEqual(
        runs.rows.map((r) => r[0]).sort(),
        STAGES.map((s) => s.name).sort(),
        "every stage has a run row",
      );
      assert.ok(runs.rows.every((r) => r[1] === "success"), JSON.stringify(runs.rows));
      const tasks = await store.query(
        "SELECT split, family, count(*) AS n FROM tasks GROUP BY ALL ORDER BY ALL",
      );
      const splits = new Set(tasks.rows.map((r) => r[0]));
      assert.deepEqual([...splits].sort(), ["test", "train", "valid"]);
      const trainFamilies = new Set(tasks.rows.filter((r) => r[0] === "train").map((r) => r[1]));
      const validFamilies = new Set(tasks.rows.filter((r) => r[0] === "valid").map((r) => r[1]));
      assert.deepEqual(
        [...validFamilies].sort(),
        [...trainFamilies].sort(),
        "one validation instance per family",
      );
    } finally {
      await store.close();
    }

    // A deleted database is rebuilt from the artifacts: every table, and every stage's bookkeeping
    // (the report stage, which has no tables, included), as before.
    const snapshot = async () => {
      const s = await ResultsStore.open(results, { readOnly: true, log: () => {} });
      try {
        const out: Record<string, unknown[][]> = {};
        for (const t of new Set((await s.schema()).map((c) => c.table))) {
          if (t === "schema_migrations" || t === "bench") continue;
          const sql = t === "stage_runs"
            ? "SELECT stage, key, status, profile, params, git_commit FROM stage_runs ORDER BY ALL"
            : t === "artifacts"
            ? "SELECT stage, key, profile, files, bytes, manifest_sha256 FROM artifacts ORDER BY ALL"
            : `SELECT * FROM "${t}" ORDER BY ALL`;
          out[t] = (await s.query(sql)).rows;
        }
        return out;
      } finally {
        await s.close();
      }
    };
    const before = await snapshot();
    assert.ok(before.stage_runs.some((r) => r[0] === "report"));
    for (const f of ["lopt.duckdb", "lopt.duckdb.wal"]) await Deno.remove(`${results}/${f}`).catch(() => {});
    const rebuilt = await pipeline(results, "-q");
    assert.equal(rebuilt.code, 0, rebuilt.text);
    assert.match(rebuilt.text, new RegExp(`0 ran, ${STAGES.length} cached`));
    assert.deepEqual(await snapshot(), before);

    const dry = await pipeline(results, "--dry-run", "--json");
    assert.equal(dry.code, 0, dry.text);
    const plan = JSON.parse(dry.text.slice(dry.text.indexOf("["))) as { stage: string; action: string }[];
    assert.ok(plan.every((p) => p.action === "cached"), dry.text);

    const changed = await pipeline(results, "--dry-run", "--json", "--set", "meta-train.seed=7");
    const plan2 = JSON.parse(changed.text.slice(changed.text.indexOf("["))) as {
      stage: string;
      action: string;
      reason: string;
    }[];
    const rerun = plan2.filter((p) => p.action === "run").map((p) => p.stage).sort();
    const expected = ["meta-train", ...downstreamOf(STAGES, ["meta-train"])].sort();
    assert.ok(downstreamOf(ALL_STAGES, ["meta-train"]).has("eval-horizon"), "eval-horizon reads meta-train");
    assert.deepEqual(rerun, [...new Set(expected)].sort());
    assert.match(plan2.find((p) => p.stage === "meta-train")!.reason, /params changed: seed/);
    assert.ok(!rerun.includes("tune-baselines") && !rerun.includes("baselines-cnn"));

    // Pointing LOPT_CIFAR10_DIR at a folder changes the key of the stages that read CIFAR-10 (and theirs only).
    const cifar = await pipelineEnv({ LOPT_CIFAR10_DIR: `${results}/cifar` }, results, "--dry-run", "--json");
    assert.equal(cifar.code, 0, cifar.text);
    const plan3 = JSON.parse(cifar.text.slice(cifar.text.indexOf("["))) as {
      stage: string;
      action: string;
      reason: string;
    }[];
    const rerun3 = plan3.filter((p) => p.action === "run").map((p) => p.stage).sort();
    assert.deepEqual(
      rerun3,
      [...new Set(["baselines-cnn", ...downstreamOf(STAGES, ["baselines-cnn"])])].sort(),
    );
    assert.match(plan3.find((p) => p.stage === "baselines-cnn")!.reason, /params changed: cifarDir/);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
