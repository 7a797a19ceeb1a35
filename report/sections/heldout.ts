/**
 * The held-out problems section: loss curves, the loss ratio per problem, learning-rate sensitivity and
 * wins per family.
 *
 * @module
 */
import type { Block, Section } from "../types.ts";
import { keysOrNotRun, type SectionEnv, sql, sqlString, tableBlock } from "./env.ts";
import { clippedRatios, curvesPanelsSpec, lrSensitivitySpec, RATIO_CAP, ratioSpec } from "../specs.ts";

/**
 * Builds the section from the reported rows; a missing stage or table gives a `not run` section.
 *
 * @example
 * ```ts
 * const section = await heldoutSection(env); // env: a SectionEnv over the report's query
 * ```
 */
export async function heldoutSection(env: SectionEnv): Promise<Section> {
  const id = "heldout", title = "Held-out problems";
  const tables = ["eval_curves", "eval_final", "eval_summary"];
  const got = await keysOrNotRun(env, id, title, "eval-problems", tables);
  if (got.section) return got.section;
  const keys = got.keys;
  const k = sqlString(keys.eval_summary);
  const kc = sqlString(keys.eval_curves);
  const blocks: Block[] = [];
  const curvesSql = sql(`
    WITH picked AS (
      SELECT task_id FROM eval_summary WHERE run_key = ${k} AND status = 'evaluated'
      QUALIFY row_number() OVER (PARTITION BY family ORDER BY task_id) = 1
      ORDER BY family LIMIT ${env.opts.maxProblems}
    )
    SELECT task_id, optimizer, step, median(minibatch_loss) AS loss, count(*) AS seeds
    FROM eval_curves WHERE run_key = ${kc} AND task_id IN (SELECT task_id FROM picked)
    GROUP BY ALL ORDER BY task_id, optimizer, step`);
  const curves = await env.rows(curvesSql);
  if (curves.length > 0) {
    blocks.push({
      kind: "figure",
      id: "heldout_curves",
      title: "Held-out problems: learned optimizer vs tuned baselines",
      caption:
        `Minibatch loss (median over seeds; log scale, symlog where a loss is ≤ 0) of one problem per ` +
        `family (at most ${env.opts.maxProblems}). Every optimizer starts from the same point and sees the same ` +
        `minibatches; baselines use their tuned learning rate.`,
      sql: curvesSql,
      spec: curvesPanelsSpec({
        title: "Held-out problems: loss curves",
        rows: curves,
        panelField: "task_id",
        x: "step",
        xTitle: "step",
        y: "loss",
        yTitle: "minibatch loss",
      }),
    });
  } else {
    blocks.push({ kind: "note", tone: "warn", text: "No evaluated problem has curves." });
  }
  const ratioSql = sql(`
    SELECT task_id, family, best_baseline, learned_median_loss, best_baseline_median_loss, ratio
    FROM eval_summary WHERE run_key = ${k} AND ratio IS NOT NULL
    ORDER BY ratio`);
  const ratios = await env.rows(ratioSql);
  const clipped = clippedRatios(ratios);
  if (ratios.length > 0) {
    blocks.push({
      kind: "figure",
      id: "heldout_ratio",
      title: "Loss ratio per held-out problem",
      caption: "Median final loss of the learned optimizer divided by that of the best tuned baseline " +
        "(learned, adam, rmsprop, momentum compared per problem); left of the dashed line the learned optimizer wins. " +
        (clipped.length
          ? `Clipped at [1/${RATIO_CAP}, ${RATIO_CAP}] (drawn lighter, labelled with the value): ${
            clipped.map((r) => `${r.task_id} (${Number(r.ratio).toExponential(1)})`).join(", ")
          }.`
          : `No ratio lies outside [1/${RATIO_CAP}, ${RATIO_CAP}].`),
      sql: ratioSql,
      spec: ratioSpec(ratios, "Learned / best tuned baseline (median final loss)"),
    });
  }
  const tuningKey = await env.keyOf("tuning_runs");
  if (tuningKey !== null) {
    const lrSql = sql(`
      WITH picked AS (
        SELECT task_id FROM eval_summary WHERE run_key = ${k} AND status = 'evaluated'
        QUALIFY row_number() OVER (PARTITION BY family ORDER BY task_id) = 1
        ORDER BY family LIMIT ${env.opts.maxProblems}
      )
      SELECT task_id, optimizer, learning_rate, median(final_loss) AS final_loss, 'baseline' AS kind
      FROM tuning_runs WHERE run_key = ${sqlString(tuningKey)} AND task_id IN (SELECT task_id FROM picked)
      GROUP BY ALL
      UNION ALL
      SELECT task_id, optimizer, NULL, median(final_loss), 'learned'
      FROM eval_final WHERE run_key = ${sqlString(keys.eval_final)} AND optimizer = 'learned'
        AND task_id IN (SELECT task_id FROM picked)
      GROUP BY ALL
      ORDER BY task_id, optimizer, learning_rate`);
    const lr = await env.rows(lrSql);
    if (lr.length > 0) {
      blocks.push({
        kind: "figure",
        id: "heldout_lr_sensitivity",
        title: "Held-out problems: learning-rate sensitivity",
        caption:
          `Final full loss of each baseline over the learning-rate grid tune-baselines swept (median over ` +
          `its seeds), on one problem per family (at most ${env.opts.maxProblems}); the dashed horizontal line ` +
          "is the learned optimizer (median over the evaluation seeds, same number of steps), which needs no " +
          "learning rate. Grid points where every seed diverged are left out.",
        sql: lrSql,
        spec: lrSensitivitySpec(lr, "Held-out problems: learning-rate sensitivity", {
          panelField: "task_id",
          y: "final_loss",
          yTitle: "final loss",
        }),
      });
    }
  }
  blocks.push(
    await tableBlock(
      env,
      "Wins of the learned optimizer per family",
      sql(`
        SELECT coalesce(family, 'all') AS family, count(*) AS problems,
          count(*) FILTER (WHERE status = 'evaluated') AS evaluated,
          count(*) FILTER (WHERE wins_vs_adam) AS wins_vs_adam,
          count(*) FILTER (WHERE wins_vs_rmsprop) AS wins_vs_rmsprop,
          count(*) FILTER (WHERE wins_vs_momentum) AS wins_vs_momentum,
          count(*) FILTER (WHERE best_optimizer = 'learned') AS wins_vs_all,
          median(ratio) AS median_loss_ratio, min(ratio) AS min_loss_ratio, max(ratio) AS max_loss_ratio
        FROM eval_summary WHERE run_key = ${k}
        GROUP BY GROUPING SETS ((family), ()) ORDER BY family IS NULL, family`),
      true,
    ),
  );
  blocks.push(
    await tableBlock(
      env,
      "Median final loss per problem and optimizer",
      sql(`
        SELECT task_id, optimizer, median(final_loss) AS median_final_loss,
          count(*) FILTER (WHERE diverged) AS diverged_seeds, any_value(learning_rate) AS learning_rate
        FROM eval_final WHERE run_key = ${sqlString(keys.eval_final)}
        GROUP BY ALL ORDER BY task_id, optimizer`),
    ),
  );
  return { id, title, status: "ok", blocks };
}
