/**
 * A meta-training run's checkpointed state: what a checkpoint holds ({@link checkpointOf}) and the run it
 * restores ({@link restoreRun}): meta-parameters, meta-optimizer state, the slots, counters and the curve.
 *
 * @module
 */
import {
  decodeTensorMap,
  decodeTree,
  type EncodedTensor,
  type EncodedTree,
  encodeTensorMap,
  encodeTree,
} from "../../lib/state_tree.ts";
import { loadLatestCheckpoint } from "./checkpoint.ts";
import { META_CHECKPOINT_VERSION } from "./config.ts";
import type { CurveRow } from "./curve.ts";
import type { MetaOptimizerConfig } from "./meta_optimizer.ts";
import { type OuterTrainer, startOuterTrainer } from "./outer_trainer.ts";
import type { EncodedSlot } from "./slot_step.ts";

/** The JSON of a meta-training checkpoint. */
export interface MetaCheckpoint {
  /** {@link META_CHECKPOINT_VERSION}. */
  version: number;
  /** The run's configuration hash. */
  configHash: string;
  /** Meta-updates applied. */
  metaStep: number;
  /** Training seconds so far. */
  seconds: number;
  /** Inner optimizer steps so far. */
  innerSteps: number;
  /** The learned optimizer's name. */
  learned: string;
  /** The meta-parameters. */
  metaParams: Record<string, EncodedTensor>;
  /** The meta-optimizer's state tree. */
  metaOpt: EncodedTree;
  /** The slots' states. */
  slots: EncodedSlot[];
  /** The learning curve so far. */
  curve: (Omit<CurveRow, "worker" | "staleness"> & Partial<CurveRow>)[];
}

/** Where a run starts: fresh, or from a checkpoint. */
export interface RunStart {
  /** The outer trainer (meta-parameters, meta-optimizer state, meta-step). */
  trainer: OuterTrainer;
  /** The slots' states from the checkpoint, or null (fresh slots). */
  encodedSlots: EncodedSlot[] | null;
  /** Training seconds before this start. */
  secondsBefore: number;
  /** Inner optimizer steps before this start. */
  innerSteps: number;
  /** The curve so far. */
  curve: CurveRow[];
  /** Meta-step of the checkpoint the run resumed from, or null. */
  resumedFrom: number | null;
}

/**
 * The checkpoint of a run's current state.
 *
 * @example
 * ```ts
 * const data = checkpointOf({ configHash, learned: "hrnn", trainer, seconds, innerSteps, curve, slots });
 * ```
 */
export function checkpointOf(run: {
  configHash: string;
  learned: string;
  trainer: OuterTrainer;
  seconds: number;
  innerSteps: number;
  curve: CurveRow[];
  slots: EncodedSlot[];
}): MetaCheckpoint {
  return {
    version: META_CHECKPOINT_VERSION,
    configHash: run.configHash,
    metaStep: run.trainer.step,
    seconds: run.seconds,
    innerSteps: run.innerSteps,
    learned: run.learned,
    metaParams: encodeTensorMap(run.trainer.metaParams),
    metaOpt: encodeTree(run.trainer.optState),
    slots: run.slots,
    curve: run.curve,
  };
}

/**
 * The run restored from the newest valid checkpoint of configuration `hash` in `dir`, or null when there is
 * none (damaged, edited or foreign checkpoints are skipped with a note to `log`).
 *
 * @example
 * ```ts
 * const start = await restoreRun(checkpointDir, hash, config.metaOptimizer, console.log);
 * ```
 */
export async function restoreRun(
  dir: string,
  hash: string,
  metaOptimizer: MetaOptimizerConfig,
  log: (msg: string) => void,
): Promise<RunStart | null> {
  const ckpt = await loadLatestCheckpoint<MetaCheckpoint>(
    dir,
    hash,
    META_CHECKPOINT_VERSION,
    (n, why) => log(`skipping checkpoint ${n}: ${why}`),
  );
  if (!ckpt) return null;
  const trainer = startOuterTrainer(metaOptimizer, decodeTensorMap(ckpt.metaParams), {
    optState: decodeTree(ckpt.metaOpt),
    step: ckpt.metaStep,
  });
  // Rows of checkpoints that do not name their workers were all computed in-process.
  const curve = ckpt.curve.map((r) => ({
    ...r,
    worker: r.worker ?? "in-process",
    staleness: r.staleness ?? 0,
  }));
  log(`resumed meta-training from the checkpoint of meta-step ${ckpt.metaStep} in ${dir}`);
  return {
    trainer,
    encodedSlots: ckpt.slots,
    secondsBefore: ckpt.seconds,
    innerSteps: ckpt.innerSteps,
    curve,
    resumedFrom: ckpt.metaStep,
  };
}
