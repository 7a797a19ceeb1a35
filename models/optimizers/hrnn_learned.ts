/**
 * The hierarchical RNN (`models/hrnn/`) as a {@link LearnedOptimizer} family for meta-training.
 *
 * @module
 */
import type { LearnedOptimizer } from "./learned.ts";
import { type HrnnConfig, makeHrnnConfig } from "../hrnn/config.ts";
import { createMetaParams } from "../hrnn/meta_params.ts";
import { makeHrnn } from "../hrnn/hrnn.ts";

/** Options of {@link hrnnLearnedOptimizer}. */
export interface HrnnLearnedOptions {
  /**
   * How the taped updates of meta-training compute: `"auto"` (default) = the differentiable fused kernel
   * (`models/hrnn/fused_taped.ts`: native x86-64, else WebAssembly) on the wasm backend for every config but
   * attention, else tfjs ops; `"ops"` = always the differentiable tfjs ops path.
   */
  kernel?: "auto" | "ops";
}

/**
 * The HRNN family for a configuration (default: the paper's). `init(seed)` draws the §4.3 meta-parameters;
 * `optimizer(mp, {rng})` builds the HRNN on those tensors, drawing its random initial log learning rates from
 * `rng` (meta-training passes a stream derived from its seed and schedule counters).
 *
 * @example
 * ```ts
 * const learned = hrnnLearnedOptimizer({}, { kernel: "ops" }); // force the tfjs ops path
 * const opt = learned.optimizer(learned.init(0), { rng: new Rng(1) });
 * ```
 */
export function hrnnLearnedOptimizer(
  config: Partial<HrnnConfig> = {},
  opts: HrnnLearnedOptions = {},
): LearnedOptimizer {
  const kernel = opts.kernel ?? "auto";
  if (kernel !== "auto" && kernel !== "ops") {
    throw new Error(`HRNN meta-training kernel must be "auto" or "ops", got ${JSON.stringify(kernel)}.`);
  }
  const cfg = makeHrnnConfig(config);
  return {
    name: "hrnn",
    config: cfg,
    init: (seed) => createMetaParams(cfg, seed),
    optimizer: (mp, o) => makeHrnn(mp, cfg, { rng: o?.rng, kernel }),
  };
}
