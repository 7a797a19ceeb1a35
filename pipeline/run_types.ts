/**
 * The types of a pipeline run: what {@link StoreLike} the runner needs from the results store, the options
 * of a run and how each stage ended.
 *
 * @module
 */
import type { ArtifactStore } from "./artifacts.ts";
import type { StageExecutor } from "./executor.ts";
import type { PlannedStage } from "./plan.ts";
import type { ReconcileStore } from "./reconcile.ts";
import type { BeginRun } from "./run_records.ts";
import type { TableSpec } from "./stage.ts";

/**
 * The part of `ResultsStore` (pipeline/store.ts) the runner uses.
 *
 * @example
 * ```ts
 * const store: StoreLike = await ResultsStore.open(resultsDir);
 * ```
 */
export interface StoreLike extends ReconcileStore {
  ensureTables(tables: TableSpec[]): Promise<unknown>;
  beginRun(r: BeginRun): Promise<void>;
  finishRun(
    r: { stage: string; key: string; status: "success" | "failed" | "interrupted"; error?: string },
  ): Promise<void>;
  markInterrupted(): Promise<{ stage: string; key: string; pid: number | null }[]>;
  close(): Promise<void>;
}

/**
 * How one stage ended.
 *
 * @example
 * ```ts
 * const o: StageOutcome = { stage: "report", key: "ab12", status: "cached", seconds: 0.01 };
 * ```
 */
export interface StageOutcome {
  stage: string;
  key: string;
  status: "ran" | "cached" | "failed" | "skipped";
  seconds: number;
  /** Why it failed or was skipped. */
  detail?: string;
  logPath?: string;
}

/**
 * What `runPlan` (pipeline/runner.ts) needs.
 *
 * @example
 * ```ts
 * const opts: RunOptions = { plan, resultsDir, profile: "smoke", jobs: 1, store, artifacts, gitCommit: null };
 * ```
 */
export interface RunOptions {
  plan: PlannedStage[];
  resultsDir: string;
  profile: string;
  jobs: number;
  store: StoreLike;
  artifacts: ArtifactStore;
  gitCommit: string | null;
  /** Permission flags for children (default: mirror this process's grants). */
  childFlags?: string[];
  /** Where stage runs execute (default: local child processes with `childFlags`). */
  executor?: StageExecutor;
  /** No progress output. */
  quiet?: boolean;
  /** Echo stage logs to stderr. */
  verbose?: boolean;
  /** Writes a notice line (default: stderr). */
  notice?: (line: string) => void;
}

/**
 * Result of `runPlan` (pipeline/runner.ts).
 *
 * @example
 * ```ts
 * const { outcomes, interrupted }: RunResult = await runPlan(opts);
 * ```
 */
export interface RunResult {
  outcomes: StageOutcome[];
  interrupted: boolean;
}
