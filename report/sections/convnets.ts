/**
 * The ConvNets section: training loss, test accuracy and learning-rate sensitivity of the tuned baselines
 * against the learned optimizer.
 *
 * @module
 */
import type { Block, Section } from "../types.ts";
import { keysOrNotRun, type SectionEnv, sql, sqlString, tableBlock } from "./env.ts";
import { barsSpec, curvesPanelsSpec, lrSensitivitySpec } from "../specs.ts";

/**
 * Builds the section from the reported rows; a missing stage or table gives a `not run` section.
 *
 * @example
 * ```ts
 * const section = await cnnSection(env); // env: a SectionEnv over the report's query
 * ```
 */
export async function cnnSection(env: SectionEnv): Promise<Section> {
  const id = "convnets", title = "ConvNets";
  const tables = ["cnn_runs", "cnn_curves", "cnn_summary"];
  const got = await keysOrNotRun(env, id, title, "eval-cnn", tables);
  if (got.section) return got.section;
  const keys = got.keys;
  const k = sqlString(keys.cnn_summary);
  const blocks: Block[] = [];
  const curvesSql = sql(`
    SELECT c.model, c.optimizer, c.step, median(c.train_loss) AS train_loss, count(*) AS seeds
    FROM cnn_curves c
    LEFT JOIN cnn_summary s ON s.run_key = c.run_key AND s.model = c.model
      AND s.baseline = c.optimizer AND s.baseline_lr = c.learning_rate
    WHERE c.run_key = ${sqlString(keys.cnn_curves)} AND c.kind = 'train'
      AND (c.optimizer = 'learned' OR s.baseline IS NOT NULL)
    GROUP BY ALL ORDER BY c.model, c.optimizer, c.step`);
  const curves = await env.rows(curvesSql);
  if (curves.length > 0) {
    blocks.push({
      kind: "figure",
      id: "cnn_train_loss",
      title: "ConvNets: training loss",
      caption:
        "Training loss (median over seeds of the minibatch-loss bins) of the learned optimizer and each " +
        "baseline at its tuned learning rate.",
      sql: curvesSql,
      spec: curvesPanelsSpec({
        title: "ConvNets: training loss",
        rows: curves,
        panelField: "model",
        x: "step",
        xTitle: "step",
        y: "train_loss",
        yTitle: "training loss",
        columns: 2,
        width: 320,
        height: 210,
      }),
    });
  }
  const accSql = sql(`
    SELECT r.model, r.optimizer, median(r.test_accuracy) AS test_accuracy, count(*) AS seeds
    FROM cnn_runs r
    LEFT JOIN cnn_summary s ON s.run_key = r.run_key AND s.model = r.model
      AND s.baseline = r.optimizer AND s.baseline_lr = r.learning_rate
    WHERE r.run_key = ${sqlString(keys.cnn_runs)} AND r.status = 'ok'
      AND (r.optimizer = 'learned' OR s.baseline IS NOT NULL)
    GROUP BY ALL ORDER BY r.model, r.optimizer`);
  const acc = await env.rows(accSql);
  if (acc.length > 0) {
    blocks.push({
      kind: "figure",
      id: "cnn_test_accuracy",
      title: "ConvNets: test accuracy",
      caption:
        "Test accuracy after the last step (median over seeds), baselines at their tuned learning rate.",
      sql: accSql,
      spec: barsSpec({
        title: "ConvNets: test accuracy",
        rows: acc,
        panelField: "model",
        y: "test_accuracy",
        yTitle: "test accuracy",
      }),
    });
  }
  const sweepKey = await env.keyOf("cnn_lr_sweep");
  if (sweepKey !== null) {
    const lrSql = sql(`
      SELECT model, optimizer, learning_rate, median_final_train_loss AS final_train_loss, 'baseline' AS kind
      FROM cnn_lr_sweep WHERE run_key = ${sqlString(sweepKey)}
      UNION ALL
      SELECT DISTINCT model, 'learned', NULL, learned_final_train_loss, 'learned'
      FROM cnn_summary WHERE run_key = ${k} AND status = 'ok'
      ORDER BY model, optimizer, learning_rate`);
    const lr = await env.rows(lrSql);
    if (lr.length > 0) {
      blocks.push({
        kind: "figure",
        id: "cnn_lr_sensitivity",
        title: "ConvNets: learning-rate sensitivity",
        caption:
          "Final training loss (median over seeds) of each baseline over its learning-rate grid; the " +
          "dashed horizontal line is the learned optimizer, which has no learning rate. Diverged grid points " +
          "(NULL) are left out.",
        sql: lrSql,
        spec: lrSensitivitySpec(lr, "ConvNets: learning-rate sensitivity"),
      });
    }
  } else {
    blocks.push({
      kind: "note",
      tone: "warn",
      text: "Learning-rate sensitivity not shown: no cnn_lr_sweep rows (stage baselines-cnn not run).",
    });
  }
  blocks.push(
    await tableBlock(
      env,
      "Tuned baselines vs the learned optimizer",
      sql(`
        SELECT model, dataset, baseline, baseline_lr, baseline_final_train_loss, learned_final_train_loss,
          loss_ratio, baseline_test_accuracy, learned_test_accuracy, step_time_ratio, seeds,
          learned_stand_in, status, note
        FROM cnn_summary WHERE run_key = ${k} ORDER BY model, baseline`),
      true,
    ),
  );
  return { id, title, status: "ok", blocks };
}
