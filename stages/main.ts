/**
 * The `deno task pipeline` entry: every stage of lopt's DAG, handed to the generic engine.
 *
 * @module
 */
import { join } from "node:path";
import { runCli } from "../pipeline/cli.ts";
import type { StageDef } from "../pipeline/stage.ts";
import { generateTasks } from "./generate_tasks.ts";
import { metaTrainStage } from "./meta_train.ts";
import { tuneBaselines } from "./tune_baselines.ts";
import { evalProblems } from "./eval_problems.ts";
import { baselinesCnn } from "./baselines_cnn.ts";
import { evalCnn } from "./eval_cnn.ts";
import { imagenetTransfer } from "./imagenet_transfer.ts";
import { createReportStage } from "./report.ts";
import { metaTrainCrnn, metaTrainL2lLstm } from "./meta_train_variants.ts";
import { evalHorizon } from "./eval_horizon.ts";
import { ablationsStage } from "./ablations.ts";

/** The stages that produce results (the report depends on all of them). */
// deno-lint-ignore no-explicit-any
const RESULT_STAGES: StageDef<any>[] = [
  generateTasks,
  metaTrainStage,
  tuneBaselines,
  evalProblems,
  baselinesCnn,
  evalCnn,
  imagenetTransfer,
];

/**
 * Stages left out of the default target (`defaultTarget: false`, too slow for the default profile's budget):
 * they run when named, e.g. `deno task pipeline eval-horizon`. They are the report's optional deps: a run
 * that names them and the report (`deno task pipeline eval-horizon report`) renders it after them, with their
 * results; `deno task report` shows the newest results of every stage.
 */
// deno-lint-ignore no-explicit-any
const NAMED_ONLY_STAGES: StageDef<any>[] = [metaTrainL2lLstm, metaTrainCrnn, evalHorizon, ablationsStage];

/**
 * Every stage, in DAG order.
 *
 * @example
 * ```ts
 * STAGES.map((s) => s.name); // ["generate-tasks", "meta-train", "tune-baselines", ...]
 * ```
 */
// deno-lint-ignore no-explicit-any
export const STAGES: StageDef<any>[] = [
  ...RESULT_STAGES,
  createReportStage(RESULT_STAGES, NAMED_ONLY_STAGES),
  ...NAMED_ONLY_STAGES,
];

/** After a run that produced or reused the report, says where it is. */
function reportEpilogue(resultsDir: string, stages: string[]): string[] {
  if (!stages.includes("report")) return [];
  return [
    `report: ${join(resultsDir, "report", "index.html")}  (summary: ${
      join(resultsDir, "report", "summary.md")
    })`,
  ];
}

if (import.meta.main) Deno.exit(await runCli(Deno.args, { stages: STAGES, epilogue: reportEpilogue }));
