/**
 * The hierarchical RNN (`models/hrnn/`) as a {@link LearnedOptimizer} family for meta-training.
 *
 * @module
 */
import type { LearnedOptimizer } from "./learned.ts";
import { type HrnnConfig, makeHrnnConfig } from "../hrnn/config.ts";
import { createMetaParams } from "../hrnn/meta_params.ts";
import { makeHrnn } from "../hrnn/hrnn.ts";

/**
 * The HRNN family for a configuration (default: the paper's). `init(seed)` draws the §4.3 meta-parameters;
 * `optimizer(mp, {rng})` builds the HRNN on those tensors, drawing its random initial log learning rates from
 * `rng` (meta-training passes a stream derived from its seed and schedule counters).
 */
export function hrnnLearnedOptimizer(config: Partial<HrnnConfig> = {}): LearnedOptimizer {
  const cfg = makeHrnnConfig(config);
  return {
    name: "hrnn",
    config: cfg,
    init: (seed) => createMetaParams(cfg, seed),
    optimizer: (mp, opts) => makeHrnn(mp, cfg, { rng: opts?.rng, kernel: "ops" }),
  };
}
