/**
 * The ablations section: each HRNN variant with one feature off against the full model.
 *
 * @module
 */
import type { Section } from "../types.ts";
import { keysOrNotRun, type SectionEnv, sql, sqlString, tableBlock } from "./env.ts";
import { ablationSpec } from "../specs.ts";

/**
 * Builds the section from the reported rows; a missing stage or table gives a `not run` section.
 *
 * @example
 * ```ts
 * const section = await ablationsSection(env); // env: a SectionEnv over the report's query
 * ```
 */
export async function ablationsSection(env: SectionEnv): Promise<Section> {
  const id = "ablations", title = "Ablations: one feature off at a time";
  const got = await keysOrNotRun(env, id, title, "ablations", ["ablation_summary"]);
  if (got.section) return got.section;
  const k = sqlString(got.keys.ablation_summary);
  const q = sql(`
    SELECT variant, seed, median_ratio_vs_full, wins_vs_adam, divergences
    FROM ablation_summary WHERE run_key = ${k} ORDER BY variant = 'full' DESC, variant, seed`);
  return {
    id,
    title,
    status: "ok",
    blocks: [
      {
        kind: "figure",
        id: "ablations",
        title: "Ablations: final loss vs the full model",
        caption:
          "Each variant (one HRNN feature off; attention on) meta-trained with the same reduced budget and " +
          "seeds as the full model, then run on the held-out problems: the median over problems of its final " +
          "loss over the full model's (same seed). Points: meta-training seeds; tick: their median.",
        sql: q,
        spec: ablationSpec(await env.rows(q)),
      },
      await tableBlock(
        env,
        "Ablations: per variant (over seeds)",
        sql(`
          SELECT variant, any_value(description) AS description, count(*) AS seeds, any_value(meta_steps) AS meta_steps,
            any_value(problems) AS problems, avg(wins_vs_adam) AS mean_wins_vs_adam,
            median(median_ratio_vs_full) AS median_ratio_vs_full, min(median_ratio_vs_full) AS min_ratio,
            max(median_ratio_vs_full) AS max_ratio, sum(divergences) AS divergences
          FROM ablation_summary WHERE run_key = ${k}
          GROUP BY variant ORDER BY variant = 'full' DESC, median(median_ratio_vs_full) DESC`),
        true,
      ),
    ],
  };
}
