/**
 * What `meta-train` meta-trains and on what — the learned optimizer (HRNN, L2L LSTM or coordinatewise RNN) and the ensemble's problems — built
 * from plain JSON, so that the stage and its meta-training workers (`models/metatrain/distributed/`, which name
 * this module in their job's recipe) build exactly the same objects.
 *
 * @module
 */
import type { HrnnConfig } from "../models/hrnn/config.ts";
import type { LearnedKind } from "../models/hrnn/weights_file.ts";
import type { ProblemSpec } from "../tasks/problem.ts";
import type { WorkerSetup } from "../models/metatrain/distributed/worker.ts";
import type { DatasetResolver } from "../tasks/datasets.ts";

/** This module as a worker recipe names it (repository-relative). */
export const META_TRAIN_SETUP_MODULE = "stages/meta_train_setup.ts";

/** The JSON a {@link workerSetup} is built from. */
export interface MetaTrainSetupArgs {
  /** Which learned optimizer (the stage's `optimizer` param; absent: `hrnn`). */
  optimizer?: LearnedKind;
  /** HRNN config overrides (the stage's `hrnn` param). */
  hrnn: Partial<HrnnConfig>;
  /** Taped update path (the stage's `kernel` param). */
  kernel: "auto" | "ops";
  /** The training problems. */
  specs: ProblemSpec[];
}

/**
 * The learned optimizer and the problem source of a `meta-train` run (datasets the specs need are loaded
 * first, unless `loaded` has them: the stage's own resolver).
 *
 * @example
 * ```ts
 * const { learned, problems } = await workerSetup({ hrnn: {}, kernel: "auto", specs });
 * ```
 */
export async function workerSetup(
  args: unknown,
  loaded?: { resolveDataset: DatasetResolver },
): Promise<WorkerSetup> {
  const a = args as MetaTrainSetupArgs;
  const { buildBatched, buildProblem } = await import("../tasks/registry.ts");
  const { preloadDatasets } = await import("../tasks/external.ts");
  const { learnedFamily } = await import("../models/optimizers/learned_kinds.ts");
  const resolveDataset = loaded?.resolveDataset ?? await preloadDatasets(a.specs);
  return {
    learned: learnedFamily(a.optimizer ?? "hrnn", { hrnn: a.hrnn, kernel: a.kernel }),
    problems: {
      specs: a.specs,
      build: (s) => buildProblem(s, { resolveDataset }),
      buildBatched: (s, size) => buildBatched(s, size, { resolveDataset }),
    },
  };
}
