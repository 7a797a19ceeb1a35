/**
 * Where a meta-step's gradient estimates come from ({@link EstimateSource}): the in-process loop over the
 * meta-batch's slots ({@link inProcessSource}), or a coordinator handing the slots to meta-training workers
 * (`models/metatrain/distributed/`).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { MetaTrainConfig } from "./config.ts";
import {
  disposeSlot,
  type EncodedSlot,
  encodeSlot,
  type Slot,
  type SlotEstimate,
  type SlotStepper,
  stepSlot,
} from "./slot_step.ts";

/** A source of the gradient estimates that make each meta-update. */
export interface EstimateSource {
  /**
   * The estimates that make the next meta-update, computed with `metaParams` of `version` (the number of
   * meta-updates applied so far) or, in asynchronous mode, of a version at most the staleness bound older.
   * Synchronous sources return one estimate per slot, in slot order. The caller disposes the gradients.
   */
  next(metaParams: Record<string, tf.Tensor>, version: number): Promise<SlotEstimate[]>;
  /** The slots' states as a checkpoint holds them. */
  encodeSlots(): EncodedSlot[];
  /** Releases what the source holds (workers, problems, tensors). */
  close(): Promise<void>;
}

/** What a distributed source is handed when it opens (`MetaTrainArgs.distribute`). */
export interface DistributeInit {
  /** The run's configuration hash (workers refuse a job whose hash their code does not reproduce). */
  configHash: string;
  /** The slots' states: fresh, or restored from a checkpoint. */
  slots: EncodedSlot[];
  /** The resolved configuration. */
  config: MetaTrainConfig;
  /** Notes for the log. */
  log: (msg: string) => void;
}

/**
 * The in-process source: runs every slot's next unroll here, in slot order.
 *
 * @example
 * ```ts
 * const source = inProcessSource(stepper, [newSlot(stepper, 0)]);
 * const estimates = await source.next(metaParams, 0);
 * ```
 */
export function inProcessSource(stepper: SlotStepper, slots: Slot[]): EstimateSource {
  return {
    async next(metaParams) {
      const out: SlotEstimate[] = [];
      for (const slot of slots) out.push(await stepSlot(stepper, slot, metaParams));
      return out;
    },
    encodeSlots: () => slots.map(encodeSlot),
    close() {
      slots.forEach(disposeSlot);
      return Promise.resolve();
    },
  };
}
