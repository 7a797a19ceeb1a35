/**
 * The meta-training learning curve: one {@link CurveRow} per slot's partial unroll per meta-step.
 *
 * @module
 */
import type { SlotEstimate } from "./slot_step.ts";

/** One learning-curve row: one slot's partial unroll within a meta-step. */
export interface CurveRow {
  /** Meta-step (1-based: the meta-update this unroll contributed to). */
  meta_step: number;
  /** Meta-loss of the unroll (NaN when it diverged). */
  meta_loss: number;
  /** Problem family of the slot. */
  family: string;
  /** Planned length of the unroll. */
  unroll_len: number;
  /** Training seconds since the start of the run (including time before a resume) at the end of the step. */
  seconds: number;
  /** Meta-batch slot index. */
  slot: number;
  /** Who computed the estimate: `in-process`, or the id of a meta-training worker. */
  worker: string;
  /** Meta-updates applied between the meta-params the estimate was computed with and the one it fed (0: fresh). */
  staleness: number;
}

/**
 * The curve rows of one meta-step's estimates (their `seconds` are 0 until the update is applied).
 *
 * @example
 * ```ts
 * const rows = curveRows(estimates, metaStep + 1);
 * ```
 */
export function curveRows(estimates: SlotEstimate[], metaStep: number): CurveRow[] {
  return estimates.map((est) => ({
    meta_step: metaStep,
    meta_loss: est.loss,
    family: est.family,
    unroll_len: est.unrollLen,
    seconds: 0,
    slot: est.slot,
    worker: est.worker,
    staleness: est.staleness,
  }));
}
