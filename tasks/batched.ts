/**
 * Batched problem instances: B independent instances of one problem spec (the same family and params, B
 * different seeds) evaluated in one set of tfjs ops, the way learned_optimization `vmap`s a task family.
 *
 * Most of the meta-training ensemble has under 1,000 parameters, where the cost of a step is the per-op overhead
 * of tfjs, not arithmetic. A {@link BatchedProblem} keeps each instance's parameters as its own tensors (so an
 * optimizer sees B separate problems, with separate states) but stacks them inside its objective, so that the
 * forward, backward and double-backward passes of all B instances run as one set of ops. Losses, gradients and
 * gradient noise are per instance and exact: instance b of a batch gives the same values as the unbatched
 * problem built from `instanceSpec(spec, b)` fed the same random streams.
 *
 * Families with a vectorized implementation supply a {@link BatchedBuilder} (listed in `registry.ts`); every
 * other family is batched by {@link stackInstances}, which runs the instances one after the other behind the same interface
 * (same results, no speed-up).
 *
 * @example
 * ```ts
 * import { buildBatched } from "./registry.ts";
 * import { Rng } from "../lib/rng.ts";
 * const bp = buildBatched({ family: "quadratic", params: { ndim: 10 }, seed: 3 }, 4);
 * const rngs = [0, 1, 2, 3].map((b) => new Rng(b));
 * const params = bp.init(rngs);
 * const losses = bp.fullObjectives(params); // [4]
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, Problem, ProblemSpec } from "./problem.ts";
import { addNoise } from "./base.ts";
import { reseed } from "./ensemble.ts";
import { hashString, type Rng } from "../lib/rng.ts";

/** One step's minibatches of every instance (opaque to callers; made by {@link BatchedProblem.sampleBatch}). */
export interface InstanceBatches {
  /** Per-instance batches (stacked implementations may keep them stacked in `stacked`). */
  perInstance: (Batch | null)[] | null;
  /** Stacked inputs [B, batch, ...] and labels [B, batch] of a batched implementation. */
  stacked: Batch | null;
}

/** B independent instances of one problem spec, evaluated together. */
export interface BatchedProblem {
  /** The spec of each instance (instance 0 is the spec itself; see {@link instanceSpec}). */
  readonly specs: ProblemSpec[];
  /** Number of instances B. */
  readonly size: number;
  /** Shapes of one instance's parameter tensors. */
  readonly paramShapes: number[][];
  /** Whether the instances run as one set of ops (false: one after the other, {@link stackInstances}). */
  readonly vectorized: boolean;
  /** Fresh initial parameters of every instance, instance b drawn from `rngs[b]`. */
  init(rngs: Rng[]): tf.Tensor[][];
  /** Draws each instance's minibatch from its own stream. */
  sampleBatch(rngs: Rng[]): InstanceBatches;
  /** Full-dataset objective of every instance, [B]. Differentiable. */
  fullObjectives(params: tf.Tensor[][]): tf.Tensor1D;
  /**
   * Every instance's minibatch loss [B] and gradients (with the instance's own gradient noise or sparsity,
   * drawn from `rngs[b]`). Differentiable w.r.t. the parameters (second derivatives), the noise a constant.
   */
  gradients(
    params: tf.Tensor[][],
    batch: InstanceBatches,
    rngs: Rng[],
  ): { losses: tf.Tensor1D; grads: tf.Tensor[][] };
  /** Releases everything the instances own. */
  dispose(): void;
}

/**
 * Whether `p` is a {@link BatchedProblem} (rather than a single `Problem`).
 *
 * @example
 * ```ts
 * isBatchedProblem(buildBatched({ family: "quadratic", params: { ndim: 10 }, seed: 3 }, 4)); // true
 * ```
 */
export function isBatchedProblem(p: Problem | BatchedProblem): p is BatchedProblem {
  return typeof (p as BatchedProblem).fullObjectives === "function";
}

