/**
 * The code every stage's results depend on (its `codeDeps`): folders and files whose content hashes enter the
 * stage's artifact key, so that a change to a kernel, a problem family, the inner loop or a stage's own
 * declaration reruns exactly the stages it can affect (and their downstream), and `--dry-run` names the file.
 *
 * @example
 * ```ts
 * import { CODE_DEPS } from "./code_deps.ts";
 * CODE_DEPS.evalCnn.includes("models/inner_loop.ts"); // true
 * ```
 *
 * @module
 */

/** The floor: RNG, backends and their kernels, the optimizer interface, state trees, statistics. */
const FLOOR = ["lib/"];
/** The optimizers a run can use: baselines, learned optimizers and their loader, the HRNN and its kernels. */
const OPTIMIZERS = ["models/optimizers/", "models/hrnn/"];
/** Training and evaluating a problem: the one inner loop and the evaluation protocols. */
const EVALUATION = ["models/inner_loop.ts", "models/evaluation/"];
/** What the evaluation stages share: the task set, the tuned rates, run seeds and column sets. */
const EVAL_STAGES = ["stages/eval_common.ts", "stages/task_set.ts", "stages/columns.ts"];
/** The meta-training stage's declaration, params and settings. */
const META_TRAIN_STAGE = [
  "stages/meta_train.ts",
  "stages/meta_train_params.ts",
  "stages/meta_train_settings.ts",
  "stages/meta_train_setup.ts",
  "stages/meta_train_workers.ts",
];

/**
 * Code dependencies per stage (relative to the repository root; a folder counts its source files).
 *
 * @example
 * ```ts
 * const stage = { name: "eval-problems", codeDeps: CODE_DEPS.evalProblems };
 * ```
 */
export const CODE_DEPS = {
  generateTasks: [...FLOOR, "tasks/", "stages/generate_tasks.ts", "stages/task_set.ts"],
  metaTrain: [...FLOOR, "tasks/", ...OPTIMIZERS, "models/metatrain/", ...META_TRAIN_STAGE],
  metaTrainVariant: [
    ...FLOOR,
    "tasks/",
    ...OPTIMIZERS,
    "models/metatrain/",
    ...META_TRAIN_STAGE,
    "stages/meta_train_variants.ts",
  ],
  tuneBaselines: [
    ...FLOOR,
    "tasks/",
    ...OPTIMIZERS,
    ...EVALUATION,
    ...EVAL_STAGES,
    "stages/tune_baselines.ts",
    "stages/tune_baselines_params.ts",
  ],
  evalProblems: [...FLOOR, "tasks/", ...OPTIMIZERS, ...EVALUATION, ...EVAL_STAGES, "stages/eval_problems.ts"],
  baselinesCnn: [
    ...FLOOR,
    "tasks/",
    ...OPTIMIZERS,
    ...EVALUATION,
    "stages/cnn_common.ts",
    "stages/columns.ts",
    "stages/baselines_cnn.ts",
  ],
  evalCnn: [
    ...FLOOR,
    "tasks/",
    ...OPTIMIZERS,
    ...EVALUATION,
    "stages/cnn_common.ts",
    "stages/columns.ts",
    "stages/eval_cnn.ts",
  ],
  imagenetTransfer: [
    ...FLOOR,
    "tasks/",
    ...OPTIMIZERS,
    ...EVALUATION,
    "stages/columns.ts",
    "stages/imagenet_params.ts",
    "stages/imagenet_transfer.ts",
  ],
  evalHorizon: [
    ...FLOOR,
    "tasks/",
    ...OPTIMIZERS,
    ...EVALUATION,
    ...EVAL_STAGES,
    "stages/eval_horizon.ts",
    "stages/eval_horizon_params.ts",
    "stages/completed_units.ts",
  ],
  ablations: [
    ...FLOOR,
    "tasks/",
    ...OPTIMIZERS,
    "models/metatrain/",
    ...EVALUATION,
    ...EVAL_STAGES,
    ...META_TRAIN_STAGE,
    "stages/ablations.ts",
    "stages/ablations_params.ts",
    "stages/ablation_variants.ts",
    "stages/completed_units.ts",
  ],
  report: ["report/", "stages/report.ts"],
} as const satisfies Record<string, readonly string[]>;
