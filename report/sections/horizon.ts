/**
 * The long-horizon section: loss far past the meta-training horizon, by step and by wall-clock seconds.
 *
 * @module
 */
import type { Block, Section } from "../types.ts";
import { keysOrNotRun, type SectionEnv, sql, sqlString, tableBlock } from "./env.ts";
import { curvesPanelsSpec, FLOOR_DECADES } from "../specs.ts";

/** A long run "kept improving" past its training horizon when its loss fell by more than this factor. */
export const KEPT_IMPROVING = 1.1;

/**
 * Builds the section from the reported rows; a missing stage or table gives a `not run` section.
 *
 * @example
 * ```ts
 * const section = await horizonSection(env); // env: a SectionEnv over the report's query
 * ```
 */
export async function horizonSection(env: SectionEnv): Promise<Section> {
  const id = "horizon", title = "Long horizons: far past the meta-training horizon";
  const got = await keysOrNotRun(env, id, title, "eval-horizon", ["horizon_curves", "horizon_summary"]);
  if (got.section) return got.section;
  const kc = sqlString(got.keys.horizon_curves), ks = sqlString(got.keys.horizon_summary);
  const blocks: Block[] = [];
  const rules = (await env.rows(sql(`
    SELECT DISTINCT optimizer, train_horizon FROM horizon_summary WHERE run_key = ${ks} AND learned
    ORDER BY optimizer`))).map((r) => ({ x: Number(r.train_horizon), optimizer: String(r.optimizer) }));
  const steps = await env.rows(`SELECT max(steps) AS steps FROM horizon_summary WHERE run_key = ${ks}`);
  const curvesSql = sql(`
    WITH picked AS (
      SELECT DISTINCT task_id, family FROM horizon_summary WHERE run_key = ${ks}
      QUALIFY row_number() OVER (PARTITION BY family ORDER BY task_id) = 1
      ORDER BY family LIMIT ${env.opts.maxProblems}
    )
    SELECT task_id, optimizer, step, loss, seconds
    FROM horizon_curves WHERE run_key = ${kc} AND task_id IN (SELECT task_id FROM picked)
    ORDER BY task_id, optimizer, step`);
  const curves = await env.rows(curvesSql);
  const horizons = rules.map((r) => `${r.optimizer} ${r.x}`).join(", ");
  if (curves.length > 0) {
    for (
      const [fid, x, xTitle, what] of [
        ["horizon_curves", "step", "step", "steps"],
        ["horizon_wallclock", "seconds", "seconds of optimizer steps", "wall-clock seconds"],
      ] as const
    ) {
      blocks.push({
        kind: "figure",
        id: fid,
        title: `Long horizons: loss vs ${what}`,
        caption:
          `Full loss over ${steps[0]?.steps} steps (log-log) of the learned optimizers and the tuned ` +
          `baselines on one held-out problem per family (at most ${env.opts.maxProblems}). ` +
          (x === "step"
            ? `Dashed lines: the longest meta-training unroll of each learned optimizer (${horizons}). `
            : "The x axis sums the seconds of the optimizer's own steps (gradient + update). ") +
          `Each loss axis stops ${FLOOR_DECADES} decades below its panel's largest loss; lower losses are ` +
          "drawn at that floor. A curve that ends early diverged.",
        sql: curvesSql,
        spec: curvesPanelsSpec({
          title: `Long horizons: loss vs ${what}`,
          rows: curves,
          panelField: "task_id",
          x,
          xTitle,
          y: "loss",
          yTitle: "full loss",
          xLog: true,
          ...(x === "step" ? { rules } : {}),
        }),
      });
    }
  }
  blocks.push(
    await tableBlock(
      env,
      `Past the training horizon, per optimizer (kept improving: loss fell more than ${KEPT_IMPROVING}x ` +
        "after it; stalled: finite, fell less)",
      sql(`
        SELECT optimizer, learned, any_value(train_horizon) AS train_horizon, any_value(steps) AS steps,
          count(*) AS problems,
          count(*) FILTER (WHERE NOT diverged AND improvement > ${KEPT_IMPROVING}) AS kept_improving,
          count(*) FILTER (WHERE NOT diverged AND coalesce(improvement, 0) <= ${KEPT_IMPROVING}) AS stalled,
          count(*) FILTER (WHERE diverged) AS diverged,
          median(improvement) AS median_improvement, median(final_loss) AS median_final_loss
        FROM horizon_summary WHERE run_key = ${ks}
        GROUP BY optimizer, learned ORDER BY learned DESC, optimizer`),
      true,
    ),
  );
  blocks.push(
    await tableBlock(
      env,
      "Per problem and optimizer",
      sql(`
        SELECT task_id, optimizer, train_horizon, loss_at_train_horizon, final_loss, improvement, diverged,
          diverged_at_step, final_update_rms
        FROM horizon_summary WHERE run_key = ${ks} ORDER BY task_id, learned DESC, optimizer`),
    ),
  );
  return { id, title, status: "ok", blocks };
}
