/**
 * One ConvNet evaluation run (model m, optimizer o, seed s) on the shared inner loop (`models/inner_loop.ts`),
 * with the evaluation protocol of the ConvNet experiments:
 *
 * - data: the training and test examples given (the stages pass the first `trainLimit` / `testLimit`);
 * - init: `initConvNet(m, new Rng(s).fork("init/<m>"))`, identical for every optimizer of the seed;
 * - minibatches: epochs of shuffles drawn from `new Rng(s).fork("batches/<m>")` ({@link batchOrder}), identical
 *   for every optimizer of the seed (the order does not depend on the optimizer or the learning rate);
 * - step t: loss and gradients on minibatch t at the current parameters, the update, θ ← θ + update; the
 *   recorded minibatch loss is the one the gradient came with;
 * - every `evalEvery` steps and after the last: mean loss on the fixed training-evaluation subset (the first
 *   `trainEvalSize` training examples) and loss/accuracy on the test examples, at the optimizer's evaluation
 *   point (`evalParams` when it has one);
 * - a non-finite minibatch or evaluation loss stops the run (diverged = true; its final losses are NaN);
 * - seconds per step: median over steps of loss+gradient+update+apply wall time (evaluations excluded).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import { median } from "../../lib/stats.ts";
import type { Optimizer } from "../../lib/optimizer.ts";
import { trainProblem } from "../inner_loop.ts";
import { convNetBatchStats, type ConvNetSpec } from "../../tasks/convnets.ts";
import { convNetBatch, convNetProblem } from "../../tasks/convnet_problem.ts";
import type { ImageDataset } from "../../tasks/data/dataset.ts";

/** The protocol settings of a run (the ConvNet stages' params carry them). */
export interface CnnProtocol {
  /** Training steps. */
  steps: number;
  /** Minibatch size. */
  batchSize: number;
  /** Training-evaluation loss over the first this many training examples. */
  trainEvalSize: number;
  /** Test evaluation over the first this many test examples. */
  testLimit: number;
  /** Evaluate every this many steps (and after the last). */
  evalEvery: number;
  /** Batch size of evaluation forward passes. */
  evalBatch: number;
  /** L2 weight × mean over tensors of squared norms. */
  l2: number;
}

/** One evaluation of a run. */
export interface CnnEvalPoint {
  /** Updates applied before the evaluation. */
  step: number;
  /** Mean loss over the fixed training-evaluation subset. */
  trainLoss: number;
  /** Mean test loss. */
  testLoss: number;
  /** Test accuracy in [0, 1]. */
  testAccuracy: number;
}

/** The record of one training run. */
export interface CnnRunRecord {
  model: string;
  dataset: string;
  optimizer: string;
  /** NULL for the learned optimizer. */
  learningRate: number | null;
  seed: number;
  steps: number;
  stepsRun: number;
  /** Minibatch loss of every step taken (the last is non-finite after divergence). */
  minibatchLoss: number[];
  evals: CnnEvalPoint[];
  /** Median seconds per step (loss + gradients + update + apply). */
  secondsPerStep: number;
  diverged: boolean;
  /** Training-evaluation loss after the last step (NaN when diverged). */
  finalTrainLoss: number;
  /** Test loss / accuracy after the last step (NaN when diverged). */
  testLoss: number;
  testAccuracy: number;
  status: "ok" | "not run";
  note: string;
}

/**
 * The minibatch index lists of a run: `steps` batches of `batchSize` indices in [0, n), successive epochs of
 * shuffles drawn from `new Rng(seed).fork("batches/<model>")`. Depends only on (model, seed, n, steps,
 * batchSize), so every optimizer of a seed sees the same data in the same order.
 *
 * @example
 * ```ts
 * const order = batchOrder("convnet_mnist_relu", 0, 60000, 200, 64); // 200 × Int32Array(64)
 * ```
 */
export function batchOrder(
  model: string,
  seed: number,
  n: number,
  steps: number,
  batchSize: number,
): Int32Array[] {
  const rng = new Rng(seed).fork(`batches/${model}`);
  const out: Int32Array[] = [];
  const perm = Int32Array.from({ length: n }, (_, k) => k);
  let at = n;
  for (let t = 0; t < steps; t++) {
    const b = new Int32Array(batchSize);
    for (let i = 0; i < batchSize; i++) {
      if (at >= perm.length) {
        rng.shuffle(perm);
        at = 0;
      }
      b[i] = perm[at++];
    }
    out.push(b);
  }
  return out;
}

/**
 * The rng that draws a run's initial parameters (shared by every optimizer of the seed).
 *
 * @example
 * ```ts
 * const params = initConvNet(spec, initRng(spec.name, 0));
 * ```
 */
export function initRng(model: string, seed: number): Rng {
  return new Rng(seed).fork(`init/${model}`);
}

/**
 * Mean loss and accuracy of `params` on the examples `[0, n)` of `ds`, in batches of `batch`.
 *
 * @example
 * ```ts
 * const { loss, accuracy } = await evaluateConvNet(spec, params, test, 1000, 500);
 * ```
 */
