/**
 * The `deno task pipeline` entry: every stage of lopt's DAG, handed to the generic engine.
 *
 * @module
 */
import { runCli } from "../pipeline/cli.ts";
import type { StageDef } from "../pipeline/stage.ts";
import { generateTasks } from "./generate_tasks.ts";
import { metaTrainStage } from "./meta_train.ts";
import { tuneBaselines } from "./tune_baselines.ts";
import { evalProblems } from "./eval_problems.ts";
import { baselinesCnn } from "./baselines_cnn.ts";
import { evalCnn } from "./eval_cnn.ts";

/** Every stage, in DAG order. */
// deno-lint-ignore no-explicit-any
export const STAGES: StageDef<any>[] = [generateTasks, metaTrainStage, tuneBaselines, evalProblems, baselinesCnn, evalCnn];

if (import.meta.main) Deno.exit(await runCli(Deno.args, { stages: STAGES }));
