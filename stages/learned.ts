/**
 * The learned optimizer as the `meta-train` stage publishes it: the file name inside the artifact and a loader
 * that turns it into an {@link HrnnOptimizer} ready for the inner loop or the tf.Optimizer adapter.
 *
 * @module
 */
import { join } from "node:path";
import type { HrnnOptimizer } from "../models/hrnn/hrnn.ts";
import type { WeightsProvenance } from "../models/hrnn/weights_file.ts";

/** File name of the weights inside the `meta-train` artifact. */
export const WEIGHTS_FILE = "hrnn.weights";

/** A learned optimizer loaded from a `meta-train` artifact. */
export interface LoadedLearnedOptimizer {
  optimizer: HrnnOptimizer;
  provenance: WeightsProvenance;
  /** Frees the meta-parameter tensors. */
  dispose(): void;
}

/**
 * Loads the learned optimizer from a `meta-train` artifact directory. `seed` seeds the random initial
 * per-coordinate learning rates drawn by `init` (use the evaluation seed, so runs are reproducible).
 */
export async function loadLearnedOptimizer(metaTrainDir: string, seed = 0): Promise<LoadedLearnedOptimizer> {
  const { makeHrnn } = await import("../models/hrnn/hrnn.ts");
  const { loadWeights } = await import("../models/hrnn/weights_file.ts");
  const loaded = await loadWeights(join(metaTrainDir, WEIGHTS_FILE));
  const optimizer = makeHrnn(loaded.metaParams, loaded.config, { seed, name: "learned" });
  return {
    optimizer,
    provenance: loaded.provenance,
    dispose: () => Object.values(loaded.metaParams).forEach((t) => t.dispose()),
  };
}
