/**
 * The HRNN optimizer's initial state (§4.4): zero accumulators, mean squares and decays, level-0/1/2 states
 * from the learned initial values (or zeros), and random initial log learning rates.
 *
 * @example
 * ```ts
 * import { initHrnnState } from "./init.ts";
 * const state = initHrnnState(meta, config, new Rng(0), params);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../../lib/rng.ts";
import { type HrnnConfig, MIN_LOG_LR } from "./config.ts";
import type { MetaParams } from "./meta_params.ts";
import type { HrnnState, HrnnTensorState } from "./state.ts";

/**
 * Draws the initial log learning rates of one tensor (§4.4): U_coord + U_tensor, clipped.
 *
 * @example
 * ```ts
 * const logLr = initialLogLr(100, config, new Rng(0)); // Float32Array [100]
 * ```
 */
export function initialLogLr(n: number, config: HrnnConfig, rng: Rng): Float32Array {
  const [minLr, maxLr] = config.initLrRange;
  const out = new Float32Array(n);
  if (minLr === maxLr) return out.fill(Math.min(Math.max(Math.log(minLr), MIN_LOG_LR), config.maxLogLr));
  const lo = Math.log(minLr) / 2, hi = Math.log(maxLr) / 2;
  const offset = rng.uniform(lo, hi);
  for (let i = 0; i < n; i++) {
    out[i] = Math.min(Math.max(rng.uniform(lo, hi) + offset, MIN_LOG_LR), config.maxLogLr);
  }
  return out;
}

/**
 * A fresh state for the given parameter tensors; the initial log learning rates continue `rng`.
 *
 * @example
 * ```ts
 * const s = initHrnnState(meta, config, rng, [tf.zeros([3, 2])]); // s.tensors[0].parameter: [6, N0]
 * ```
 */
export function initHrnnState(mp: MetaParams, config: HrnnConfig, rng: Rng, params: tf.Tensor[]): HrnnState {
  const sizes = config.levelSizes;
  const levels = sizes.length;
  const [n0] = sizes;
  const k = config.numGradientScales;
  const dos = config.dynamicOutputScale;
  const logLrs = dos ? params.map((p) => initialLogLr(p.size, config, rng)) : [];
  return tf.tidy(() => {
    const zerosRows = (n: number) => Array.from({ length: k }, () => tf.zeros([1, n]) as tf.Tensor2D);
    const tensors = params.map((p, j) => {
      const n = p.size;
      // Broadcast add, not tf.tile: tfjs' Tile gradient runs one slice per repetition (1e5 slices at n = 1e5).
      const s: HrnnTensorState = {
        parameter: (config.learnableRnnInit
          ? tf.add(tf.zeros([n, n0]), mp["init/level0"])
          : tf.zeros([n, n0])) as tf.Tensor2D,
        scl_decay: tf.zeros([1, n]),
        inp_decay: tf.zeros([1, n]),
        grad_accum: zerosRows(n),
        ms: zerosRows(n),
      };
      if (levels >= 2) {
        s.layer =
          (config.learnableRnnInit ? tf.clone(mp["init/level1"]) : tf.zeros([1, sizes[1]])) as tf.Tensor2D;
      }
      if (dos) {
        s.log_learning_rate = tf.tensor2d(logLrs[j], [1, n]);
      }
      if (config.useAttention) {
        s.true_param = tf.clone(p);
      }
      return s;
    });
    const state: HrnnState = { tensors };
    if (levels >= 3) {
      state.global =
        (config.learnableRnnInit ? tf.clone(mp["init/level2"]) : tf.zeros([1, sizes[2]])) as tf.Tensor2D;
    }
    return state;
  });
}
