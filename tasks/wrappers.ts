/**
 * Wrapper problems of the paper's code (design §8.4): Rescale, SumTask, LogObjective and SparseProblem.
 *
 * Noise semantics (param `faithfulNoise`, default false): by default a wrapper's gradient is built from the inner
 * problems' own `gradients`, so their noise and sparsity stay effective, and the wrapper then applies its own
 * noise (and, for SparseProblem, its mask). With `faithfulNoise: true` the wrapper differentiates the inner
 * objective exactly and applies only its own noise, as the released code does (inner noise ignored, §11.15).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../lib/rng.ts";
import { addNoise, autodiff, type FamilyBuilder, makeProblem, sparsify } from "./base.ts";
import { ParamReader } from "./params.ts";
import type { Batch, ProblemSpec } from "./problem.ts";
import { type BatchContext, type BatchedBuilder, type BatchedProblem, stackInstances } from "./batched.ts";

/**
 * `rescale` {inner, scale=10, noiseStdev=0, faithfulNoise=false}: init = inner init × scale;
 * f(θ) = f_inner(θ/scale); batches come from the inner problem.
 */
export const buildRescale: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  const innerSpec = p.spec("inner");
  const scale = p.num("scale", 10);
  if (scale === 0) p.fail("scale", "must be non-zero");
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const faithful = p.bool("faithfulNoise", false);
  p.done();
  const inner = ctx.build(innerSpec);
  const shrink = (ps: tf.Tensor[]) => ps.map((t) => tf.div(t, scale));
  return makeProblem({
    spec,
    paramNames: inner.paramNames,
    paramShapes: inner.paramShapes,
    noiseStdev,
    datasetSize: inner.datasetSize,
    init: (rng) => tf.tidy(() => inner.init(rng).map((t) => tf.mul(t, scale))),
    sampleBatch: (rng) => inner.sampleBatch(rng),
    objective: (ps, batch) => inner.objective(shrink(ps), batch),
    gradients: faithful ? undefined : (ps, batch, rng) =>
      tf.tidy(() => {
        const { loss, grads } = inner.gradients(shrink(ps), batch, rng);
        return { loss, grads: addNoise(grads.map((g) => tf.div(g, scale)), noiseStdev, rng) };
      }),
    dispose: () => inner.dispose(),
  });
};

/**
 * `sum_task` {problems: [spec, ...], noiseStdev=0, faithfulNoise=false}: concatenated parameter lists and
 * f = Σ_k f_k(own slice). As in the reference, no minibatch is passed down: data-backed inner problems are
 * evaluated on their full dataset.
 */
export const buildSumTask: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  const specs = p.specList("problems");
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const faithful = p.bool("faithfulNoise", false);
  p.done();
  const inner = specs.map((s) => ctx.build(s));
  const offsets: number[] = [];
  let total = 0;
  for (const q of inner) {
    offsets.push(total);
    total += q.paramShapes.length;
  }
  const part = (ps: tf.Tensor[], k: number) => ps.slice(offsets[k], offsets[k] + inner[k].paramShapes.length);
  return makeProblem({
    spec,
    paramNames: inner.flatMap((q, k) => q.paramNames.map((n) => `p${k}/${n}`)),
    paramShapes: inner.flatMap((q) => q.paramShapes),
    noiseStdev,
    init: (rng) => inner.flatMap((q) => q.init(rng)),
    sampleBatch: () => null,
    objective: (ps) => tf.addN(inner.map((q, k) => q.objective(part(ps, k), null))) as tf.Scalar,
    gradients: faithful ? undefined : (ps, _batch, rng) =>
      tf.tidy(() => {
        const parts = inner.map((q, k) => q.gradients(part(ps, k), null, rng));
        const loss = tf.addN(parts.map((r) => r.loss)) as tf.Scalar;
        return { loss, grads: addNoise(parts.flatMap((r) => r.grads), noiseStdev, rng) };
      }),
    dispose: () => inner.forEach((q) => q.dispose()),
  });
};

/** Offset of {@link buildLogObjective}: f = ln(f_inner + ε) − ln(ε). */
export const LOG_OBJECTIVE_EPS = 1e-6;

/**
 * `log_objective` {inner, noiseStdev=0, faithfulNoise=false}: f = ln(f_inner + 1e-6) − ln(1e-6), which is ≥ 0
 * for a non-negative inner objective. Gradient: ∇f_inner / (f_inner + 1e-6).
 */
