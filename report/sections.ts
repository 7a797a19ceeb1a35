/**
 * The report's sections, in report order. Each section (one module under `sections/`) runs SQL through the
 * {@link QueryFn} and turns the rows into figures (Vega-Lite specs), tables and notes. A section whose stage or
 * tables are missing comes back with status `not run` and says what to run; it never throws for missing data.
 *
 * Queries filter stage tables by `run_key` (the artifact key of the run reported on), so the SQL shown under
 * each figure gives the same rows when rerun with `deno task query` against `results/lopt.duckdb`.
 *
 * @module
 */
import type { QueryFn, ReportMeta, Section } from "./types.ts";
import { listTables, SectionEnv, type SectionOptions } from "./sections/env.ts";
import { claimsSection } from "./sections/claims.ts";
import { summarySection } from "./sections/summary.ts";
import { metaTrainSection } from "./sections/meta_train.ts";
import { heldoutSection } from "./sections/heldout.ts";
import { cnnSection } from "./sections/convnets.ts";
import { imagenetSection } from "./sections/imagenet.ts";
import { horizonSection } from "./sections/horizon.ts";
import { ablationsSection } from "./sections/ablations.ts";
import { benchSection } from "./sections/bench.ts";

export { listTables, rowsOf, type SectionOptions, sqlString } from "./sections/env.ts";
export { KEPT_IMPROVING } from "./sections/horizon.ts";

/** The section builders, in report order. */
const BUILDERS: readonly ((env: SectionEnv) => Promise<Section>)[] = [
  claimsSection,
  summarySection,
  metaTrainSection,
  heldoutSection,
  cnnSection,
  imagenetSection,
  horizonSection,
  ablationsSection,
  benchSection,
];

/**
 * Builds every section, in report order. Missing stages or tables give `not run` sections.
 *
 * @example
 * ```ts
 * const sections = await buildSections(query, meta, { maxProblems: 6 });
 * ```
 */
export async function buildSections(
  query: QueryFn,
  meta: ReportMeta,
  opts: SectionOptions = {},
): Promise<Section[]> {
  const env = new SectionEnv(query, meta, await listTables(query), { maxProblems: opts.maxProblems ?? 6 });
  const out: Section[] = [];
  for (const b of BUILDERS) out.push(await b(env));
  return out;
}
