/**
 * lopt: a learned optimizer for TensorFlow.js — the hierarchical RNN optimizer of _Learned Optimizers that
 * Scale and Generalize_ (Wichrowska et al., 2017), meta-trained by this project, with pretrained weights.
 *
 * Load it, wrap it as a `tf.Optimizer`, train:
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { loadPretrained, toTfOptimizer } from "@lopt/lopt";
 *
 * const { optimizer } = await loadPretrained(); // also selects the wasm backend (or keeps yours)
 * const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [4] })] });
 * model.compile({ optimizer: toTfOptimizer(optimizer), loss: "meanSquaredError" });
 * await model.fit(tf.randomNormal([64, 4]), tf.randomNormal([64, 1]), { epochs: 5 });
 * ```
 *
 * Or drive it yourself: every optimizer here (the learned one and the baselines) is a pair of pure functions,
 * `init(params) → state` and `update(grads, state, params) → { updates, state }` ({@link Optimizer}).
 *
 * @module
 */
export {
  ARTIFACT_WEIGHTS_FILE,
  type LearnedOptimizer,
  loadLearnedOptimizer,
  type LoadOptions,
  loadPretrained,
  pretrainedRelease,
} from "./models/optimizers/learned_optimizer.ts";
export { LoptTfOptimizer, toTfOptimizer } from "./models/optimizers/tf_adapter.ts";
export {
  adam,
  type AdamHparams,
  BASELINE_NAMES,
  type BaselineName,
  type BaselineOptimizer,
  makeBaseline,
  momentum,
  type MomentumHparams,
  rmsprop,
  type RmspropHparams,
  sgd,
  type SgdHparams,
} from "./models/optimizers/baselines.ts";
export type { Optimizer, OptState, UpdateResult } from "./lib/optimizer.ts";
export type { HrnnOptimizer, HrnnState } from "./models/hrnn/hrnn.ts";
export type { HrnnConfig } from "./models/hrnn/config.ts";
export type { PretrainedRelease, ReleaseRecheckRun } from "./models/release_record.ts";
export type { WeightsProvenance } from "./models/hrnn/weights_file.ts";
export { type BackendSelection, selectBackendForUser } from "./lib/backend.ts";
