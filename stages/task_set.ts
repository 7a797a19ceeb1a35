/**
 * The `generate-tasks` artifact format (`tasks.json`), shared by the stages that read it.
 *
 * @module
 */
import { join } from "node:path";
import type { ProblemSpec } from "../tasks/problem.ts";

/** One problem of the task set. */
export interface TaskRecord {
  /** Unique id, `train/NNN`, `valid/<name>` or `test/<name>`. */
  id: string;
  /** `train` (the meta-training ensemble), `valid` (fresh training-family instances for choosing
   * hyperparameters) or `test` (the held-out set). */
  split: "train" | "valid" | "test";
  name: string;
  /** Ensemble group, or `test_problems`. */
  group: string;
  spec: ProblemSpec;
  /** Minibatch size (null: data-free). */
  batchSize: number | null;
  /** Seed of the initial point for evaluation (held-out problems); null for training problems. */
  initSeed: number | null;
}

/** The artifact of `generate-tasks`. */
export interface TaskSet {
  version: 1;
  seed: number;
  tasks: TaskRecord[];
}

/**
 * Path of the task set inside an artifact directory.
 *
 * @example
 * ```ts
 * taskSetPath("/tmp/gen"); // "/tmp/gen/tasks.json"
 * ```
 */
export function taskSetPath(dir: string): string {
  return join(dir, "tasks.json");
}

/**
 * Reads the task set from an artifact directory.
 *
 * @example
 * ```ts
 * const set = await readTaskSet(ctx.inputs["generate-tasks"].dir);
 * const heldOut = set.tasks.filter((t) => t.split === "test");
 * ```
 */
export async function readTaskSet(dir: string): Promise<TaskSet> {
  const set = JSON.parse(await Deno.readTextFile(taskSetPath(dir))) as TaskSet;
  if (set.version !== 1 || !Array.isArray(set.tasks)) {
    throw new Error(`${taskSetPath(dir)} is not a lopt task set (version 1); rerun generate-tasks`);
  }
  return set;
}
