/**
 * Families the reference defines but leaves out of the paper's meta-training set (§8.2, "disabled"):
 * DependencyChain, MinMaxWell, OutwardSnake, ProjectionQuadratic and SumOfQuadratics. Init N(0,1) for all.
 *
 * Data D [B, ndim] comes from the `dataset` param (random_binary or random_symmetric in the reference sets) and
 * the `batchSize` param.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type FamilyBuilder, makeProblem, normalInit, readData } from "../base.ts";
import { ParamReader } from "../params.ts";
import type { Batch } from "../problem.ts";

function dataMatrix(batch: Batch | null, ndim: number): tf.Tensor2D {
  const x = (batch as Batch).x;
  return tf.reshape(x.dtype === "float32" ? x : tf.cast(x, "float32"), [-1, ndim]) as tf.Tensor2D;
}

/**
 * `dependency_chain` {ndim, dataset?, batchSize?, noiseStdev=0}: v [ndim+1];
 * f = Σ_{i=1..ndim} [v_0² + v_i²/(v_{i−1}² + 1e-6)] (v_0² counted ndim times). Data, if given, is ignored by f.
 */
export const buildDependencyChain: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  const ndim = p.int("ndim", undefined, { min: 1 });
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const data = p.has("dataset") ? readData(p, ctx) : undefined;
  p.done();
  const shapes = [[ndim + 1]];
  return makeProblem({
    spec,
    paramNames: ["v"],
    paramShapes: shapes,
    noiseStdev,
    data,
    init: (rng) => normalInit(shapes, rng),
    objective: ([v]) => {
      const v2 = tf.square(v);
      const cur = tf.slice(v2, [1], [ndim]), prev = tf.slice(v2, [0], [ndim]);
      const v0 = tf.slice(v2, [0], [1]);
      return tf.sum(tf.add(v0, tf.div(cur, tf.add(prev, 1e-6)))) as tf.Scalar;
    },
  });
};

/** `min_max_well` {ndim, noiseStdev=0}: v [ndim]; f = max_i v_i² + 1/min_i v_i² − 2 + 1e-12 (≥ 0). No data. */
export const buildMinMaxWell: FamilyBuilder = (spec) => {
  const p = new ParamReader(spec.family, spec.params);
  const ndim = p.int("ndim", undefined, { min: 1 });
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  p.done();
  const shapes = [[ndim]];
  return makeProblem({
    spec,
    paramNames: ["v"],
    paramShapes: shapes,
    noiseStdev,
    init: (rng) => normalInit(shapes, rng),
    objective: ([v]) => {
      const v2 = tf.square(v);
      return tf.add(tf.add(tf.max(v2), tf.reciprocal(tf.min(v2))), -2 + 1e-12) as tf.Scalar;
    },
  });
};

/**
 * `outward_snake` {ndim ≥ 2, dataset, batchSize?, noiseStdev=0}: v [ndim], D [B, ndim];
 * f = Σ_b D_{b,0}/(‖v‖ + 1e-6) + Σ_b Σ_{j≥1} ((v_j − π cos v_{j−1})·D_{b,j})².
 */
export const buildOutwardSnake: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  const ndim = p.int("ndim", undefined, { min: 2 });
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const data = readData(p, ctx);
  p.done();
  const shapes = [[ndim]];
  return makeProblem({
    spec,
    paramNames: ["v"],
    paramShapes: shapes,
    noiseStdev,
    data,
    init: (rng) => normalInit(shapes, rng),
    objective: ([v], batch) => {
      const d = dataMatrix(batch, ndim);
      const norm = tf.sqrt(tf.sum(tf.square(v)));
      const first = tf.div(tf.sum(tf.slice(d, [0, 0], [-1, 1])), tf.add(norm, 1e-6));
      const diff = tf.sub(
        tf.slice(v, [1], [ndim - 1]),
        tf.mul(Math.PI, tf.cos(tf.slice(v, [0], [ndim - 1]))),
      );
      const rest = tf.sum(tf.square(tf.mul(diff, tf.slice(d, [0, 1], [-1, ndim - 1]))));
      return tf.add(first, rest) as tf.Scalar;
    },
  });
};

/** `projection_quadratic` {ndim, dataset, batchSize?, noiseStdev=0}: v [1, ndim]; f = Σ_{b,j} (v_j D_{b,j})². */
export const buildProjectionQuadratic: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  const ndim = p.int("ndim", undefined, { min: 1 });
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const data = readData(p, ctx);
  p.done();
  const shapes = [[1, ndim]];
  return makeProblem({
    spec,
    paramNames: ["v"],
    paramShapes: shapes,
    noiseStdev,
    data,
    init: (rng) => normalInit(shapes, rng),
    objective: ([v], batch) => tf.sum(tf.square(tf.mul(v, dataMatrix(batch, ndim)))) as tf.Scalar,
  });
};

/**
 * `sum_of_quadratics` {ndim, dataset, batchSize?, noiseStdev=0}: v [1, ndim];
 * f = Σ_{b,j} (v_j − D_{b,j})² − Σ_{b,j} D_{b,j}² + 1e-12. Non-negative on the full random_symmetric dataset
 * (Σ_b D = 0); a minibatch value can be negative, as in the reference.
 */
export const buildSumOfQuadratics: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  const ndim = p.int("ndim", undefined, { min: 1 });
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const data = readData(p, ctx);
  p.done();
  const shapes = [[1, ndim]];
  return makeProblem({
    spec,
    paramNames: ["v"],
    paramShapes: shapes,
    noiseStdev,
    data,
    init: (rng) => normalInit(shapes, rng),
    objective: ([v], batch) => {
      const d = dataMatrix(batch, ndim);
      return tf.add(tf.sub(tf.sum(tf.square(tf.sub(v, d))), tf.sum(tf.square(d))), 1e-12) as tf.Scalar;
    },
  });
};
