/**
 * The benchmarks section: the latest run of each benchmark from the results database's `bench` table.
 *
 * @module
 */
import type { Section } from "../types.ts";
import { rowsOf, type SectionEnv, sql, warnSection } from "./env.ts";
import { benchSpec } from "../specs.ts";

/**
 * Builds the section from the reported rows; a missing stage or table gives a `not run` section.
 *
 * @example
 * ```ts
 * const section = await benchSection(env); // env: a SectionEnv over the report's query
 * ```
 */
export async function benchSection(env: SectionEnv): Promise<Section> {
  const id = "bench", title = "Benchmarks";
  const hint = "run `deno task bench` then `deno task report`";
  if (!env.tables.has("bench")) {
    return warnSection(
      id,
      title,
      `Not available here: ${env.meta.benchUnavailable ?? "no bench table"}. To include benchmarks, ${hint}.`,
    );
  }
  const q = sql(`
    SELECT name, group_name, median_ms, min_ms, max_ms, iterations, unit, backend, git_commit, created_at
    FROM bench
    QUALIFY row_number() OVER (PARTITION BY name ORDER BY created_at DESC) = 1
    ORDER BY group_name, name`);
  const result = await env.query(q);
  if (result.rows.length === 0) {
    return warnSection(id, title, `Not run: the bench table is empty; ${hint}.`);
  }
  return {
    id,
    title,
    status: "ok",
    blocks: [
      {
        kind: "figure",
        id: "bench",
        title: "Benchmarks",
        caption: "Median time of the latest run of each benchmark (bars, log scale) with its min–max range.",
        sql: q,
        spec: benchSpec(rowsOf(result)),
      },
      { kind: "table", title: "Latest run of each benchmark", sql: q, result, key: true },
    ],
  };
}
