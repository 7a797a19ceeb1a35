/**
 * The outer trainer (learned_optimization's OuterTrainer, kept apart from the gradient estimators): it holds
 * the meta-parameters and the meta-optimizer's state, and turns one meta-step's gradient estimates into one
 * meta-update: the estimates' gradients are averaged, the meta-optimizer applied, and the result checked for
 * non-finite values.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  disposeMetaOptState,
  type MetaOptimizerConfig,
  metaOptInit,
  type MetaOptState,
  metaOptUpdate,
} from "./meta_optimizer.ts";
import type { SlotEstimate } from "./slot_step.ts";

/** The outer trainer's state: meta-parameters, meta-optimizer state and the meta-updates applied. */
export interface OuterTrainer {
  /** The meta-optimizer. */
  readonly config: MetaOptimizerConfig;
  /** Current meta-parameters (owned by the trainer until {@link releaseMetaParams}). */
  metaParams: Record<string, tf.Tensor>;
  /** The meta-optimizer's state. */
  optState: MetaOptState;
  /** Meta-updates applied so far (counting those before a resume). */
  step: number;
}

/**
 * An outer trainer over `metaParams` (taken over, not cloned), with a fresh meta-optimizer state unless a
 * restored one is given.
 *
 * @example
 * ```ts
 * const trainer = startOuterTrainer(PAPER_META_OPTIMIZER, learned.init(0));
 * ```
 */
export function startOuterTrainer(
  config: MetaOptimizerConfig,
  metaParams: Record<string, tf.Tensor>,
  restored?: { optState: MetaOptState; step: number },
): OuterTrainer {
  return {
    config,
    metaParams,
    optState: restored ? restored.optState : metaOptInit(config, metaParams),
    step: restored?.step ?? 0,
  };
}

/**
 * Applies one meta-update from `estimates` (at least one): their gradients are averaged in order (and
 * disposed), the meta-optimizer steps, and the old meta-parameters and state are disposed. Throws
 * {@link NonFiniteMetaParamsError} when the update leaves a non-finite meta-parameter.
 *
 * @example
 * ```ts
 * applyEstimates(trainer, await source.next(trainer.metaParams, trainer.step));
 * ```
 */
export function applyEstimates(trainer: OuterTrainer, estimates: SlotEstimate[]): void {
  const sum: Record<string, tf.Tensor> = {};
  for (const n of Object.keys(trainer.metaParams)) sum[n] = tf.zerosLike(trainer.metaParams[n]);
  for (const est of estimates) {
    for (const n of Object.keys(sum)) {
      const next = tf.add(sum[n], est.grads[n]);
      sum[n].dispose();
      sum[n] = next;
    }
    tf.dispose(Object.values(est.grads));
  }
  const mean: Record<string, tf.Tensor> = {};
  for (const n of Object.keys(sum)) mean[n] = tf.div(sum[n], estimates.length);
  tf.dispose(Object.values(sum));
  const upd = metaOptUpdate(trainer.config, trainer.metaParams, mean, trainer.optState);
  tf.dispose(Object.values(mean));
  tf.dispose(Object.values(trainer.metaParams));
  disposeMetaOptState(trainer.optState);
  trainer.metaParams = upd.params;
  trainer.optState = upd.state;
  trainer.step++;
  assertFiniteMetaParams(trainer.metaParams, trainer.step, trainer.config);
}

/**
 * Frees the trainer's meta-optimizer state and hands its meta-parameters to the caller.
 *
 * @example
 * ```ts
 * const metaParams = releaseMetaParams(trainer);
 * ```
 */
export function releaseMetaParams(trainer: OuterTrainer): Record<string, tf.Tensor> {
  disposeMetaOptState(trainer.optState);
  return trainer.metaParams;
}

/**
 * Frees everything the trainer holds.
 *
 * @example
 * ```ts
 * disposeOuterTrainer(trainer);
 * ```
 */
export function disposeOuterTrainer(trainer: OuterTrainer): void {
  tf.dispose(Object.values(releaseMetaParams(trainer)));
}

/**
 * Thrown when a meta-step leaves non-finite meta-parameters (nothing is checkpointed or returned).
 *
 * @example
 * ```ts
 * try {
 *   assertFiniteMetaParams(metaParams, step, { kind: "adam", lr: 1e-3 });
 * } catch (e) {
 *   if (e instanceof NonFiniteMetaParamsError) console.error(e.message); // names the bad tensors
 * }
 * ```
 */
export class NonFiniteMetaParamsError extends Error {
  override name = "NonFiniteMetaParamsError";
}

/**
 * Throws {@link NonFiniteMetaParamsError} when any meta-parameter is NaN or infinite after meta-step `step`.
 * Non-finite meta-gradient entries are already zeroed (`cleanGradients`), so this catches an update that
 * overflows by itself (a meta learning rate far too large): the run fails before its state is checkpointed,
 * so neither a checkpoint nor the published weights ever hold non-finite values.
 *
 * @example
 * ```ts
 * assertFiniteMetaParams(metaParams, 12, { kind: "adam", lr: 1e-3 });
 * ```
 */
export function assertFiniteMetaParams(
  metaParams: Record<string, tf.Tensor>,
  step: number,
  metaOptimizer: { kind: string; lr: number },
): void {
  const bad = Object.keys(metaParams).sort().filter((n) => !metaParams[n].dataSync().every(Number.isFinite));
  if (bad.length === 0) return;
  throw new NonFiniteMetaParamsError(
    `meta-step ${step}: the ${metaOptimizer.kind} update with learning rate ${metaOptimizer.lr} made ` +
      `${bad.length} meta-parameter tensor(s) non-finite (${bad.slice(0, 3).join(", ")}${
        bad.length > 3 ? ", …" : ""
      }); nothing was checkpointed or published. Lower metaLr, or set globalNormClip.`,
  );
}