export const buildLogObjective: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  const innerSpec = p.spec("inner");
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const faithful = p.bool("faithfulNoise", false);
  p.done();
  const inner = ctx.build(innerSpec);
  const logOf = (f: tf.Tensor) => tf.sub(tf.log(tf.add(f, LOG_OBJECTIVE_EPS)), Math.log(LOG_OBJECTIVE_EPS));
  return makeProblem({
    spec,
    paramNames: inner.paramNames,
    paramShapes: inner.paramShapes,
    noiseStdev,
    datasetSize: inner.datasetSize,
    init: (rng) => inner.init(rng),
    sampleBatch: (rng) => inner.sampleBatch(rng),
    objective: (ps, batch) => logOf(inner.objective(ps, batch)) as tf.Scalar,
    gradients: faithful ? undefined : (ps, batch, rng) =>
      tf.tidy(() => {
        const r = inner.gradients(ps, batch, rng);
        const denom = tf.add(r.loss, LOG_OBJECTIVE_EPS);
        const grads = r.grads.map((g) => tf.div(g, denom));
        return { loss: logOf(r.loss) as tf.Scalar, grads: addNoise(grads, noiseStdev, rng) };
      }),
    dispose: () => inner.dispose(),
  });
};

/**
 * `sparse_problem` {inner, zeroProbability=0.99, noiseStdev=0, faithfulNoise=false}: objective = inner objective
 * (with data); gradient = (inner gradient + noise), then each element independently zeroed with probability
 * `zeroProbability`, fresh at every call.
 */
export const buildSparseProblem: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  const innerSpec = p.spec("inner");
  const zeroP = p.num("zeroProbability", 0.99, { min: 0, max: 1 });
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const faithful = p.bool("faithfulNoise", false);
  p.done();
  const inner = ctx.build(innerSpec);
  return makeProblem({
    spec,
    paramNames: inner.paramNames,
    paramShapes: inner.paramShapes,
    noiseStdev,
    datasetSize: inner.datasetSize,
    init: (rng) => inner.init(rng),
    sampleBatch: (rng) => inner.sampleBatch(rng),
    objective: (ps, batch) => inner.objective(ps, batch),
    gradients: (ps: tf.Tensor[], batch: Batch | null, rng: Rng) =>
      tf.tidy(() => {
        const r = faithful ? autodiff((q) => inner.objective(q, batch), ps) : inner.gradients(ps, batch, rng);
        return { loss: r.loss, grads: sparsify(addNoise(r.grads, noiseStdev, rng), zeroP, rng) };
      }),
    dispose: () => inner.dispose(),
  });
};

/** The wrapper params every instance of a batch shares, and the batch of their inner problems. */
function batchedInner(
  specs: ProblemSpec[],
  ctx: BatchContext,
): { inner: BatchedProblem; noiseStdev: number; params: Record<string, unknown> } | null {
  const params = specs[0].params as Record<string, unknown>;
  if (params.faithfulNoise === true) return null;
  const inner = ctx.batch(specs.map((s) => s.params.inner as ProblemSpec));
  if (!inner.vectorized) {
    inner.dispose();
    return null;
  }
  return { inner, noiseStdev: (params.noiseStdev as number | undefined) ?? 0, params };
}

/** A batch of wrapper instances around a vectorized inner batch, with the wrapper's own maths per instance. */
function wrapBatch(
  specs: ProblemSpec[],
  inner: BatchedProblem,
  parts: Pick<BatchedProblem, "init" | "fullObjectives" | "gradients">,
): BatchedProblem {
  return {
    specs,
    size: specs.length,
    paramShapes: inner.paramShapes,
    vectorized: true,
    sampleBatch: (rngs) => inner.sampleBatch(rngs),
    dispose: () => inner.dispose(),
    ...parts,
  };
}

/**
 * Batched `rescale` (default noise semantics) over a vectorized inner batch; with `faithfulNoise` or an inner
 * family without a vectorized form, the instances are stacked.
 */
export const batchedRescale: BatchedBuilder = (specs, ctx) => {
  const b = batchedInner(specs, ctx);
  if (!b) return stackInstances(specs.map((s) => ctx.build(s)));
  const { inner, noiseStdev, params } = b;
  const scale = (params.scale as number | undefined) ?? 10;
  const shrink = (ps: tf.Tensor[][]) => ps.map((q) => q.map((t) => tf.div(t, scale)));
  return wrapBatch(specs, inner, {
    init: (rngs) => tf.tidy(() => inner.init(rngs).map((q) => q.map((t) => tf.mul(t, scale)))),
    fullObjectives: (ps) => tf.tidy(() => inner.fullObjectives(shrink(ps))),
    gradients: (ps, batch, rngs) =>
      tf.tidy(() => {
        const r = inner.gradients(shrink(ps), batch, rngs);
        const grads = r.grads.map((gs, i) => addNoise(gs.map((g) => tf.div(g, scale)), noiseStdev, rngs[i]));
        return { losses: r.losses, grads };
      }),
  });
};

