/**
 * What defines a meta-training run's maths: the schedule, the unroll, the gradient estimator and the
 * meta-optimizer ({@link MetaTrainConfig}), the paper's values, and the run's configuration hash (it names
 * the run's checkpoints, and a meta-training worker refuses a job whose hash its own code does not reproduce).
 *
 * @module
 */
import type { LearnedOptimizer } from "../optimizers/learned.ts";
import { PAPER_UNROLL_CONFIG, type UnrollConfig } from "./unroll.ts";
import { DEFAULT_ESTIMATOR, type EstimatorConfig } from "./estimators.ts";
import { type MetaOptimizerConfig, PAPER_META_OPTIMIZER } from "./meta_optimizer.ts";
import { PAPER_SCHEDULE, type ScheduleConfig } from "./schedule.ts";
import type { EncodedTensor } from "../../lib/state_tree.ts";
import { configHash } from "./checkpoint.ts";
import type { ProblemSource } from "./slot_step.ts";

/** Everything that defines a meta-training run's maths (hashed into checkpoints). */
export interface MetaTrainConfig {
  /** Schedule (§6.3/6.4). */
  schedule: ScheduleConfig;
  /** Unroll and meta-loss options (§6.1/6.2). */
  unroll: UnrollConfig;
  /** Gradient estimator and meta-gradient hygiene. */
  estimator: EstimatorConfig;
  /** Meta-optimizer (§6.5). */
  metaOptimizer: MetaOptimizerConfig;
}

/** The paper's configuration (TBPTT, RMSProp 1e-6, paper schedule). */
export const PAPER_META_TRAIN: MetaTrainConfig = {
  schedule: PAPER_SCHEDULE,
  unroll: PAPER_UNROLL_CONFIG,
  estimator: DEFAULT_ESTIMATOR,
  metaOptimizer: PAPER_META_OPTIMIZER,
};

/** A partial override of {@link MetaTrainConfig} (each section merged over the paper values). */
export type MetaTrainConfigInput = { [K in keyof MetaTrainConfig]?: Partial<MetaTrainConfig[K]> };

/**
 * Merges an override over {@link PAPER_META_TRAIN}.
 *
 * @example
 * ```ts
 * const config = resolveMetaTrainConfig({ metaOptimizer: { kind: "adam", lr: 1e-3 } });
 * ```
 */
export function resolveMetaTrainConfig(input: MetaTrainConfigInput = {}): MetaTrainConfig {
  return {
    schedule: { ...PAPER_META_TRAIN.schedule, ...input.schedule },
    unroll: { ...PAPER_META_TRAIN.unroll, ...input.unroll },
    estimator: { ...PAPER_META_TRAIN.estimator, ...input.estimator },
    metaOptimizer: { ...PAPER_META_TRAIN.metaOptimizer, ...input.metaOptimizer },
  };
}

/** Version of the meta-training checkpoint format (hashed into the configuration hash). */
export const META_CHECKPOINT_VERSION = 2;

/** What identifies a meta-training run's maths: {@link metaTrainConfigHash}'s input. */
export interface MetaTrainIdentity {
  /** The learned-optimizer family (its name and config are hashed). */
  learned: LearnedOptimizer;
  /** The resolved configuration. */
  config: MetaTrainConfig;
  /** The run's seed. */
  seed: number;
  /** Slots. */
  metaBatch: number;
  /** Instances per slot. */
  instances: number;
  /** The ensemble. */
  specs: ProblemSource["specs"];
  /** Starting meta-parameters, encoded, or null. */
  initialMetaParams: Record<string, EncodedTensor> | null;
  /** Asynchronous staleness bound, or undefined (synchronous). */
  asyncStaleness?: number;
}

/**
 * The configuration hash of a meta-training run (names its checkpoints; a worker recomputes it with its own
 * code and refuses a job whose hash differs).
 *
 * @example
 * ```ts
 * const hash = await metaTrainConfigHash({ learned, config: resolveMetaTrainConfig(), seed: 0, metaBatch: 1,
 *   instances: 1, specs, initialMetaParams: null });
 * ```
 */
export function metaTrainConfigHash(id: MetaTrainIdentity): Promise<string> {
  return configHash({
    version: META_CHECKPOINT_VERSION,
    learned: { name: id.learned.name, config: id.learned.config ?? null },
    config: id.config,
    seed: id.seed,
    metaBatch: id.metaBatch,
    ...(id.instances > 1 ? { instances: id.instances } : {}),
    specs: id.specs,
    initialMetaParams: id.initialMetaParams,
    ...(id.asyncStaleness !== undefined ? { async: { staleness: id.asyncStaleness } } : {}),
  });
}
