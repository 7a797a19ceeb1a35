/**
 * Declarative stage definitions for the DAG engine. The engine knows nothing about optimizers: a stage is
 * a name, upstream stages, a params schema with defaults and per-profile overrides, a version, the result
 * tables it writes, and a run function.
 *
 * @module
 */

/** The type of one param. */
export type ParamType = "number" | "integer" | "boolean" | "string" | "number[]" | "string[]" | "json";

/** Schema of one param. */
export interface ParamSpec {
  type: ParamType;
  /** Default value (used by every profile that does not override it). */
  default: unknown;
  /** One line shown by `--help` and in errors. */
  description: string;
  /** Inclusive lower bound of a number (of every element of a `number[]`). */
  min?: number;
  /** Inclusive upper bound of a number (of every element of a `number[]`). */
  max?: number;
  /** Allowed values of a string (of every element of a `string[]`). */
  choices?: readonly string[];
  /** Most elements of a `number[]` / `string[]`. */
  maxItems?: number;
  /**
   * What is accepted, in words, where `min`/`max`/`choices` cannot say it (a `json` shape, a path); shown by
   * `--params` and in errors.
   */
  range?: string;
  /** Extra check of a value that passed the type and bounds: returns what is wrong, or null. */
  check?: (value: unknown) => string | null;
  /**
   * How the param enters the artifact key (default: always). `omit`: it decides how the stage runs, not what
   * it computes (e.g. the number of meta-training workers of a synchronous run), so it is left out.
   * `omit-default`: left out while it has its schema default, so adding the param kept existing keys.
   */
  key?: "omit" | "omit-default";
}

/** Resolved param values. */
export type Params = Record<string, unknown>;

/** A column of a result table (DuckDB type names: DOUBLE, BIGINT, INTEGER, VARCHAR, BOOLEAN, JSON, TIMESTAMP). */
export interface ColumnSpec {
  name: string;
  type: string;
  description?: string;
}

/** A result table a stage writes. The engine adds `run_key VARCHAR` (the artifact key) as first column. */
export interface TableSpec {
  name: string;
  description: string;
  columns: ColumnSpec[];
}

/** An upstream artifact as seen by a downstream stage. */
export interface ArtifactRef {
  stage: string;
  key: string;
  /** Absolute directory holding the artifact's files (read-only for consumers). */
  dir: string;
  /** Resolved params the upstream ran with. */
  params: Params;
}

/** What a stage's run function receives. */
export interface StageContext<P extends Params = Params> {
  /** Validated, resolved params (defaults < profile < --set). */
  params: P;
  /** Upstream artifacts by stage name. */
  inputs: Record<string, ArtifactRef>;
  /** Directory to write this stage's output files into (staged; published atomically on success). */
  outDir: string;
  /** This run's artifact key. */
  key: string;
  /** Selected profile name. */
  profile: string;
  /** Results directory (holds the DuckDB file, artifacts, report). */
  resultsDir: string;
  /** Appends rows to a result table declared in `tables`; rows are visible when the stage succeeds or live. */
  writeRows(table: string, rows: Record<string, unknown>[]): Promise<void>;
  /** Reports progress on long work (`done` of `total` units). */
  progress(done: number, total: number, label?: string): void;
  /** Writes a line to the stage's log (and the terminal when verbose). */
  log(message: string): void;
  /** Aborted when the pipeline is interrupted. */
  signal: AbortSignal;
}

/** A stage of the pipeline. */
export interface StageDef<P extends Params = Params> {
  /** Unique name, kebab-case. */
  name: string;
  /** One line for `--help`. */
  description: string;
  /** Names of upstream stages whose artifacts this stage reads. */
  deps: string[];
  /**
   * Stages whose artifacts this stage reads when the run selects them (named, or upstream of a named stage):
   * then they run first and their artifacts are inputs (and part of the key); otherwise the stage runs
   * without them. Never selected by this stage.
   */
  optionalDeps?: string[];
  /**
   * False: `deno task pipeline` without stage names does not run this stage (it runs when named, e.g.
   * `deno task pipeline eval-horizon`, or as the dep of a named stage). Default true.
   */
  defaultTarget?: boolean;
  /** Bump to invalidate cached artifacts when the stage's code changes meaning. */
  version: string;
  /**
   * Code the stage's results depend on: files or folders, relative to the repository root (`/`-separated,
   * e.g. `models/hrnn/fused.ts`, `models/hrnn/`). The content hash of every file (a folder: its source files)
   * enters the artifact key, so a change reruns this stage and its downstream; `--dry-run` names the files.
   */
  codeDeps?: readonly string[];
  /** Param schema with defaults. */
  params: Record<string, ParamSpec>;
  /** Per-profile overrides (`smoke`, `default`, `paper`). */
  profiles: Partial<Record<string, Partial<P>>>;
  /** Result tables written by this stage. */
  tables: TableSpec[];
  /**
   * Checks between params (e.g. a minimum below a maximum) that one param's spec cannot express. Runs on the
   * resolved params of every stage before any stage runs (also for `--dry-run`); throws an Error whose message
   * names the params, their values and what is allowed.
   */
  validate?(params: P): void;
  /** Does the work. Throwing fails the stage. */
  run(ctx: StageContext<P>): Promise<void>;
}

/**
 * Identity helper giving type inference for stage declarations.
 *
 * @example
 * ```ts
 * const hello = defineStage({ name: "hello", description: "says hi", deps: [], version: "1", params: {},
 *   profiles: {}, tables: [], run: async (ctx) => ctx.log(`hello from ${ctx.key}`) });
 * ```
 */
export function defineStage<P extends Params>(def: StageDef<P>): StageDef<P> {
  return def;
}