/** Batched `log_objective` over a vectorized inner batch (else stacked instances). */
export const batchedLogObjective: BatchedBuilder = (specs, ctx) => {
  const b = batchedInner(specs, ctx);
  if (!b) return stackInstances(specs.map((s) => ctx.build(s)));
  const { inner, noiseStdev } = b;
  const logOf = (f: tf.Tensor) => tf.sub(tf.log(tf.add(f, LOG_OBJECTIVE_EPS)), Math.log(LOG_OBJECTIVE_EPS));
  return wrapBatch(specs, inner, {
    init: (rngs) => inner.init(rngs),
    fullObjectives: (ps) => tf.tidy(() => logOf(inner.fullObjectives(ps)) as tf.Tensor1D),
    gradients: (ps, batch, rngs) =>
      tf.tidy(() => {
        const r = inner.gradients(ps, batch, rngs);
        const denoms = tf.unstack(tf.add(r.losses, LOG_OBJECTIVE_EPS));
        const grads = r.grads.map((gs, i) =>
          addNoise(gs.map((g) => tf.div(g, denoms[i])), noiseStdev, rngs[i])
        );
        return { losses: logOf(r.losses) as tf.Tensor1D, grads };
      }),
  });
};

/** Batched `sparse_problem` over a vectorized inner batch (else stacked instances). */
export const batchedSparseProblem: BatchedBuilder = (specs, ctx) => {
  const b = batchedInner(specs, ctx);
  if (!b) return stackInstances(specs.map((s) => ctx.build(s)));
  const { inner, noiseStdev, params } = b;
  const zeroP = (params.zeroProbability as number | undefined) ?? 0.99;
  return wrapBatch(specs, inner, {
    init: (rngs) => inner.init(rngs),
    fullObjectives: (ps) => inner.fullObjectives(ps),
    gradients: (ps, batch, rngs) =>
      tf.tidy(() => {
        const r = inner.gradients(ps, batch, rngs);
        const grads = r.grads.map((gs, i) => sparsify(addNoise(gs, noiseStdev, rngs[i]), zeroP, rngs[i]));
        return { losses: r.losses, grads };
      }),
  });
};

/** Batched `sum_task` (default noise semantics) when every part's family has a vectorized batch. */
export const batchedSumTask: BatchedBuilder = (specs, ctx) => {
  const params = specs[0].params as { problems: ProblemSpec[]; noiseStdev?: number; faithfulNoise?: boolean };
  const stacked = () => stackInstances(specs.map((s) => ctx.build(s)));
  if (params.faithfulNoise === true) return stacked();
  const parts: BatchedProblem[] = [];
  for (let k = 0; k < params.problems.length; k++) {
    const part = ctx.batch(specs.map((s) => (s.params.problems as ProblemSpec[])[k]));
    parts.push(part);
    if (!part.vectorized) {
      parts.forEach((p) => p.dispose());
      return stacked();
    }
  }
  const noiseStdev = params.noiseStdev ?? 0;
  const offsets: number[] = [];
  let total = 0;
  for (const q of parts) {
    offsets.push(total);
    total += q.paramShapes.length;
  }
  const slice = (ps: tf.Tensor[][], k: number) =>
    ps.map((q) => q.slice(offsets[k], offsets[k] + parts[k].paramShapes.length));
  const join = (per: tf.Tensor[][][]) => specs.map((_, b) => per.flatMap((part) => part[b]));
  const fullData = { perInstance: null, stacked: null };
  return {
    specs,
    size: specs.length,
    paramShapes: parts.flatMap((q) => q.paramShapes),
    vectorized: true,
    init: (rngs) => join(parts.map((q) => q.init(rngs))),
    // As in the unbatched family, the parts are evaluated on their full data.
    sampleBatch: () => fullData,
    fullObjectives: (ps) =>
      tf.tidy(() => tf.addN(parts.map((q, k) => q.fullObjectives(slice(ps, k)))) as tf.Tensor1D),
    gradients: (ps, _batch, rngs) =>
      tf.tidy(() => {
        const rs = parts.map((q, k) => q.gradients(slice(ps, k), fullData, rngs));
        const grads = join(rs.map((r) => r.grads)).map((g, b) => addNoise(g, noiseStdev, rngs[b]));
        return { losses: tf.addN(rs.map((r) => r.losses)) as tf.Tensor1D, grads };
      }),
    dispose: () => parts.forEach((p) => p.dispose()),
  };
};
