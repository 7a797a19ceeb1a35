/**
 * The optimization-problem interface shared by the training ensemble, held-out problems and ConvNets.
 *
 * A problem is built from a plain JSON {@link ProblemSpec} (family + params + seed), so a spec stored in an
 * artifact rebuilds the identical problem. All math is TensorFlow.js ops so that meta-training can
 * differentiate through it (including second derivatives).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Rng } from "../lib/rng.ts";

/** A JSON-serialisable description of a problem instance. */
export interface ProblemSpec {
  /** Family name, e.g. `quadratic`, `rosenbrock`, `rescale`. */
  family: string;
  /** Family-specific parameters (dimensions, noise, inner specs for wrappers, dataset spec...). */
  params: Record<string, unknown>;
  /** Seed of the instance's fixed random data (W, y, datasets). */
  seed: number;
}

/** A minibatch: inputs and labels, both already tensors. */
export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
}

/** An optimization problem (the "Task" of learned_optimization). */
export interface Problem {
  /** The spec this problem was built from. */
  readonly spec: ProblemSpec;
  /** Human-readable names of the parameter tensors, aligned with {@link paramShapes}. */
  readonly paramNames: string[];
  /** Shapes of the parameter tensors. */
  readonly paramShapes: number[][];
  /** Number of examples in the dataset, or 0 for data-free problems. */
  readonly datasetSize: number;
  /** Seeded initial parameters (a fresh draw per call). */
  init(rng: Rng): tf.Tensor[];
  /** Draws the minibatch for one step, or null for data-free problems. */
  sampleBatch(rng: Rng): Batch | null;
  /** Scalar objective on a minibatch (null: data-free / fixed batch). Differentiable. */
  objective(params: tf.Tensor[], batch: Batch | null): tf.Scalar;
  /** Scalar objective on the full dataset. Differentiable. */
  fullObjective(params: tf.Tensor[]): tf.Scalar;
  /**
   * Gradient of the minibatch objective, with this problem's own gradient noise or sparsity applied.
   * Differentiable w.r.t. params (second derivatives), the noise being a constant.
   */
  gradients(params: tf.Tensor[], batch: Batch | null, rng: Rng): { loss: tf.Scalar; grads: tf.Tensor[] };
  /**
   * For problems whose parameters live in variables they own (a `tf.LayersModel`'s weights): writes
   * `params + updates` into them and returns them. The inner loop then never disposes the parameters;
   * without it the loop builds new parameter tensors each step.
   */
  applyUpdates?(params: tf.Tensor[], updates: tf.Tensor[]): tf.Tensor[];
  /** Releases tensors the problem owns (datasets, fixed matrices). */
  dispose(): void;
}
