/**
 * Classifier families of the paper's code (design §8.3): SoftmaxRegression, SparseSoftmaxRegression (+ one-hot variant),
 * FullyConnected and ConvNet.
 *
 * Shared loss (param `loss`):
 * - `auto` (default): the paper's loss for 2 classes — mean BCE-with-logits on logit column **0** only — and
 *   softmax cross-entropy for more than 2 classes (the reference raises there; see tasks/README.md).
 * - `sigmoid_column0`: always the paper's 2-class loss (error for more than 2 classes, as in the reference).
 * - `softmax`: softmax cross-entropy, also for 2 classes.
 * Plus `l2` (default 1e-3) × mean over parameter tensors of their squared L2 norms.
 *
 * Common params: `dataset` (a JSON dataset spec, see tasks/datasets.ts), `batchSize` (default: full dataset),
 * `noiseStdev` (default 0), `loss`, `l2`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../../lib/rng.ts";
import { type BuildContext, type FamilyBuilder, makeProblem, normalInit, readData } from "../base.ts";
import { ParamReader } from "../params.ts";
import type { Batch, Problem, ProblemSpec } from "../problem.ts";

/** Loss choices of the classifier families. */
export const CLASSIFIER_LOSSES = ["auto", "sigmoid_column0", "softmax"] as const;
/** One of {@link CLASSIFIER_LOSSES}. */
export type ClassifierLoss = typeof CLASSIFIER_LOSSES[number];

/**
 * Mean classification loss of `logits` [B, C] against integer labels `y` [B]: BCE on column 0 (labels as 0/1
 * targets) or softmax cross-entropy.
 *
 * @example
 * ```ts
 * const logits = tf.zeros([4, 2]) as tf.Tensor2D;
 * const loss = classifierLoss(logits, tf.tensor1d([0, 1, 1, 0], "int32"), "sigmoid_column0"); // ln 2 ≈ 0.693
 * ```
 */
export function classifierLoss(
  logits: tf.Tensor2D,
  y: tf.Tensor,
  kind: "sigmoid_column0" | "softmax",
): tf.Scalar {
  if (logits.shape[0] === 0) return tf.scalar(0);
  if (kind === "sigmoid_column0") {
    const z = tf.reshape(tf.slice(logits, [0, 0], [-1, 1]), [-1]);
    const t = tf.cast(y, "float32");
    // max(z, 0) − z·t + log(1 + e^{−|z|}): the numerically stable BCE with logits
    return tf.mean(
      tf.add(tf.sub(tf.relu(z), tf.mul(z, t)), tf.log1p(tf.exp(tf.neg(tf.abs(z))))),
    ) as tf.Scalar;
  }
  const c = logits.shape[1];
  const onehot = tf.oneHot(tf.cast(y, "int32"), c);
  return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, onehot), 1))) as tf.Scalar;
}

/**
 * `l2` × mean over tensors of ‖θ_j‖².
 *
 * @example
 * ```ts
 * const pen = l2Penalty([tf.ones([2, 2]), tf.ones([2])], 1e-3); // 1e-3 · mean(4, 2) = 0.003
 * ```
 */
export function l2Penalty(params: tf.Tensor[], l2: number): tf.Scalar {
  if (l2 === 0 || params.length === 0) return tf.scalar(0);
  return tf.mul(l2, tf.mean(tf.stack(params.map((t) => tf.sum(tf.square(t)))))) as tf.Scalar;
}

/**
 * The reference's classifier init: N(0,1)·1.2/√shape[0] for every tensor.
 *
 * @example
 * ```ts
 * const [w, b] = classifierInit([[10, 2], [2]], new Rng(0)); // std 1.2/√10 and 1.2/√2
 * ```
 */
export function classifierInit(shapes: number[][], rng: Rng): tf.Tensor[] {
  return shapes.map((s) => normalInit([s], rng, 1.2 / Math.sqrt(s[0]))[0]);
}

interface ClassifierCore {
  paramNames: string[];
  paramShapes: number[][];
  nClasses: number;
  logits(params: tf.Tensor[], x: tf.Tensor): tf.Tensor2D;
  init(rng: Rng): tf.Tensor[];
}

