/**
 * Configuration of the hierarchical RNN optimizer (§4.1 and §4.2 of README.md).
 *
 * Every constructor option of the reference class and every module-level hyperparameter flag that affects the
 * optimizer is a field of {@link HrnnConfig}. {@link PAPER_CONFIG} holds the values that the reference's
 * `metarun.py` passes, i.e. the configuration used for the paper. Options that belong to meta-training rather
 * than to the update rule (`use_log_objective`, `use_second_derivatives`, `use_numerator_epsilon`,
 * `obj_train_max_multiplier`) are not part of this config; the meta-training code owns them.
 *
 * Two options are additions of this port: {@link HrnnConfig.globalInput} selects the input of the global RNN
 * (the reference feeds only the last tensor's new tensor-RNN state, quirk §11.1; `"mean"` averages over all
 * tensors, as the paper describes), and {@link HrnnConfig.lazyZeroGradients} freezes coordinates on steps
 * where their gradient is exactly zero.
 *
 * @module
 */

/** How the global (level-2) RNN input is formed from the new tensor-RNN states of the problem's tensors. */
export type GlobalInput = "last-tensor" | "mean";

/** All options of the hierarchical RNN optimizer. Field names mirror the reference option names. */
export interface HrnnConfig {
  /** Hidden sizes of the parameter, tensor and global RNNs; 1, 2 or 3 levels (`level_sizes`). */
  levelSizes: number[];
  /** Range [min, max] of the initial per-coordinate learning rates (`init_lr_range`, flags min_lr/max_lr). */
  initLrRange: [number, number];
  /** The RMS decay (`scl_decay`) is a learned readout; otherwise constant σ⁻¹(0.93) (`learnable_decay`). */
  learnableDecay: boolean;
  /** Learned per-coordinate log learning rate and per-tensor RMS-normalised direction (`dynamic_output_scale`). */
  dynamicOutputScale: boolean;
  /** Nesterov-like attended evaluation point, §5 (`use_attention`). */
  useAttention: boolean;
  /** Number K of momentum timescales (`num_gradient_scales`). */
  numGradientScales: number;
  /** The learning-rate readout weights start at 0 (`zero_init_lr_weights`). */
  zeroInitLrWeights: boolean;
  /** Log-mean-square deviation features (`use_log_means_squared`). */
  useLogMeansSquared: boolean;
  /** Relative log learning rate feature (`use_relative_lr`); needs dynamicOutputScale. */
  useRelativeLr: boolean;
  /** Extreme learning-rate indicator feature (`use_extreme_indicator`); needs dynamicOutputScale. */
  useExtremeIndicator: boolean;
  /** Upper clip of the log learning rate (`max_log_lr`); the lower clip is −33. */
  maxLogLr: number;
  /** Relative LR against the mean over the whole problem instead of this tensor (`use_problem_lr_mean`). */
  useProblemLrMean: boolean;
  /** Adds a learned linear map of the scaled gradients to the direction (`use_gradient_shortcut`). */
  useGradientShortcut: boolean;
  /** Adds log LR − ln(1e-3) as a feature (`use_lr_shortcut`); needs dynamicOutputScale. */
  useLrShortcut: boolean;
  /** Products of adjacent-timescale scaled gradients as features (`use_grad_products`). */
  useGradProducts: boolean;
  /** A separate RMS decay per timescale by repeated square roots (`use_multiple_scale_decays`). */
  useMultipleScaleDecays: boolean;
  /** The momentum decay (`inp_decay`) is a learned readout (`learnable_inp_decay`). */
  learnableInpDecay: boolean;
  /** RNN initial states are learned vectors; otherwise zeros (`learnable_rnn_init`). */
  learnableRnnInit: boolean;
  /** `scale` of every BiasGRUCell weight matrix (flag `biasgrucell_scale`). */
  gruScale: number;
  /** Initial learned bias of the reset and update gates (flag `biasgrucell_gate_bias_init`). */
  gruGateBiasInit: number;
  /** Readout weight std = readoutScale / sqrt(level-0 size) (flag `hrnn_rnn_readout_scale`). */
  readoutScale: number;
  /** Initial bias of the inp_decay readout (flag `hrnn_default_decay_var_init`). */
  inpDecayBiasInit: number;
  /** Initial bias of the scl_decay readout (flag `scale_decay_bias_init`). */
  sclDecayBiasInit: number;
  /** Initial learning-rate momentum logit (flag `learning_rate_momentum_logit_init`). */
  lrMomentumLogitInit: number;
  /** `scale` of the affines mapping higher-level states to lower-level GRU biases (flag `hrnn_affine_scale`). */
  affineScale: number;
  /** Initial value of `param_stepsize_offset` (reference constant −1). */
  stepOffsetInit: number;
  /** Std scale of the gradient-shortcut init: N(1/K, (scale/√K)²) (the reference affine default, 0.1). */
  gradShortcutScale: number;
  /**
   * Global RNN input. `"last-tensor"` reproduces the reference (quirk §11.1: only the last tensor's new
   * tensor-RNN state); `"mean"` averages the new tensor-RNN states over all tensors, as the paper describes.
   */
  globalInput: GlobalInput;
  /**
   * A coordinate whose gradient is exactly 0 on a step keeps its parameter and per-coordinate state from
   * before the step (`lazy.ts`), as lazy sparse optimizers do; off in the reference.
   */
  lazyZeroGradients: boolean;
}