/** What a batched builder may use: the unbatched builder, and batching of nested specs (wrappers). */
export interface BatchContext {
  /** Builds one problem. */
  build(spec: ProblemSpec): Problem;
  /** Batches instance specs of any family (vectorized where it can be). */
  batch(specs: ProblemSpec[]): BatchedProblem;
}

/**
 * A family's batched builder: the B instance specs (same family and params) → a vectorized batch (or a
 * {@link stackInstances} batch where its data does not allow one).
 */
export type BatchedBuilder = (specs: ProblemSpec[], ctx: BatchContext) => BatchedProblem;

/**
 * The spec of instance `b` of a batch: instance 0 is `spec` itself; instance b > 0 has the same family and
 * params with every seed (its own, nested specs', datasets') re-derived from (spec.seed, b, path), inside the
 * same split's seed range (train [0, 2³⁰), held-out [2³⁰, 2³¹)).
 *
 * @example
 * ```ts
 * const spec = { family: "quadratic", params: { ndim: 10 }, seed: 3 };
 * const second = instanceSpec(spec, 1); // same family and params, a new seed
 * ```
 */
export function instanceSpec(spec: ProblemSpec, b: number): ProblemSpec {
  if (!Number.isInteger(b) || b < 0) throw new Error(`instance index must be an integer >= 0, got ${b}`);
  if (b === 0) return spec;
  const base = spec.seed >= 2 ** 30 ? 2 ** 30 : 0;
  return reseed(spec, (path) => base + (hashString(`instance/${spec.seed}/${b}/${path}`) % 2 ** 30));
}

/**
 * Builds B instances of `spec` ({@link instanceSpec}) with `ctx.batch` (vectorized where the family can be;
 * `buildBatched` of `registry.ts` supplies it), or as {@link stackInstances} of one for B = 1.
 *
 * @example
 * ```ts
 * const bp = batchInstances({ family: "rosenbrock", params: {}, seed: 0 }, 8, ctx);
 * ```
 */
export function batchInstances(
  spec: ProblemSpec,
  size: number,
  ctx: BatchContext,
): BatchedProblem {
  if (!Number.isInteger(size) || size < 1) {
    throw new Error(`a batch needs an integer number of instances >= 1, got ${size}`);
  }
  const specs = Array.from({ length: size }, (_, b) => instanceSpec(spec, b));
  return size > 1 ? ctx.batch(specs) : stackInstances(specs.map((s) => ctx.build(s)));
}

/**
 * Any list of problems with equal parameter shapes as a {@link BatchedProblem} that evaluates them one after
 * the other (exactly the unbatched problems' values; used for families without a vectorized implementation
 * and for a batch of one).
 *
 * @example
 * ```ts
 * const bp = stackInstances([0, 1].map((seed) => buildProblem({ family: "min_max_well", params: { ndim: 5 }, seed })));
 * console.log(bp.size, bp.vectorized); // 2 false
 * ```
 */
export function stackInstances(problems: Problem[]): BatchedProblem {
  if (problems.length === 0) throw new Error("stackInstances needs at least one problem");
  const shapes = problems[0].paramShapes;
  for (const p of problems) {
    if (JSON.stringify(p.paramShapes) !== JSON.stringify(shapes)) {
      throw new Error(`stackInstances: instances of '${p.spec.family}' have different parameter shapes`);
    }
  }
  const one = problems.length === 1;
  return {
    specs: problems.map((p) => p.spec),
    size: problems.length,
    paramShapes: shapes,
    vectorized: false,
    init: (rngs) => problems.map((p, b) => p.init(rngs[b])),
    sampleBatch: (rngs) => ({ perInstance: problems.map((p, b) => p.sampleBatch(rngs[b])), stacked: null }),
    fullObjectives(params) {
      return tf.tidy(() => {
        const fs = problems.map((p, b) => p.fullObjective(params[b]));
        return (one ? tf.reshape(fs[0], [1]) : tf.stack(fs)) as tf.Tensor1D;
      });
    },
    gradients(params, batch, rngs) {
      const outs = problems.map((p, b) => p.gradients(params[b], batch.perInstance![b], rngs[b]));
      // The instances' own losses stay in the caller's scope (a recorded op may have saved them).
      const losses = (one ? tf.reshape(outs[0].loss, [1]) : tf.stack(outs.map((o) => o.loss))) as tf.Tensor1D;
      return { losses, grads: outs.map((o) => o.grads) };
    },
    dispose: () => problems.forEach((p) => p.dispose()),
  };
}

