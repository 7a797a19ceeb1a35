/**
 * Stage `report`: renders the HTML report (`index.html`, one SVG per figure, `summary.md`) from the rows of
 * its upstream artifacts and copies it to `<results>/report/` for users.
 *
 * The stage runs in a child process while the pipeline's parent holds the only connection to
 * `results/lopt.duckdb`, so it loads the upstream artifacts' `rows/<table>.ndjson` into an in-memory DuckDB
 * (same table names and columns) and runs the same SQL that `deno task report` runs against the results
 * database. Sections whose stage is not an upstream of this run say "not run".
 *
 * @module
 */
import { join } from "node:path";
import { defineStage, type StageDef } from "../pipeline/stage.ts";
import { gitCommit, noGitVersion } from "../pipeline/git.ts";
import { DB_FILE } from "../pipeline/results_dir.ts";
import { openArtifactsDb } from "../report/memdb.ts";
import { readRunInfo, sortRuns } from "../report/runs.ts";
import { publishReport, REPORT_DIR } from "../report/publish.ts";
import { renderReport } from "../report/render.ts";
import type { ReportedStage, ReportMeta } from "../report/types.ts";
import { CODE_DEPS } from "./code_deps.ts";

/** Params of the report stage. */
export interface ReportParams extends Record<string, unknown> {
  maxProblems: number;
  copyToResults: boolean;
}

/**
 * The result stages of a stage list as the report lists them (every stage but `report`, in the given order):
 * name, description and the names of the tables each declares.
 *
 * @example
 * ```ts
 * import { STAGES } from "./main.ts";
 * reportedStages(STAGES).map((s) => s.name); // ["generate-tasks", "meta-train", ...]
 * ```
 */
// deno-lint-ignore no-explicit-any
export function reportedStages(stages: readonly StageDef<any>[]): ReportedStage[] {
  return stages.filter((s) => s.name !== "report").map((s) => ({
    name: s.name,
    description: s.description,
    tables: s.tables.map((t) => t.name),
  }));
}

/**
 * The result stages of the stage registry (`STAGES` of `stages/main.ts`), in DAG order. The registry builds
 * the report stage from this module, so the registry is imported when the report renders, not when this
 * module loads.
 *
 * @example
 * ```ts
 * const stages = await registeredStages();
 * ```
 */
export async function registeredStages(): Promise<ReportedStage[]> {
  const { STAGES } = await import("./main.ts");
  return reportedStages(STAGES);
}

/**
 * Builds the `report` stage over the given result stages: it depends on all of them and loads their
 * declared tables. `optional` stages (those a run without stage names leaves out) are optional deps: when a
 * run selects them too, e.g. `deno task pipeline eval-horizon report`, they finish first and the report
 * includes their rows. Pass every result stage registered in `stages/main.ts`; the report lists every stage
 * of the registry, so a registered stage that is not upstream of this run shows as not run.
 *
 * @example
 * ```ts
 * const report = createReportStage([generateTasks, metaTrainStage], [evalHorizon]);
 * report.optionalDeps; // ["eval-horizon"]
 * ```
 */
export function createReportStage(
  // deno-lint-ignore no-explicit-any
  upstream: readonly StageDef<any>[],
  // deno-lint-ignore no-explicit-any
  optional: readonly StageDef<any>[] = [],
): StageDef<ReportParams> {
  const specs = [...upstream, ...optional].flatMap((s) => s.tables);
  return defineStage<ReportParams>({
    name: "report",
    description: `HTML report with figures and summary.md from ${upstream.map((s) => s.name).join(", ")} ` +
      `(copied to <results>/${REPORT_DIR}/)`,
    deps: upstream.map((s) => s.name),
    optionalDeps: optional.map((s) => s.name),
    version: "1",
    codeDeps: CODE_DEPS.report,
    params: {
      maxProblems: {
        type: "integer",
        default: 6,
        min: 1,
        max: 30,
        description: "held-out problems shown in the loss-curve figure (one per family)",
      },
      copyToResults: {
        type: "boolean",
        default: true,
        description: `also copy index.html, summary.md and figures/ to <results>/${REPORT_DIR}/`,
      },
    },
    profiles: {},
    tables: [],
    async run(ctx) {
      const artifacts = Object.values(ctx.inputs);
      const db = await openArtifactsDb(artifacts, { tables: specs, benchDb: join(ctx.resultsDir, DB_FILE) });
      try {
        ctx.log(`loaded ${Object.entries(db.loaded).map(([t, n]) => `${t}=${n}`).join(", ")}`);
        const commit = await gitCommit();
        const stages = await registeredStages();
        const meta: ReportMeta = {
          source: "stage",
          profile: ctx.profile,
          gitCommit: commit,
          ...(commit ? {} : { codeVersion: await noGitVersion() }),
          generatedAt: new Date().toISOString(),
          resultsDir: ctx.resultsDir,
          runs: sortRuns(await Promise.all(artifacts.map((a) => readRunInfo(a.dir))), stages),
          stages,
          benchUnavailable: db.benchUnavailable,
        };
        const r = await renderReport(db.query, meta, ctx.outDir, { maxProblems: ctx.params.maxProblems });
        for (const s of r.sections) ctx.log(`section ${s.id}: ${s.status}`);
        ctx.log(`${r.figures.length} figures: ${r.figures.map((f) => f.file).join(", ")}`);
        if (ctx.params.copyToResults) {
          const dest = await publishReport(ctx.outDir, ctx.resultsDir);
          ctx.log(`report: ${join(dest, "index.html")}`);
        }
      } finally {
        db.close();
      }
    },
  });
}