/** The configuration used for the paper: the `metarun.py` defaults (§4.1) and the module flags (§4.2). */
export const PAPER_CONFIG: Readonly<HrnnConfig> = Object.freeze({
  levelSizes: [10, 20, 20],
  initLrRange: [1e-6, 1e-2] as [number, number],
  learnableDecay: true,
  dynamicOutputScale: true,
  useAttention: false,
  numGradientScales: 4,
  zeroInitLrWeights: true,
  useLogMeansSquared: true,
  useRelativeLr: true,
  useExtremeIndicator: false,
  maxLogLr: 33,
  useProblemLrMean: true,
  useGradientShortcut: true,
  useLrShortcut: false,
  useGradProducts: true,
  useMultipleScaleDecays: false,
  learnableInpDecay: true,
  learnableRnnInit: true,
  gruScale: 0.5,
  gruGateBiasInit: 2.2,
  readoutScale: 0.5,
  inpDecayBiasInit: 2.2,
  sclDecayBiasInit: 3.2,
  lrMomentumLogitInit: 3.2,
  affineScale: 0.5,
  stepOffsetInit: -1,
  gradShortcutScale: 0.1,
  globalInput: "last-tensor",
  lazyZeroGradients: false,
});

/** The lower clip of the log learning rate (reference constant). */
export const MIN_LOG_LR = -33;

const BOOLEAN_KEYS = [
  "learnableDecay",
  "dynamicOutputScale",
  "useAttention",
  "zeroInitLrWeights",
  "useLogMeansSquared",
  "useRelativeLr",
  "useExtremeIndicator",
  "useProblemLrMean",
  "useGradientShortcut",
  "useLrShortcut",
  "useGradProducts",
  "useMultipleScaleDecays",
  "learnableInpDecay",
  "learnableRnnInit",
  "lazyZeroGradients",
] as const;

const NUMBER_KEYS = [
  "maxLogLr",
  "gruScale",
  "gruGateBiasInit",
  "readoutScale",
  "inpDecayBiasInit",
  "sclDecayBiasInit",
  "lrMomentumLogitInit",
  "affineScale",
  "stepOffsetInit",
  "gradShortcutScale",
] as const;

/** Every key of {@link HrnnConfig}, in declaration order. */
export const CONFIG_KEYS: readonly (keyof HrnnConfig)[] = Object.keys(PAPER_CONFIG) as (keyof HrnnConfig)[];

/**
 * Checks a configuration and throws an Error naming the offending option and what to do. Accepts unknown input
 * (e.g. parsed JSON) and rejects missing or unknown keys.
 *
 * @example
 * ```ts
 * const config: unknown = JSON.parse(await Deno.readTextFile("hrnn_config.json"));
 * validateConfig(config); // config is an HrnnConfig from here on
 * ```
 */
