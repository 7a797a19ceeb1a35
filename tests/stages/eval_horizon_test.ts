/** Stage `eval-horizon` through the real entry (`stages/main.ts`) on the smoke profile, and its pure helpers. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ResultsStore } from "../../pipeline/store.ts";
import { metaTrainHorizon } from "../../stages/eval_horizon.ts";
import { summarizeCurve } from "../../models/evaluation/horizon_rows.ts";
import { logSpacedSteps } from "../../models/evaluation/long_horizon.ts";
import { resolveParams } from "../../pipeline/params.ts";
import { STAGES } from "../../stages/main.ts";
import { evalHorizon, HORIZON_LEARNED_STAGES } from "../../stages/eval_horizon.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"];

function pipelineCommand(results: string, args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...FLAGS,
      "stages/main.ts",
      "--results",
      results,
      "--profile",
      "smoke",
      "--jobs",
      "2",
      ...args,
    ],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function pipeline(results: string, args: string[]): Promise<{ code: number; text: string }> {
  const out = await pipelineCommand(results, args).output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

const SUMMARY_SQL =
  "SELECT * EXCLUDE (run_key, seconds_per_step) FROM horizon_summary ORDER BY task_id, optimizer";
const CURVES_SQL =
  "SELECT * EXCLUDE (run_key, seconds) FROM horizon_curves ORDER BY task_id, optimizer, step";

/** The completed-unit files under `<results>/checkpoints/eval-horizon/`. */
function unitFiles(results: string): string[] {
  const root = `${results}/checkpoints/eval-horizon`;
  try {
    return [...Deno.readDirSync(root)].flatMap((k) =>
      [...Deno.readDirSync(`${root}/${k.name}`)].filter((f) => /^unit-.*\.json$/.test(f.name)).map((f) =>
        f.name
      )
    );
  } catch {
    return []; // not there yet, or removed by the finished run
  }
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

Deno.test("eval-horizon helpers: meta-training horizon, curve summary, log-spaced steps", () => {
  assert.equal(metaTrainHorizon({ minUnrollLength: 20, maxUnrollLength: 60, unrollLengthScale: 20 }), 60);
  assert.equal(metaTrainHorizon({ minUnrollLength: 50, maxUnrollLength: 0, unrollLengthScale: 200 }), 1050);
  const c = [{ step: 0, value: 4 }, { step: 10, value: 3 }, { step: 25, value: 2 }, {
    step: 200,
    value: 2.5,
  }];
  assert.deepEqual(summarizeCurve(c, 20), { lossAtRef: 3, finalLoss: 2.5, bestLoss: 2, improvement: 1.2 });
  assert.deepEqual(summarizeCurve([...c, { step: 300, value: NaN }], 20).finalLoss, null);
  assert.deepEqual(logSpacedSteps(10_000, 5), [1, 10, 100, 1000, 10_000]);
  assert.deepEqual(logSpacedSteps(100, 3, [20, 500]), [1, 10, 20, 100]);
});

Deno.test("eval-horizon: every profile runs at least 10x the longest meta-training unroll of that profile", () => {
  for (const profile of ["smoke", "default", "paper"]) {
    const steps = (resolveParams(evalHorizon, profile, []) as { steps: number }).steps;
    for (const name of HORIZON_LEARNED_STAGES) {
      const stage = STAGES.find((s) => s.name === name)!;
      const h = metaTrainHorizon(resolveParams(stage, profile, []));
      assert.ok(steps >= 10 * h, `${profile}: eval-horizon.steps ${steps} < 10 x ${name}'s ${h}`);
    }
  }
});

Deno.test("eval-horizon through the engine: every learned optimizer and baseline, >= 10x the horizon, curves", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-horizon-" });
  try {
    // 10x the longest meta-training unroll (the LSTM's 20 steps) is enforced.
    const short = await pipeline(results, ["eval-horizon", "--set", "eval-horizon.steps=150"]);
    assert.equal(short.code, 1, short.text);
    const logs = [...Deno.readDirSync(`${results}/logs`)].filter((e) => e.name.startsWith("eval-horizon"));
    const log = Deno.readTextFileSync(`${results}/logs/${logs[0].name}`);
    assert.match(
      log,
      /steps=150 must be at least 10x the longest meta-training unroll \(20 steps, meta-train-l2l-lstm\)/,
    );

    const r = await pipeline(results, ["eval-horizon"]);
    assert.equal(r.code, 0, r.text);
    const summary = await rows(
      results,
      "SELECT task_id, optimizer, learned, train_horizon, steps, loss_at_train_horizon, final_loss, improvement, " +
        "diverged FROM horizon_summary ORDER BY task_id, optimizer",
    );
    const optimizers = [...new Set(summary.map((s) => s.optimizer))].sort();
    assert.deepEqual(optimizers, ["adam", "crnn", "hrnn", "l2l-lstm", "momentum", "rmsprop"]);
    assert.equal(summary.length, 2 * 6, "2 smoke problems x 6 optimizers");
    for (const s of summary) {
      assert.equal(s.steps, 200);
      assert.ok(Number(s.steps) >= 10 * Number(s.train_horizon) || !s.learned, JSON.stringify(s));
      assert.equal(s.train_horizon, s.learned ? (s.optimizer === "l2l-lstm" ? 20 : 16) : 40);
      if (!s.diverged) {
        const want = Number(s.loss_at_train_horizon) / Number(s.final_loss);
        assert.ok(Math.abs(Number(s.improvement) - want) <= 1e-9 * want, JSON.stringify(s));
      }
    }
    const curves = await rows(
      results,
      "SELECT task_id, optimizer, list(step ORDER BY step) AS steps, list(seconds ORDER BY step) AS secs, " +
        "count(*) AS n FROM horizon_curves GROUP BY ALL",
    );
    assert.equal(curves.length, 12);
    for (const c of curves) {
      const steps = c.steps as number[], secs = c.secs as number[];
      assert.equal(steps[0], 0);
      assert.ok(steps.includes(20) && steps.includes(16) && steps.includes(40), "horizons are sampled");
      const last = summary.find((s) => s.task_id === c.task_id && s.optimizer === c.optimizer)!;
      if (!last.diverged) assert.equal(steps.at(-1), 200);
      assert.ok(secs.every((x, i) => i === 0 || x >= secs[i - 1]), "cumulative seconds");
    }
    assert.deepEqual(unitFiles(results), [], "a finished run clears its completed units");

    // A forced rerun killed after two of its twelve long runs: the next one (forced too, as the earlier artifact
    // is still published) replays those two, runs the rest, and stores the rows of the uninterrupted run (but
    // for wall-clock seconds).
    const stored = (sql: string) => rows(results, sql);
    const before = [await stored(SUMMARY_SQL), await stored(CURVES_SQL)];
    const child = pipelineCommand(results, ["eval-horizon", "--force", "eval-horizon"]).spawn();
    const deadline = Date.now() + 120_000;
    while (unitFiles(results).length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(unitFiles(results).length >= 2, "no two long runs finished within 120 s");
    child.kill("SIGKILL");
    await child.output();
    await new Promise((r) => setTimeout(r, 1500)); // let the orphaned stage process notice its parent died
    const resumed = await pipeline(results, ["eval-horizon", "--force", "eval-horizon"]);
    assert.equal(resumed.code, 0, resumed.text);
    const resumedLog = [...Deno.readDirSync(`${results}/logs`)].filter((e) =>
      e.name.startsWith("eval-horizon")
    )
      .map((e) => Deno.readTextFileSync(`${results}/logs/${e.name}`)).join("\n");
    const replayed = resumedLog.split("\n").filter((l) =>
      l.includes("(finished by an earlier run of this stage; rows replayed)")
    );
    assert.ok(replayed.length >= 2 && replayed.length < 12, resumedLog);
    assert.deepEqual([await stored(SUMMARY_SQL), await stored(CURVES_SQL)], before);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