/** Reads the shared classifier params and assembles the problem around a model core. */
function classifier(
  spec: ProblemSpec,
  ctx: BuildContext,
  p: ParamReader,
  core: (p: ParamReader) => ClassifierCore,
): Problem {
  const noiseStdev = p.num("noiseStdev", 0, { min: 0 });
  const lossChoice = p.choice<ClassifierLoss>("loss", CLASSIFIER_LOSSES, "auto");
  const l2 = p.num("l2", 1e-3, { min: 0 });
  const m = core(p);
  if (lossChoice === "sigmoid_column0" && m.nClasses > 2) {
    p.fail(
      "loss",
      `'sigmoid_column0' supports only 2 classes (nClasses = ${m.nClasses}); use 'auto' or 'softmax'`,
    );
  }
  const kind = lossChoice === "auto" ? (m.nClasses === 2 ? "sigmoid_column0" : "softmax") : lossChoice;
  const data = readData(p, ctx);
  p.done();
  return makeProblem({
    spec,
    paramNames: m.paramNames,
    paramShapes: m.paramShapes,
    noiseStdev,
    init: m.init,
    data,
    meanOverRows: true,
    objective: (params, batch) => {
      const b = batch as Batch;
      return tf.add(classifierLoss(m.logits(params, b.x), b.y, kind), l2Penalty(params, l2)) as tf.Scalar;
    },
  });
}

/**
 * `x` as float32 (a cast only when it is not already).
 *
 * @example
 * ```ts
 * asFloat(tf.tensor1d([1, 2], "int32")).dtype; // "float32"
 * ```
 */
export function asFloat(x: tf.Tensor): tf.Tensor {
  return x.dtype === "float32" ? x : tf.cast(x, "float32");
}

/** `softmax_regression` {nFeatures, nClasses=2, ...}: logits = X W + b, W [nFeatures, nClasses], b [nClasses]. */
export const buildSoftmaxRegression: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  return classifier(spec, ctx, p, (p) => {
    const d = p.int("nFeatures", undefined, { min: 1 });
    const c = p.int("nClasses", 2, { min: 2 });
    const shapes = [[d, c], [c]];
    return {
      paramNames: ["w", "b"],
      paramShapes: shapes,
      nClasses: c,
      init: (rng) => classifierInit(shapes, rng),
      logits: ([w, b], x) =>
        tf.add(tf.matMul(tf.reshape(asFloat(x), [-1, d]), w as tf.Tensor2D), b) as tf.Tensor2D,
    };
  });
};

function sparseSoftmax(oneHot: boolean): FamilyBuilder {
  return (spec, ctx) => {
    const p = new ParamReader(spec.family, spec.params);
    return classifier(spec, ctx, p, (p) => {
      const d = p.int("nFeatures", undefined, { min: 1 });
      const c = p.int("nClasses", 2, { min: 2 });
      const vocab = p.int("vocabSize", c, { min: 1 });
      const shapes = [[vocab, d], [d, c], [c]];
      return {
        paramNames: ["embedding", "w", "b"],
        paramShapes: shapes,
        nClasses: c,
        init: (rng) => classifierInit(shapes, rng),
        logits: ([e, w, b], x) => {
          const ids = x.dtype === "int32" ? x : tf.cast(x, "int32");
          const [bs, nCtx] = ids.shape.length === 2 ? ids.shape : [ids.shape[0], 1];
          let summed: tf.Tensor2D;
          if (oneHot) {
            const oh = tf.oneHot(tf.reshape(ids, [-1]), vocab) as tf.Tensor2D; // [B·ctx, vocab]
            summed = tf.sum(tf.reshape(tf.matMul(oh, e as tf.Tensor2D), [bs, nCtx, d]), 1) as tf.Tensor2D;
          } else if (tf.getKernel("UnsortedSegmentSum", tf.getBackend()) !== undefined) {
            // true sparse lookup; its gradient needs UnsortedSegmentSum
            summed = tf.sum(tf.gather(e, tf.reshape(ids, [bs, nCtx])), 1) as tf.Tensor2D;
          } else {
            // backends without UnsortedSegmentSum (wasm): same math via per-row id counts [B, vocab] · E
            const counts = tf.sum(tf.oneHot(tf.reshape(ids, [bs, nCtx]), vocab), 1) as tf.Tensor2D;
            summed = tf.matMul(counts, e as tf.Tensor2D);
          }
          return tf.add(tf.matMul(summed, w as tf.Tensor2D), b) as tf.Tensor2D;
        },
      };
    });
  };
}

/**
 * `sparse_softmax_regression` {nFeatures, nClasses=2, vocabSize=nClasses, ...}: data are integer ids [B, ctx];
 * logits = (Σ_ctx E[id]) W + b with E [vocabSize, nFeatures].
 */
export const buildSparseSoftmaxRegression: FamilyBuilder = sparseSoftmax(false);

/** `one_hot_sparse_softmax_regression`: the same model computed through one-hot matmuls. */
export const buildOneHotSparseSoftmaxRegression: FamilyBuilder = sparseSoftmax(true);