/** What a vectorized family supplies to {@link makeVectorizedProblem}. */
export interface VectorizedDef {
  /** The instance specs. */
  specs: ProblemSpec[];
  /** One instance's parameter shapes. */
  paramShapes: number[][];
  /** Per-step gradient noise std (0: exact), the same for every instance. */
  noiseStdev: number;
  /** The unbatched instances (used for their seeded init, which is per instance). */
  instances: Problem[];
  /**
   * Objectives [B] from stacked parameters (tensor i stacked to [B, ...shape_i]) on stacked minibatches, or
   * on the full datasets when `batch` is null.
   */
  objectives(stacked: tf.Tensor[], batch: Batch | null): tf.Tensor1D;
  /** Draws the stacked minibatch of every instance from its own stream; absent: data-free (null). */
  sampleBatch?(rngs: Rng[]): Batch | null;
  /** Full-dataset objectives [B]; absent: `objectives(stacked, null)`. */
  fullObjectives?(stacked: tf.Tensor[]): tf.Tensor1D;
  /** Releases the stacked fixed data (the instances are disposed too). */
  dispose?(): void;
}

/**
 * Stacks instance b's tensor i over b: [B, ...shape_i] per tensor.
 *
 * @example
 * ```ts
 * const [xs] = stackParams([[tf.zeros([10, 1])], [tf.ones([10, 1])]]); // [2, 10, 1]
 * ```
 */
export function stackParams(params: tf.Tensor[][]): tf.Tensor[] {
  return params[0].map((_, i) => tf.stack(params.map((p) => p[i])));
}

/**
 * Assembles a vectorized {@link BatchedProblem} from a family's {@link VectorizedDef}.
 *
 * @example
 * ```ts
 * const bp = makeVectorizedProblem({
 *   specs, paramShapes: instances[0].paramShapes, noiseStdev: 0, instances,
 *   objectives: ([x]) => tf.sum(tf.square(x), [1, 2]) as tf.Tensor1D,
 * });
 * ```
 */
export function makeVectorizedProblem(def: VectorizedDef): BatchedProblem {
  const size = def.specs.length;
  const check = (params: tf.Tensor[][]) => {
    if (params.length !== size) {
      throw new Error(`expected parameters of ${size} instances, got ${params.length}`);
    }
  };
  return {
    specs: def.specs,
    size,
    paramShapes: def.paramShapes,
    vectorized: true,
    init: (rngs) => def.instances.map((p, b) => p.init(rngs[b])),
    sampleBatch: (rngs) => ({ perInstance: null, stacked: def.sampleBatch ? def.sampleBatch(rngs) : null }),
    fullObjectives(params) {
      check(params);
      return tf.tidy(() => {
        const s = stackParams(params);
        return def.fullObjectives ? def.fullObjectives(s) : def.objectives(s, null);
      });
    },
    gradients(params, batch, rngs) {
      check(params);
      return tf.tidy(() => {
        const flat = params.flat();
        const t = params[0].length;
        // Instances are independent: the gradient of Σ_b f_b (valueAndGrads of the vector [f_b] with dy = 1)
        // w.r.t. instance b's tensors is ∇f_b.
        const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) => {
          const per = Array.from({ length: size }, (_, b) => ps.slice(b * t, (b + 1) * t));
          return def.objectives(stackParams(per), batch.stacked);
        })(flat);
        const out = Array.from({ length: size }, (_, b) => grads.slice(b * t, (b + 1) * t));
        return {
          losses: value as tf.Tensor1D,
          grads: out.map((g, b) => addNoise(g, def.noiseStdev, rngs[b])),
        };
      });
    },
    dispose() {
      def.dispose?.();
      def.instances.forEach((p) => p.dispose());
    },
  };
}