export async function evaluateConvNet(
  spec: ConvNetSpec,
  params: tf.Tensor[],
  ds: ImageDataset,
  n: number,
  batch: number,
): Promise<{ loss: number; accuracy: number }> {
  n = Math.min(n, ds.n);
  let lossSum = 0, correct = 0;
  for (let a = 0; a < n; a += batch) {
    const idx = Int32Array.from({ length: Math.min(batch, n - a) }, (_, i) => a + i);
    const { x, y } = convNetBatch(ds, idx);
    const stats = tf.tidy(() => {
      const s = convNetBatchStats(spec, params, x, y);
      return tf.stack([s.lossSum, s.correct]);
    });
    tf.dispose([x, y]);
    const v = await stats.data();
    stats.dispose();
    lossSum += v[0];
    correct += v[1];
  }
  return { loss: lossSum / n, accuracy: correct / n };
}

/** Options of {@link runConvNet}. */
export interface RunConvNetOptions {
  spec: ConvNetSpec;
  /** Any lopt optimizer (baseline or learned); its state is created and disposed by the inner loop. */
  optimizer: Optimizer;
  /** Name written to the tables (`momentum`, `rmsprop`, `adam`, `learned`). */
  optimizerName: string;
  learningRate: number | null;
  seed: number;
  train: ImageDataset;
  test: ImageDataset;
  protocol: CnnProtocol;
  /** Free text for the `note` column. */
  note?: string;
  /** Called after every step. */
  onStep?: (step: number) => void;
  signal?: AbortSignal;
}

/**
 * Trains one ConvNet run with the protocol of the module doc. Leaves no tensors behind.
 *
 * @example
 * ```ts
 * const rec = await runConvNet({ spec, optimizer, optimizerName: "adam", learningRate: 1e-3, seed: 0,
 *   train, test, protocol });
 * ```
 */
export async function runConvNet(o: RunConvNetOptions): Promise<CnnRunRecord> {
  const { spec, protocol: p, train, test } = o;
  const order = batchOrder(spec.name, o.seed, train.n, p.steps, p.batchSize);
  const evals: CnnEvalPoint[] = [];
  const rec = await trainProblem({
    problem: convNetProblem(spec, train, { batchSize: p.batchSize, l2: p.l2 }),
    optimizer: o.optimizer,
    steps: p.steps,
    rng: new Rng(o.seed),
    initRng: initRng(spec.name, o.seed),
    batches: (t) => convNetBatch(train, order[t]),
    fullEvery: p.evalEvery,
    evaluate: async (params, step) => {
      const tr = await evaluateConvNet(spec, params, train, p.trainEvalSize, p.evalBatch);
      const te = await evaluateConvNet(spec, params, test, p.testLimit, p.evalBatch);
      evals.push({ step, trainLoss: tr.loss, testLoss: te.loss, testAccuracy: te.accuracy });
      // A non-finite training-subset loss stops the run; a non-finite test loss does so after the first update.
      return step === 0 || Number.isFinite(te.loss) ? tr.loss : NaN;
    },
    evaluateAfterDivergence: false,
    lossAt: "params",
    onStep: (info) => o.onStep?.(info.step),
    signal: o.signal,
  });
  const last = evals[evals.length - 1];
  const finished = !rec.diverged && last.step === rec.minibatchLoss.length;
  return {
    model: spec.name,
    dataset: spec.dataset,
    optimizer: o.optimizerName,
    learningRate: o.learningRate,
    seed: o.seed,
    steps: p.steps,
    stepsRun: rec.minibatchLoss.length,
    minibatchLoss: Array.from(rec.minibatchLoss),
    evals,
    secondsPerStep: median(Array.from(rec.stepSeconds)),
    diverged: rec.diverged,
    finalTrainLoss: finished ? last.trainLoss : NaN,
    testLoss: finished ? last.testLoss : NaN,
    testAccuracy: finished ? last.testAccuracy : NaN,
    status: "ok",
    note: o.note ?? "",
  };
}

/**
 * A "not run" record (dataset missing): every measurement NULL, the reason in `note`.
 *
 * @example
 * ```ts
 * const rec = notRunRecord(convNetSpec("convnet_cifar10"), "adam", null, null, "CIFAR-10 not found");
 * ```
 */
export function notRunRecord(
  spec: ConvNetSpec,
  optimizer: string,
  learningRate: number | null,
  seed: number | null,
  reason: string,
): CnnRunRecord {
  return {
    model: spec.name,
    dataset: spec.dataset,
    optimizer,
    learningRate,
    seed: seed ?? -1,
    steps: 0,
    stepsRun: 0,
    minibatchLoss: [],
    evals: [],
    secondsPerStep: NaN,
    diverged: false,
    finalTrainLoss: NaN,
    testLoss: NaN,
    testAccuracy: NaN,
    status: "not run",
    note: reason,
  };
}
