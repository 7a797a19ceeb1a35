/**
 * The ops path of the HRNN update (§4.7 steps 0–13, §5 with attention): tfjs ops on the given meta-parameter
 * tensors, differentiable w.r.t. the meta-parameters and w.r.t. the gradients, parameters and state
 * (meta-training backprops through unrolls of it, also through the problem gradient). It runs inside
 * `tf.tidy` (which keeps what the gradient tape needs) and never reads tensor data back.
 *
 * For speed, consecutive small tensors are processed as one block (`segments.ts`): their rows are concatenated
 * and every per-coordinate op runs once per block, with per-tensor statistics kept exact by segment matrices;
 * the results equal the tensor-by-tensor update up to float32 rounding.
 *
 * @example
 * ```ts
 * import { makeOpsUpdate } from "./ops_update.ts";
 * const update = makeOpsUpdate(meta, config);
 * const { updates, state: next } = update(grads, state, params);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type HrnnConfig, inpDecayLearned } from "./config.ts";
import { type BatchedGru, biasGruCell, levelGruWeights, prepareBatchedGru } from "./gru.ts";
import { MAX_BLOCK_COORDS, planBlocks } from "./segments.ts";
import type { MetaParams } from "./meta_params.ts";
import type { HrnnState, HrnnTensorState, HrnnUpdateFn } from "./state.ts";
import {
  affineRow,
  blockRows,
  type StepContext,
  type StepOutputs,
  type StepWeights,
  updateBlock,
} from "./ops_block.ts";

/** The weights and global-state biases of one step. */
function stepWeights(mp: MetaParams, config: HrnnConfig, globalOld: tf.Tensor2D | null): StepWeights {
  const k = config.numGradientScales;
  const dos = config.dynamicOutputScale;
  const attention = config.useAttention;
  const levels = config.levelSizes.length;
  let gru0Prepared: BatchedGru | null = null;
  return {
    gru0: () => (gru0Prepared ??= prepareBatchedGru(levelGruWeights(mp, 0))),
    wU: mp["readout/update_w"] as tf.Tensor2D,
    wA: attention ? mp["readout/attention_w"] as tf.Tensor2D : null,
    wGs: config.useGradientShortcut ? mp["shortcut/update"].reshape([k, 1]) : null,
    wGsA: attention && config.useGradientShortcut ? mp["shortcut/attention"].reshape([k, 1]) : null,
    wS: config.learnableDecay ? mp["readout/scl_decay_w"] as tf.Tensor2D : null,
    wI: inpDecayLearned(config) ? mp["readout/inp_decay_w"] as tf.Tensor2D : null,
    wL: dos ? mp["readout/lr_w"] as tf.Tensor2D : null,
    lrMomentum: dos ? tf.sigmoid(mp["lr_momentum_logit"]) : null,
    bias0Global: levels >= 3
      ? affineRow(globalOld!, mp["bias0/from_level2_w"], mp["bias0/from_level2_b"])
      : null,
    bias1: levels >= 3 ? affineRow(globalOld!, mp["bias1/from_level2_w"], mp["bias1/from_level2_b"]) : null,
  };
}

/**
 * Builds the ops-path update for meta-parameters and a config; blocks hold at most `maxBlockCoords`
 * coordinates (0: every tensor on its own).
 *
 * @example
 * ```ts
 * const update = makeOpsUpdate(meta, config, 0); // tensor by tensor
 * ```
 */
export function makeOpsUpdate(
  mp: MetaParams,
  config: HrnnConfig,
  maxBlockCoords: number = MAX_BLOCK_COORDS,
): HrnnUpdateFn {
  const levels = config.levelSizes.length;
  const k = config.numGradientScales;
  const dos = config.dynamicOutputScale;

  return (grads, state, params) =>
    tf.tidy(() => {
      const globalOld = state.global ?? null;
      const sw = stepWeights(mp, config, globalOld);
      // Blocks of consecutive tensors processed together (see segments.ts); rows [1, n_j] concatenate to [1, N].
      const sizes = state.tensors.map((s) => s.scl_decay.shape[1]);
      const blocks = planBlocks(sizes, maxBlockCoords);
      const logLrRows = dos ? blocks.map((b) => blockRows(state, b, k).row((s) => s.log_learning_rate!)) : [];

      // Step 0: μ_ℓ over all coordinates of all tensors (old ℓ).
      let problemLrMean: tf.Tensor | null = null;
      if (dos && config.useRelativeLr && config.useProblemLrMean) {
        const total = sizes.reduce((a, n) => a + n, 0);
        const sums = logLrRows.map((l) => tf.sum(l));
        problemLrMean = tf.div(sums.length === 1 ? sums[0] : tf.addN(sums), total);
      }

      const updates: tf.Tensor[] = new Array(sizes.length);
      const newTensors: HrnnTensorState[] = new Array(sizes.length);
      const newLayers: tf.Tensor2D[] = [];
      const step: StepContext = { mp, config, sw, state, grads, params, sizes, problemLrMean };
      const out: StepOutputs = { updates, newTensors, newLayers };
      blocks.forEach((blk, b) => updateBlock(step, blk, dos ? logLrRows[b] : undefined, out));

      // Step 13: global RNN, no external bias.
      const newState: HrnnState = { tensors: newTensors };
      if (levels >= 3 && newLayers.length > 0) {
        const input = config.globalInput === "mean"
          ? (newLayers.length === 1
            ? newLayers[0]
            : tf.div(tf.addN(newLayers), newLayers.length)) as tf.Tensor2D
          : newLayers[newLayers.length - 1];
        newState.global = biasGruCell(levelGruWeights(mp, 2), input, globalOld!, null);
      } else if (globalOld) {
        newState.global = tf.clone(globalOld);
      }
      return { updates, state: newState };
    });
}