export function validateConfig(config: unknown): asserts config is HrnnConfig {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new Error(`HRNN config must be an object, got ${JSON.stringify(config)}.`);
  }
  const c = config as Record<string, unknown>;
  const unknown = Object.keys(c).filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new Error(
      `HRNN config has unknown option(s) ${unknown.join(", ")}; known: ${CONFIG_KEYS.join(", ")}.`,
    );
  }
  const missing = CONFIG_KEYS.filter((k) => !(k in c));
  if (missing.length > 0) {
    throw new Error(
      `HRNN config is missing option(s) ${
        missing.join(", ")
      }; build configs with makeHrnnConfig() to get defaults.`,
    );
  }
  const sizes = c.levelSizes;
  if (
    !Array.isArray(sizes) || sizes.length < 1 || sizes.length > 3 ||
    !sizes.every((s) => Number.isInteger(s) && s > 0)
  ) {
    throw new Error(
      `HRNN levelSizes must be 1 to 3 positive integers (paper: [10, 20, 20]), got ${JSON.stringify(sizes)}.`,
    );
  }
  const range = c.initLrRange;
  if (
    !Array.isArray(range) || range.length !== 2 ||
    !range.every((v) => typeof v === "number" && Number.isFinite(v)) ||
    !(range[0] > 0) || !(range[1] >= range[0])
  ) {
    throw new Error(
      `HRNN initLrRange must be [min, max] with 0 < min <= max (paper: [1e-6, 1e-2]), got ${
        JSON.stringify(range)
      }.`,
    );
  }
  for (const k of BOOLEAN_KEYS) {
    if (typeof c[k] !== "boolean") {
      throw new Error(`HRNN option ${k} must be true or false, got ${JSON.stringify(c[k])}.`);
    }
  }
  for (const k of NUMBER_KEYS) {
    if (typeof c[k] !== "number" || !Number.isFinite(c[k])) {
      throw new Error(`HRNN option ${k} must be a finite number, got ${JSON.stringify(c[k])}.`);
    }
  }
  const k = c.numGradientScales;
  if (!Number.isInteger(k) || (k as number) < 1 || (k as number) > 16) {
    throw new Error(
      `HRNN numGradientScales must be an integer in 1..16 (paper: 4), got ${JSON.stringify(k)}.`,
    );
  }
  if ((c.maxLogLr as number) <= MIN_LOG_LR) {
    throw new Error(
      `HRNN maxLogLr must be above the lower clip ${MIN_LOG_LR} (paper: 33), got ${c.maxLogLr}.`,
    );
  }
  for (const s of ["gruScale", "readoutScale", "affineScale", "gradShortcutScale"] as const) {
    if ((c[s] as number) < 0) throw new Error(`HRNN option ${s} must be >= 0, got ${c[s]}.`);
  }
  if (!c.dynamicOutputScale) {
    const needLr = (["useRelativeLr", "useExtremeIndicator", "useLrShortcut"] as const).filter((o) => c[o]);
    if (needLr.length > 0) {
      throw new Error(
        `HRNN option(s) ${
          needLr.join(", ")
        } need a learned log learning rate: set dynamicOutputScale to true ` +
          `or switch them off.`,
      );
    }
  }
  if (c.globalInput !== "last-tensor" && c.globalInput !== "mean") {
    throw new Error(
      `HRNN globalInput must be "last-tensor" (reference) or "mean", got ${JSON.stringify(c.globalInput)}.`,
    );
  }
}

/**
 * {@link PAPER_CONFIG} with the given overrides, validated. Arrays are copied.
 *
 * @example
 * ```ts
 * const small = makeHrnnConfig({ levelSizes: [8, 16], numGradientScales: 3 });
 * ```
 */
export function makeHrnnConfig(overrides: Partial<HrnnConfig> = {}): HrnnConfig {
  const config: HrnnConfig = {
    ...PAPER_CONFIG,
    levelSizes: [...PAPER_CONFIG.levelSizes],
    initLrRange: [...PAPER_CONFIG.initLrRange] as [number, number],
    ...overrides,
  };
  if (overrides.levelSizes) config.levelSizes = [...overrides.levelSizes];
  if (overrides.initLrRange) config.initLrRange = [...overrides.initLrRange] as [number, number];
  validateConfig(config);
  return config;
}

/**
 * Width F of the per-coordinate feature vector (§4.6) for a configuration.
 *
 * @example
 * ```ts
 * numFeatures(PAPER_CONFIG); // 12: 4 scaled gradients, 3 products, 4 log-mean-square deviations, relative LR
 * ```
 */
export function numFeatures(config: HrnnConfig): number {
  const k = config.numGradientScales;
  let f = k;
  if (config.useGradProducts && k > 1) f += k - 1;
  if (config.useLogMeansSquared) f += k;
  if (config.useRelativeLr) f += 1;
  if (config.useExtremeIndicator) f += 1;
  if (config.useLrShortcut) f += 1;
  return f;
}

/**
 * Width of the tensor-RNN (level-1) input: the level-0 size plus F when features exist beyond the K scaled
 * gradients, else the level-0 size alone (§4.5).
 *
 * @example
 * ```ts
 * level1InputSize(PAPER_CONFIG); // 22 = 10 + 12
 * ```
 */
export function level1InputSize(config: HrnnConfig): number {
  const f = numFeatures(config);
  return config.levelSizes[0] + (f > config.numGradientScales ? f : 0);
}

/**
 * Whether the momentum decay is a learned readout (otherwise constant σ⁻¹(0.89), §4.3 fallbacks).
 *
 * @example
 * ```ts
 * inpDecayLearned(makeHrnnConfig({ numGradientScales: 1 })); // false: one timescale has no learned decay
 * ```
 */
export function inpDecayLearned(config: HrnnConfig): boolean {
  return config.learnableInpDecay && config.learnableDecay && config.numGradientScales > 1;
}
