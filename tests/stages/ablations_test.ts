/** Stage `ablations`: its variants, and a smoke run through the real entry (`stages/main.ts`). */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
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

Deno.test("ablations through the engine (smoke): full + variants, ratios vs the full model, adam runs", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-ablations-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...FLAGS, "stages/main.ts", "--results", results, "--profile", "smoke", "ablations"],
      cwd: REPO,
      env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
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
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
