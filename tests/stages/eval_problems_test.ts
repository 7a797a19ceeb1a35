import assert from "node:assert/strict";
import { join } from "node:path";
import type { EvalSummary } from "../../models/evaluation/heldout_summary.ts";
import { readTuned } from "../../stages/eval_common.ts";
import { artifactDir, dryRun, query, runEvalOk } from "./fixtures/eval_harness.ts";

Deno.test("eval-problems through the engine (smoke profile, stand-in meta-train)", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-eval-" });
  try {
    await runEvalOk(results, ["--profile", "smoke"]);
    const plan = await dryRun(results, ["--profile", "smoke"]);
    for (const s of ["generate-tasks", "meta-train", "tune-baselines", "eval-problems"]) {
      assert.equal(plan[s].action, "cached", s);
    }
    const tuned = await readTuned(artifactDir(results, "tune-baselines", plan["tune-baselines"].key));
    const nProblems = tuned.problems.length;
    assert.equal(nProblems, 4);
    const optimizers = ["learned", ...tuned.optimizers];

    // eval_final: one row per (problem, optimizer, seed); baselines at their tuned rate, learned without.
    const finals = await query(
      results,
      "SELECT task_id, optimizer, learning_rate, seed, final_loss, diverged, seconds_per_step FROM eval_final",
      ["task_id", "optimizer", "learning_rate", "seed", "final_loss", "diverged", "seconds_per_step"],
    );
    assert.equal(finals.length, nProblems * optimizers.length * 1);
    for (const f of finals) {
      if (f.optimizer === "learned") assert.equal(f.learning_rate, null);
      else {
        const tp = tuned.problems.find((p) => p.taskId === f.task_id)!;
        assert.equal(f.learning_rate, tp.learningRate[f.optimizer as string]);
      }
      assert.ok((f.seconds_per_step as number) > 0);
    }

    // eval_curves: same initial point across optimizers per (problem, seed); bounded size; full loss at 0,
    // every fullEvery (10) steps and at the end (40).
    const curves = await query(
      results,
      "SELECT task_id, optimizer, seed, step, minibatch_loss, full_loss FROM eval_curves ORDER BY task_id, optimizer, step",
      ["task_id", "optimizer", "seed", "step", "minibatch_loss", "full_loss"],
    );
    assert.ok(curves.length > 0);
    for (const tp of tuned.problems) {
      const firsts = optimizers.map((o) =>
        curves.find((c) => c.task_id === tp.taskId && c.optimizer === o && c.step === 0)!
      );
      for (const c of firsts) {
        assert.ok(c, `${tp.taskId}: missing step 0`);
        assert.equal(c.full_loss, firsts[0].full_loss, `${tp.taskId} ${c.optimizer}: different init`);
        assert.equal(
          c.minibatch_loss,
          firsts[0].minibatch_loss,
          `${tp.taskId} ${c.optimizer}: different data`,
        );
      }
      for (const o of optimizers) {
        const run = curves.filter((c) => c.task_id === tp.taskId && c.optimizer === o);
        assert.ok(run.length <= 200 + 10, `${tp.taskId} ${o}: ${run.length} points`);
        const fullSteps = run.filter((c) => c.full_loss !== null).map((c) => c.step);
        const final = finals.find((f) => f.task_id === tp.taskId && f.optimizer === o)!;
        if (!final.diverged) {
          assert.deepEqual(fullSteps, [0, 10, 20, 30, 40]);
          assert.equal(run.find((c) => c.step === 40)!.full_loss, final.final_loss);
        }
      }
    }

    // eval_summary: one row per problem, consistent with eval_final medians (1 seed: the value itself).
    const summary = await query(
      results,
      "SELECT task_id, best_optimizer, learned_median_loss, best_baseline, best_baseline_median_loss, ratio, " +
        "wins_vs_adam, wins_vs_rmsprop, wins_vs_momentum, learned_stand_in, status FROM eval_summary",
      [
        "task_id",
        "best_optimizer",
        "learned_median_loss",
        "best_baseline",
        "best_baseline_median_loss",
        "ratio",
        "wins_vs_adam",
        "wins_vs_rmsprop",
        "wins_vs_momentum",
        "learned_stand_in",
        "status",
      ],
    );
    assert.equal(summary.length, nProblems);
    const loss = (task: unknown, o: string) => {
      const f = finals.find((x) => x.task_id === task && x.optimizer === o)!;
      return f.diverged || f.final_loss === null ? Infinity : f.final_loss as number;
    };
    for (const s of summary) {
      assert.equal(s.status, "evaluated");
      assert.equal(s.learned_stand_in, true);
      for (const b of ["adam", "rmsprop", "momentum"]) {
        assert.equal(s[`wins_vs_${b}`], loss(s.task_id, "learned") < loss(s.task_id, b), `${s.task_id} ${b}`);
      }
      const best = tuned.optimizers.reduce((m, b) => (loss(s.task_id, b) < loss(s.task_id, m) ? b : m));
      assert.equal(s.best_baseline, best);
    }

    // eval_long: learned and tuned Adam run to longHorizon (smoke: 120 steps), the loss at the horizon (40
    // steps) equal to the first seed's eval_final loss (same init, data and noise: the run is a prefix).
    const long = await query(
      results,
      "SELECT task_id, horizon, long_horizon, learned_loss_at_horizon, learned_final_loss, learned_improvement, " +
        "adam_loss_at_horizon, adam_improvement, improvement_ratio, learned_update_rms, learned_diverged FROM eval_long",
      [
        "task_id",
        "horizon",
        "long_horizon",
        "learned_loss_at_horizon",
        "learned_final_loss",
        "learned_improvement",
        "adam_loss_at_horizon",
        "adam_improvement",
        "improvement_ratio",
        "learned_update_rms",
        "learned_diverged",
      ],
    );
    assert.equal(long.length, nProblems);
    for (const l of long) {
      assert.equal(l.horizon, 40);
      assert.equal(l.long_horizon, 120);
      const f = finals.find((x) => x.task_id === l.task_id && x.optimizer === "learned")!;
      if (!f.diverged) {
        assert.equal(l.learned_loss_at_horizon, f.final_loss, `${l.task_id}: prefix of the eval run`);
      }
      const fa = finals.find((x) => x.task_id === l.task_id && x.optimizer === "adam")!;
      if (!fa.diverged) assert.equal(l.adam_loss_at_horizon, fa.final_loss, `${l.task_id}: adam prefix`);
      if (!l.learned_diverged) {
        assert.ok((l.learned_update_rms as number) >= 0);
        const imp = (l.learned_loss_at_horizon as number) / (l.learned_final_loss as number);
        assert.ok(Math.abs((l.learned_improvement as number) - imp) <= 1e-9 * imp);
      }
      if (l.improvement_ratio !== null) {
        const r = (l.learned_improvement as number) / (l.adam_improvement as number);
        assert.ok(Math.abs((l.improvement_ratio as number) - r) <= 1e-9 * Math.abs(r));
      }
    }

    // summary.json
    const file = JSON.parse(
      await Deno.readTextFile(
        join(artifactDir(results, "eval-problems", plan["eval-problems"].key), "summary.json"),
      ),
    ) as EvalSummary;
    assert.equal(file.problems, nProblems);
    assert.equal(file.learnedStandIn, true);
    const wins = summary.filter((s) => s.wins_vs_adam).length;
    assert.equal(file.winFraction.adam, wins / nProblems);
    assert.equal(Object.values(file.perFamily).reduce((n, f) => n + f.problems, 0), nProblems);
    assert.equal(file.longHorizon?.steps, 120);

    // A new learned optimizer reruns eval-problems only; tuning stays cached.
    const after = await dryRun(results, ["--profile", "smoke", "--set", "meta-train.seed=1"]);
    assert.equal(after["meta-train"].action, "run");
    assert.equal(after["tune-baselines"].action, "cached");
    assert.equal(after["tune-baselines"].key, plan["tune-baselines"].key);
    assert.equal(after["eval-problems"].action, "run");
    assert.notEqual(after["eval-problems"].key, plan["eval-problems"].key);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