/**
 * `fully_connected` {nFeatures, nClasses=2, hiddenSizes=[32, 64], activation='sigmoid'|'relu', init='paper'|'he',
 * ...}: pre_1 = X W_1 + b_1, pre_{l+1} = act(pre_l) W_{l+1} + b_{l+1}; the last pre-activation is the logits.
 * `init: 'he'` (the §10 test problems): W ~ N(0,1)·√(2/fan_in), b ~ N(0,1)·0.1.
 */
export const buildFullyConnected: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  return classifier(spec, ctx, p, (p) => {
    const d = p.int("nFeatures", undefined, { min: 1 });
    const c = p.int("nClasses", 2, { min: 2 });
    const hidden = p.intList("hiddenSizes", [32, 64]);
    const act = p.choice("activation", ["sigmoid", "relu"] as const, "sigmoid");
    const initKind = p.choice("init", ["paper", "he"] as const, "paper");
    const sizes = [d, ...hidden, c];
    const shapes: number[][] = [];
    const names: string[] = [];
    for (let l = 0; l < sizes.length - 1; l++) {
      shapes.push([sizes[l], sizes[l + 1]], [sizes[l + 1]]);
      names.push(`w${l}`, `b${l}`);
    }
    const actFn = act === "relu" ? tf.relu : tf.sigmoid;
    return {
      paramNames: names,
      paramShapes: shapes,
      nClasses: c,
      init: (rng) =>
        initKind === "paper"
          ? classifierInit(shapes, rng)
          : shapes.map((s) => normalInit([s], rng, s.length === 2 ? Math.sqrt(2 / s[0]) : 0.1)[0]),
      logits: (params, x) => {
        let h = tf.reshape(asFloat(x), [-1, d]) as tf.Tensor2D;
        for (let l = 0; l < params.length / 2; l++) {
          if (l > 0) h = actFn(h);
          h = tf.add(tf.matMul(h, params[2 * l] as tf.Tensor2D), params[2 * l + 1]) as tf.Tensor2D;
        }
        return h;
      },
    };
  });
};

/**
 * `conv_net` {imageShape=[C, H, W], nClasses, filters=[[kh, kw, out], ...], activation='relu'|'sigmoid', ...}:
 * stride-1 SAME convolutions without bias or pooling, each followed by the activation, then flatten and an affine
 * to nClasses; init N(0, 0.01²) for every tensor. Inputs: rank-4 batches are taken as NHWC; flat rows
 * [B, C·H·W] as the reference's (C, H, W) layout. Filters are [kh, kw, in, out] (tfjs layout).
 * Training on wasm needs the Conv2DBackpropFilter kernel from lib/kernels/.
 */
export const buildConvNet: FamilyBuilder = (spec, ctx) => {
  const p = new ParamReader(spec.family, spec.params);
  return classifier(spec, ctx, p, (p) => {
    const img = p.intList("imageShape");
    if (img.length !== 3) p.fail("imageShape", "must be [C, H, W]");
    const [ch, h, w] = img;
    const c = p.int("nClasses", undefined, { min: 2 });
    const filters = p.intLists("filters");
    if (filters.length === 0 || filters.some((f) => f.length !== 3)) {
      p.fail("filters", "must be a non-empty list of [kh, kw, outChannels]");
    }
    const act = p.choice("activation", ["relu", "sigmoid"] as const, "relu");
    const actFn = act === "relu" ? tf.relu : tf.sigmoid;
    const shapes: number[][] = [];
    const names: string[] = [];
    let cin = ch;
    filters.forEach(([kh, kw, out], i) => {
      shapes.push([kh, kw, cin, out]);
      names.push(`conv${i}`);
      cin = out;
    });
    shapes.push([cin * h * w, c], [c]);
    names.push("w", "b");
    return {
      paramNames: names,
      paramShapes: shapes,
      nClasses: c,
      init: (rng) => normalInit(shapes, rng, 0.01),
      logits: (params, x) => {
        let t = asFloat(x) as tf.Tensor4D;
        t = x.rank === 4
          ? tf.reshape(t, [-1, h, w, ch])
          : tf.transpose(tf.reshape(t, [-1, ch, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
        for (let i = 0; i < filters.length; i++) {
          t = actFn(tf.conv2d(t, params[i] as tf.Tensor4D, 1, "same"));
        }
        const flat = tf.reshape(t, [-1, cin * h * w]) as tf.Tensor2D;
        const n = filters.length;
        return tf.add(tf.matMul(flat, params[n] as tf.Tensor2D), params[n + 1]) as tf.Tensor2D;
      },
    };
  });
};
