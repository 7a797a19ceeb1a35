/**
 * The settings of the ImageNet transfer experiment that do not need TensorFlow.js: the networks and
 * optimizers it compares, the baselines' standard learning rates, and the optimizer configurations a
 * parameter set asks for.
 *
 * @module
 */
import { LEARNED_OPTIMIZER_NAME } from "../../lib/optimizer.ts";

/** Networks the stage can train. */
export const NETWORKS = ["inception_v3", "resnet_v2"] as const;
/** Optimizers the stage compares. */
export const TRANSFER_OPTIMIZERS = [LEARNED_OPTIMIZER_NAME, "rmsprop", "adam"] as const;

/** Standard ImageNet learning rate of RMSProp (Inception training: lr 0.045, decay 0.9, ε 1.0). */
export const RMSPROP_IMAGENET_LR = 0.045;
/** Standard learning rate of Adam. */
export const ADAM_IMAGENET_LR = 1e-3;

/**
 * A low estimate of the transient bytes per parameter of one learned-optimizer update (the paper configuration
 * measured 1.3–1.8 KB): above a quarter of the wasm heap at this rate, a training run measures the real figure
 * and refuses to start when the update would not fit the 4 GiB heap.
 */
export const LEARNED_UPDATE_BYTES_PER_PARAM = 1300;

/** Params of the `imagenet-transfer` stage (the experiment reads them as they are). */
export interface ImagenetTransferParams extends Record<string, unknown> {
  seed: number;
  networks: string[];
  optimizers: string[];
  lrMultipliers: number[];
  rmspropMomentum: number;
  steps: number;
  batchSize: number;
  widthMultiplier: number;
  inceptionInputSize: number;
  resnetInputSize: number;
  resnetDepth: number;
  imagenetDir: string;
  imagenetLimit: number;
  standInExamples: number;
  backend: string;
  overhead: boolean;
  overheadWidth: number;
  overheadStepBatch: number;
  overheadTargetBatch: number;
  overheadInceptionInput: number;
  overheadResnetInput: number;
  overheadResnetDepth: number;
  overheadRepeats: number;
  overheadGroupBudgetMiB: number;
}

/** One optimizer configuration of a comparison. */
export interface OptimizerRun {
  /** `learned`, `rmsprop` or `adam`. */
  name: string;
  /** Baseline learning rate (null: the learned optimizer). */
  learningRate: number | null;
  /** Every hyperparameter passed to `makeBaseline`. */
  hparams: Record<string, number | boolean>;
}

/**
 * The optimizer configurations the params ask for, in the order they run.
 *
 * @example
 * ```ts
 * optimizerRuns({ optimizers: ["learned", "adam"], lrMultipliers: [1, 3], rmspropMomentum: 0.9 });
 * // learned, adam@0.001, adam@0.003
 * ```
 */
export function optimizerRuns(
  p: Pick<ImagenetTransferParams, "optimizers" | "lrMultipliers" | "rmspropMomentum">,
): OptimizerRun[] {
  const out: OptimizerRun[] = [];
  for (const name of p.optimizers) {
    if (name === LEARNED_OPTIMIZER_NAME) {
      out.push({ name, learningRate: null, hparams: {} });
      continue;
    }
    for (const m of p.lrMultipliers) {
      if (name === "rmsprop") {
        const h = {
          learningRate: RMSPROP_IMAGENET_LR * m,
          decay: 0.9,
          epsilon: 1.0,
          momentum: p.rmspropMomentum,
        };
        out.push({ name, learningRate: h.learningRate, hparams: h });
      } else {
        const h = { learningRate: ADAM_IMAGENET_LR * m };
        out.push({ name, learningRate: h.learningRate, hparams: h });
      }
    }
  }
  return out;
}

/** ResNet V2 depths the networks are built for (the keys of `RESNET_V2_BLOCKS` in tasks/imagenet/resnet_v2.ts). */
export const RESNET_DEPTHS: readonly number[] = [14, 26, 50, 101, 152, 200];
