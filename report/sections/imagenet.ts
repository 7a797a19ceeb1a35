/**
 * The ImageNet transfer section: training loss per network and the cost of one optimizer update.
 *
 * @module
 */
import type { Block, Section } from "../types.ts";
import { keysOrNotRun, type SectionEnv, sql, sqlString, tableBlock } from "./env.ts";
import { barsSpec, curvesPanelsSpec } from "../specs.ts";

/**
 * Builds the section from the reported rows; a missing stage or table gives a `not run` section.
 *
 * @example
 * ```ts
 * const section = await imagenetSection(env); // env: a SectionEnv over the report's query
 * ```
 */
export async function imagenetSection(env: SectionEnv): Promise<Section> {
  const id = "imagenet", title = "ImageNet transfer";
  const tables = ["imagenet_runs", "imagenet_curves", "imagenet_overhead"];
  const got = await keysOrNotRun(env, id, title, "imagenet-transfer", tables);
  if (got.section) return got.section;
  const keys = got.keys;
  const blocks: Block[] = [];
  const curvesSql = sql(`
    SELECT network || ' / ' || dataset AS network, optimizer, step, median(loss) AS loss, count(*) AS seeds
    FROM imagenet_curves WHERE run_key = ${sqlString(keys.imagenet_curves)}
    GROUP BY ALL ORDER BY network, optimizer, step`);
  const curves = await env.rows(curvesSql);
  if (curves.length > 0) {
    blocks.push({
      kind: "figure",
      id: "imagenet_curves",
      title: "ImageNet networks: training loss",
      caption:
        "Training loss per step (median over seeds) of the learned optimizer and the baselines on each " +
        "network; the panel title names the dataset (stand-ins are marked).",
      sql: curvesSql,
      spec: curvesPanelsSpec({
        title: "ImageNet transfer: training loss",
        rows: curves,
        panelField: "network",
        x: "step",
        xTitle: "step",
        y: "loss",
        yTitle: "training loss",
        columns: 2,
        width: 320,
        height: 210,
      }),
    });
  }
  const ovSql = sql(`
    SELECT network, optimizer, update_ms
    FROM imagenet_overhead WHERE run_key = ${sqlString(keys.imagenet_overhead)}
    ORDER BY network, optimizer`);
  const ov = await env.rows(ovSql);
  if (ov.length > 0) {
    blocks.push({
      kind: "figure",
      id: "imagenet_update_ms",
      title: "ImageNet networks: cost of one update",
      caption: "Milliseconds for one optimizer update over all trainable weights (log scale).",
      sql: ovSql,
      spec: barsSpec({
        title: "Update time per optimizer",
        rows: ov,
        panelField: "network",
        y: "update_ms",
        yTitle: "update ms (log)",
        logScale: true,
      }),
    });
  }
  blocks.push(
    await tableBlock(
      env,
      "Runs",
      sql(`
        SELECT network, dataset, optimizer, learning_rate, seed, steps, first_loss, final_loss,
          seconds_per_step, diverged
        FROM imagenet_runs WHERE run_key = ${
        sqlString(keys.imagenet_runs)
      } ORDER BY network, optimizer, seed`),
    ),
  );
  blocks.push(
    await tableBlock(
      env,
      "Overhead of the learned optimizer",
      sql(`
        SELECT network, backend, optimizer, width, params, update_ms, update_ratio_vs_adam,
          state_bytes_per_param, step_ms, update_share, step_basis
        FROM imagenet_overhead WHERE run_key = ${sqlString(keys.imagenet_overhead)}
        ORDER BY network, optimizer`),
      true,
    ),
  );
  return { id, title, status: "ok", blocks };
}
