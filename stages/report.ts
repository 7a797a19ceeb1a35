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
import { generateTasks } from "./generate_tasks.ts";
import { metaTrainStage } from "./meta_train.ts";
import { tuneBaselines } from "./tune_baselines.ts";
import { evalProblems } from "./eval_problems.ts";
import { baselinesCnn } from "./baselines_cnn.ts";
import { evalCnn } from "./eval_cnn.ts";
import { openArtifactsDb } from "../report/memdb.ts";
import { readRunInfo, sortRuns } from "../report/runs.ts";
import { publishReport, REPORT_DIR } from "../report/publish.ts";
import { renderReport } from "../report/render.ts";
import type { ReportMeta } from "../report/types.ts";

/** Params of the report stage. */
export interface ReportParams extends Record<string, unknown> {
  maxProblems: number;
  copyToResults: boolean;
}

/**
 * Builds the `report` stage over the given result stages: it depends on all of them and loads their
 * declared tables. Pass every result stage registered in `stages/main.ts`.
 */
// deno-lint-ignore no-explicit-any
export function createReportStage(upstream: readonly StageDef<any>[]): StageDef<ReportParams> {
  const specs = upstream.flatMap((s) => s.tables);
  return defineStage<ReportParams>({
    name: "report",
    description: `HTML report with figures and summary.md from ${upstream.map((s) => s.name).join(", ")} ` +
      `(copied to <results>/${REPORT_DIR}/)`,
    deps: upstream.map((s) => s.name),
    version: "1",
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
        const meta: ReportMeta = {
          source: "stage",
          profile: ctx.profile,
          gitCommit: commit,
          ...(commit ? {} : { codeVersion: await noGitVersion() }),
          generatedAt: new Date().toISOString(),
          resultsDir: ctx.resultsDir,
          runs: sortRuns(await Promise.all(artifacts.map((a) => readRunInfo(a.dir)))),
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

/**
 * The `report` stage over the result stages registered in `stages/main.ts` today (generate-tasks, meta-train,
 * tune-baselines, eval-problems, baselines-cnn, eval-cnn). Prefer `createReportStage(RESULT_STAGES)` in
 * `stages/main.ts` so that a newly registered stage (e.g. imagenet-transfer) is picked up.
 */
export const reportStage: StageDef<ReportParams> = createReportStage([
  generateTasks,
  metaTrainStage,
  tuneBaselines,
  evalProblems,
  baselinesCnn,
  evalCnn,
]);
