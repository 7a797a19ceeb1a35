/**
 * The learned-optimizer switch of `meta-train` and the stages `meta-train-l2l-lstm` / `meta-train-crnn`
 * through the real entry (`stages/main.ts`) on the smoke profile.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ResultsStore } from "../../pipeline/store.ts";
import { loadLearnedOptimizer } from "../../models/optimizers/learned_artifact.ts";
import { initBackend } from "../../lib/backend.ts";

await initBackend();

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"];

async function pipeline(results: string, args: string[]): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...FLAGS,
      "stages/main.ts",
      "--results",
      results,
      "--profile",
      "smoke",
      "--jobs",
      "1",
      ...args,
    ],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
  }).output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

async function rows(results: string, sql: string): Promise<Record<string, unknown>[]> {
  const store = await ResultsStore.open(results, { readOnly: true });
  try {
    const q = await store.query(sql);
    return q.rows.map((r) => Object.fromEntries(q.columns.map((c, i) => [c.name, r[i]])));
  } finally {
    await store.close();
  }
}

Deno.test("meta-train-l2l-lstm and meta-train-crnn: own weights kinds, the L2L protocol, curves in their tables", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-variants-" });
  try {
    const r = await pipeline(results, ["meta-train-l2l-lstm", "meta-train-crnn"]);
    assert.equal(r.code, 0, r.text);
    const runs = await rows(results, "SELECT stage, key, status FROM stage_runs ORDER BY stage");
    assert.deepEqual(runs.map((x) => [x.stage, x.status]), [
      ["generate-tasks", "success"],
      ["meta-train-crnn", "success"],
      ["meta-train-l2l-lstm", "success"],
    ]);
    for (
      const [stage, kind, table] of [
        ["meta-train-l2l-lstm", "l2l-lstm", "meta_train_curve_l2l_lstm"],
        ["meta-train-crnn", "crnn", "meta_train_curve_crnn"],
      ]
    ) {
      const key = runs.find((x) => x.stage === stage)!.key as string;
      const learned = await loadLearnedOptimizer(join(results, "artifacts", stage, key), 0);
      assert.equal(learned.kind, kind);
      assert.equal(learned.provenance.params?.optimizer, kind);
      const curve = await rows(
        results,
        `SELECT meta_step, unroll_len, meta_loss FROM ${table} ORDER BY meta_step`,
      );
      assert.deepEqual(curve.map((c) => Number(c.meta_step)), [1, 2, 3, 4, 5, 6]);
      assert.ok(curve.every((c) => Number.isFinite(Number(c.meta_loss))), JSON.stringify(curve));
      if (kind === "l2l-lstm") {
        assert.ok(curve.every((c) => Number(c.unroll_len) === 20), "20-step unrolls");
        const p = learned.provenance.params!;
        assert.deepEqual([p.metaObjective, p.metaOptimizer, p.secondDerivatives], ["linear", "adam", false]);
      } else {
        assert.equal(learned.provenance.params!.metaObjective, "log");
      }
      // The budget is meta-train's.
      assert.equal(learned.provenance.params!.maxMetaSteps, 6);
      learned.dispose();
    }
    // Neither is in the default target.
    const dry = await pipeline(results, ["--dry-run", "--json"]);
    assert.equal(dry.code, 0, dry.text);
    const planned = (JSON.parse(dry.text.slice(dry.text.indexOf("["))) as { stage: string }[]).map((s) =>
      s.stage
    );
    assert.ok(
      planned.includes("meta-train") && !planned.some((s) => s.startsWith("meta-train-")),
      planned.join(),
    );
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});

Deno.test("meta-train --set optimizer=l2l-lstm: eval-problems evaluates the LSTM from its weights file", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-switch-" });
  try {
    const r = await pipeline(results, ["eval-problems", "--set", "meta-train.optimizer=l2l-lstm"]);
    assert.equal(r.code, 0, r.text);
    const [{ key }] = await rows(results, "SELECT key FROM stage_runs WHERE stage = 'meta-train'");
    const learned = await loadLearnedOptimizer(join(results, "artifacts", "meta-train", key as string), 0);
    assert.equal(learned.kind, "l2l-lstm");
    learned.dispose();
    const finals = await rows(results, "SELECT count(*) AS n FROM eval_final WHERE optimizer = 'learned'");
    assert.ok(Number(finals[0].n) > 0);
    const bad = await pipeline(results, ["meta-train", "--set", "meta-train.optimizer=adam"]);
    assert.equal(bad.code, 2);
    assert.match(bad.text, /param "optimizer" expects string \(one of hrnn, l2l-lstm, crnn\), got "adam"/);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
