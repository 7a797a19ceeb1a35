/**
 * The meta-training section: the meta-loss of every partial unroll over meta-steps.
 *
 * @module
 */
import type { Block, Section } from "../types.ts";
import { keysOrNotRun, type SectionEnv, sql, sqlString, tableBlock } from "./env.ts";
import { metaTrainSpec } from "../specs.ts";

/**
 * Builds the section from the reported rows; a missing stage or table gives a `not run` section.
 *
 * @example
 * ```ts
 * const section = await metaTrainSection(env); // env: a SectionEnv over the report's query
 * ```
 */
export async function metaTrainSection(env: SectionEnv): Promise<Section> {
  const id = "meta-train", title = "Meta-training curve";
  const got = await keysOrNotRun(env, id, title, "meta-train", ["meta_train_curve"]);
  if (got.section) return got.section;
  const keys = got.keys;
  const q = sql(`
    SELECT meta_step, slot, family, unroll_len, meta_loss, seconds
    FROM meta_train_curve WHERE run_key = ${sqlString(keys.meta_train_curve)}
    ORDER BY meta_step, slot`);
  const rows = await env.rows(q);
  const diverged = rows.filter((r) => typeof r.meta_loss !== "number").length;
  const blocks: Block[] = [{
    kind: "figure",
    id: "meta_train_curve",
    title: "Meta-training curve",
    caption:
      "Meta-loss of each partial unroll (points, by problem family) and its mean per meta-step (line). " +
      "Lower is better; 0 means the optimizee's loss did not move.",
    sql: q,
    spec: metaTrainSpec(rows),
  }];
  if (diverged > 0) {
    blocks.push({
      kind: "note",
      tone: "warn",
      text: `${diverged} unroll(s) diverged (meta_loss NULL) and are not plotted.`,
    });
  }
  blocks.push(
    await tableBlock(
      env,
      "Meta-loss by tenth of training",
      sql(`
        SELECT ntile AS tenth, min(meta_step) AS first_step, max(meta_step) AS last_step,
          avg(meta_loss) AS mean_meta_loss, count(*) AS unrolls
        FROM (SELECT *, ntile(10) OVER (ORDER BY meta_step, slot) AS ntile
              FROM meta_train_curve WHERE run_key = ${sqlString(keys.meta_train_curve)})
        GROUP BY ntile ORDER BY ntile`),
    ),
  );
  return { id, title, status: "ok", blocks };
}
