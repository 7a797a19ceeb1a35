/** Stage `ablations`: its variants, and a smoke run through the real entry (`stages/main.ts`). */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { ResultsStore } from "../../pipeline/store.ts";
import { resolveParams } from "../../pipeline/params.ts";
import { ABLATIONS, fixedUnrolls, variantSettings } from "../../stages/ablation_variants.ts";
import { metaTrainStage } from "../../stages/meta_train.ts";
import type { MetaTrainParams } from "../../stages/meta_train_settings.ts";
import { makeHrnnConfig } from "../../models/hrnn/config.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"];

Deno.test("ablations: every built-in variant is a valid HRNN config / meta-train setting that differs from full", () => {
  const base = resolveParams(metaTrainStage, "default", []) as MetaTrainParams;
  const full = variantSettings(ABLATIONS.full, base);
  for (const [name, v] of Object.entries(ABLATIONS)) {
    const s = variantSettings(v, base);
    const cfg = makeHrnnConfig(s.hrnn); // throws on an invalid combination
    assert.deepEqual(cfg.initLrRange, [1e-4, 1e-2], `${name} keeps meta-train's hrnn overrides`);
    if (name === "full") continue;
    assert.notDeepEqual([s.hrnn, s.params], [full.hrnn, full.params], `${name} changes something`);
  }
  assert.deepEqual(
    fixedUnrolls({
      ...base,
      minNumUnrolls: 1,
      numUnrollScale: 4,
      minUnrollLength: 20,
      unrollLengthScale: 20,
    }),
    { minNumUnrolls: 5, numUnrollScale: 0, minUnrollLength: 40, unrollLengthScale: 0 },
  );
  assert.equal(variantSettings(ABLATIONS["no-log-objective"], base).params.metaObjective, "linear");
});

function ablationsRun(results: string): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, "stages/main.ts", "--results", results, "--profile", "smoke", "ablations"],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** The ablation rows a run stored, without the run's own key. */
async function ablationRows(results: string): Promise<unknown[][]> {
  const store = await ResultsStore.open(results, { readOnly: true });
  try {
    const runs = await store.query(
      "SELECT variant, seed, task_id, final_loss, diverged FROM ablation_runs ORDER BY ALL",
    );
    const summary = await store.query(
      "SELECT * EXCLUDE (run_key) FROM ablation_summary ORDER BY variant, seed",
    );
    return [...runs.rows, ...summary.rows];
  } finally {
    await store.close();
  }
}

/** The completed-unit files under `<results>/checkpoints/ablations/`. */
function unitFiles(results: string): string[] {
  const root = join(results, "checkpoints", "ablations");
  try {
    return [...Deno.readDirSync(root)].flatMap((k) =>
      [...Deno.readDirSync(join(root, k.name))].filter((f) => /^unit-.*\.json$/.test(f.name)).map((f) =>
        f.name
      )
    );
  } catch {
    return []; // not there yet, or removed by the finished run
  }
}

Deno.test("ablations through the engine (smoke): full + variants, ratios vs the full model, adam runs; a killed run resumes", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-ablations-" });
  const killed = await Deno.makeTempDir({ prefix: "lopt-ablations-killed-" });
  try {
    const out = await ablationsRun(results).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.deepEqual(unitFiles(results), [], "a finished run clears its completed units");
    const store = await ResultsStore.open(results, { readOnly: true });
    try {
      const s = await store.query(
        "SELECT variant, seed, meta_steps, problems, median_ratio_vs_full, meta_loss_last FROM ablation_summary " +
          "ORDER BY variant",
      );
      assert.deepEqual(s.rows.map((r) => [r[0], r[1], r[2], r[3]]), [
        ["full", 0, 2, 2],
        ["no-grad-products", 0, 2, 2],
        ["no-log-objective", 0, 2, 2],
      ]);
      assert.equal(s.rows[0][4], 1, "the full model against itself");
      // The linear objective's meta-loss is a loss ratio near 1; the log objective's is near 0 at the start.
      assert.ok(Number(s.rows[2][5]) > 0.5 && Math.abs(Number(s.rows[0][5])) < 0.5, JSON.stringify(s.rows));
      const runs = await store.query("SELECT variant, count(*) FROM ablation_runs GROUP BY ALL ORDER BY ALL");
      assert.deepEqual(runs.rows, [["adam", 2], ["full", 2], ["no-grad-products", 2], [
        "no-log-objective",
        2,
      ]]);
    } finally {
      await store.close();
    }

    // Killed after two of its four units (adam, full seed 0) finished: the rerun replays them, runs the rest,
    // and stores exactly the rows of the uninterrupted run.
    const child = ablationsRun(killed).spawn();
    const deadline = Date.now() + 120_000;
    while (unitFiles(killed).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.ok(unitFiles(killed).length >= 2, "no two units finished within 120 s");
    child.kill("SIGKILL");
    await child.output();
    await new Promise((r) => setTimeout(r, 1500)); // let the orphaned stage process notice its parent died
    const again = await ablationsRun(killed).output();
    assert.equal(again.code, 0, new TextDecoder().decode(again.stderr));
    const logs = [...Deno.readDirSync(join(killed, "logs"))].filter((e) => e.name.startsWith("ablations"));
    const log = logs.map((e) => Deno.readTextFileSync(join(killed, "logs", e.name))).join("\n");
    assert.match(log, /full seed 0: finished by an earlier run of this stage; its rows are replayed/);
    assert.doesNotMatch(log, /no-log-objective seed 0: finished by an earlier run/, "the last unit reran");
    assert.deepEqual(await ablationRows(killed), await ablationRows(results));
  } finally {
    await Deno.remove(results, { recursive: true });
    await Deno.remove(killed, { recursive: true });
  }
});
