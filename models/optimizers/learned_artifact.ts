/**
 * The learned optimizer as the `meta-train` stage publishes it: the file name inside the artifact and a loader
 * that turns it into an {@link Optimizer} ready for the inner loop or the tf.Optimizer adapter: the HRNN, or
 * whichever learned optimizer (`meta-train.optimizer`) the weights file says it holds.
 *
 * @module
 */
import { join } from "node:path";
import { LEARNED_OPTIMIZER_NAME, type Optimizer } from "../../lib/optimizer.ts";
import type { LearnedKind, WeightsProvenance } from "../hrnn/weights_file.ts";

/** File name of the weights inside the `meta-train` artifact (whatever learned optimizer it holds). */
export const WEIGHTS_FILE = "hrnn.weights";

/** A learned optimizer loaded from a `meta-train` artifact. */
export interface LoadedLearnedOptimizer {
  optimizer: Optimizer;
  /** Which learned optimizer the file holds. */
  kind: LearnedKind;
  provenance: WeightsProvenance;
  /** Frees the meta-parameter tensors. */
  dispose(): void;
}

/**
 * Loads the learned optimizer from a `meta-train` artifact directory. `seed` seeds the random initial
 * per-coordinate learning rates drawn by `init` (use the evaluation seed, so runs are reproducible).
 *
 * @example
 * ```ts
 * const { optimizer, kind, dispose } = await loadLearnedOptimizer("results/artifacts/meta-train/<key>", 0);
 * ```
 */
export async function loadLearnedOptimizer(metaTrainDir: string, seed = 0): Promise<LoadedLearnedOptimizer> {
  const { optimizerFromWeights } = await import("./learned_kinds.ts");
  const { loadWeights } = await import("../hrnn/weights_file.ts");
  const loaded = await loadWeights(join(metaTrainDir, WEIGHTS_FILE));
  const optimizer = optimizerFromWeights(loaded, { seed, name: LEARNED_OPTIMIZER_NAME });
  return {
    optimizer,
    kind: loaded.optimizer,
    provenance: loaded.provenance,
    dispose: () => Object.values(loaded.metaParams).forEach((t) => t.dispose()),
  };
}
