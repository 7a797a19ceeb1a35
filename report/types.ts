/**
 * Shared types of the report: the query callback the renderer reads through, what it knows about the runs it
 * reports on, and the blocks a section is made of.
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";
import type { QueryResult } from "../pipeline/duck_values.ts";

export type { QueryResult };

/**
 * Runs one SQL statement and returns plain JS values. The stage passes an in-memory DuckDB loaded from its
 * upstream artifacts; `deno task report` passes the results database opened read-only. Both hold tables with
 * the same names and columns (stage result tables with `run_key` first), so the same SQL works on both.
 */
export type QueryFn = (sql: string) => Promise<QueryResult>;

/** One stage run the report covers (read from the artifact's `manifest.json`, plus the DB when known). */
export interface StageRunInfo {
  /** Stage name, e.g. `meta-train`. */
  stage: string;
  /** Artifact (cache) key; equals `run_key` in the stage's result tables. */
  key: string;
  /** Stage version (from the manifest; null when unknown). */
  version: string | null;
  /** Profile the stage ran with. */
  profile: string;
  /** Resolved params. */
  params: Record<string, unknown>;
  /** Upstream keys by stage name. */
  inputs: Record<string, string>;
  /** When the artifact was published (ISO). */
  created: string | null;
  /** Git commit recorded in `stage_runs` (null when unknown, e.g. inside the pipeline). */
  gitCommit: string | null;
  /** Run time in seconds from `stage_runs` (null when unknown). */
  seconds: number | null;
}

/**
 * A result stage as the stage registry declares it: name, one-line description and the tables it writes.
 *
 * @example
 * ```ts
 * const stage: ReportedStage = { name: "eval-horizon", description: "long horizons", tables: ["horizon_curves"] };
 * ```
 */
export interface ReportedStage {
  name: string;
  description: string;
  tables: readonly string[];
}

/** What the report knows besides the tables. */
export interface ReportMeta {
  /** Where the rows come from: the `report` stage (upstream artifacts) or `deno task report` (the DB). */
  source: "stage" | "database";
  /** Profile reported on. */
  profile: string;
  /** Git commit of the code that rendered the report (null when unknown). */
  gitCommit: string | null;
  /** What names the code when `gitCommit` is null (e.g. `archive checkout (no git)`); see `noGitVersion`. */
  codeVersion?: string;
  /** Render time (ISO). */
  generatedAt: string;
  /** Results directory. */
  resultsDir: string;
  /** The stage runs whose rows are reported, in DAG order. */
  runs: StageRunInfo[];
  /** Every result stage of the stage registry, in DAG order (a stage without a run is listed as not run). */
  stages: readonly ReportedStage[];
  /** Why the `bench` table is unavailable (shown in the benchmarks section), if it is. */
  benchUnavailable?: string;
}

/** A figure: a Vega-Lite spec rendered to `figures/<id>.svg`, with the SQL its data came from. */
export interface FigureBlock {
  kind: "figure";
  /** File stem (letters, digits, `_`, `-`). */
  id: string;
  title: string;
  /** One or two sentences saying what is plotted. */
  caption: string;
  /** The query that produced the plotted rows (rerunnable with `deno task query`). */
  sql: string;
  spec: TopLevelSpec;
}

/** A table of query results. */
export interface TableBlock {
  kind: "table";
  title: string;
  /** The query (null when the rows do not come from SQL, e.g. manifests). */
  sql: string | null;
  /** Where the rows come from when `sql` is null. */
  sourceNote?: string;
  result: QueryResult;
  /** Include in `summary.md`. */
  key?: boolean;
}

/** A paragraph of text. */
export interface NoteBlock {
  kind: "note";
  text: string;
  /** `warn` for stand-ins and things not run. */
  tone?: "info" | "warn";
}

/** One element of a section. */
export type Block = FigureBlock | TableBlock | NoteBlock;

/** A section of the report. */
export interface Section {
  /** Anchor id. */
  id: string;
  title: string;
  /** `not run`: the stage or its tables are missing; the blocks then say so and what to run. */
  status: "ok" | "not run";
  blocks: Block[];
}

/** A figure as written to disk. */
export interface RenderedFigure {
  id: string;
  title: string;
  /** Path relative to the report directory, e.g. `figures/meta_train_curve.svg`. */
  file: string;
  sql: string;
}
