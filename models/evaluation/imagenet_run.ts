/**
 * One training run of the ImageNet transfer experiment on the shared inner loop (`models/inner_loop.ts`):
 * network × optimizer configuration, the same initial weights (the network's `seed`) and the same minibatches
 * in the same order for every optimizer, `steps` steps of softmax cross-entropy with batch norm in training
 * mode (`tasks/imagenet/classifier_problem.ts`). Per step: loss, wall seconds (forward, backward, update;
 * data loading excluded), live tensor bytes (`tf.memory().numBytes`) and process RSS. A non-finite loss, or a
 * loss above 100× max(first, 1), stops the run as diverged.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import type { Optimizer } from "../../lib/optimizer.ts";
import { LEARNED_OPTIMIZER_NAME } from "../../lib/optimizer.ts";
import { trainProblem } from "../inner_loop.ts";
import { makeBaseline } from "../optimizers/baselines.ts";
import { loadDataset, openDataset } from "../../tasks/data/index.ts";
import { LazyImageDataset } from "../../tasks/data/imagenet.ts";
import { inceptionV3 } from "../../tasks/imagenet/inception_v3.ts";
import { resnetV2 } from "../../tasks/imagenet/resnet_v2.ts";
import {
  type ImageBatchSource,
  imageNetSource,
  mnistRgbSource,
  STANDIN_DATASET,
} from "../../tasks/imagenet/standin.ts";
import {
  classifierProblem,
  countParams,
  trainableVariables,
} from "../../tasks/imagenet/classifier_problem.ts";
import { updatePeakBytesPerParam, WASM_HEAP_BYTES } from "../../tasks/imagenet/overhead.ts";
import {
  type ImagenetTransferParams,
  LEARNED_UPDATE_BYTES_PER_PARAM,
  type OptimizerRun,
} from "./imagenet_config.ts";
import type { ResultSink } from "./result_sink.ts";
import type { WeightsProvenance } from "../hrnn/weights_file.ts";

/** A learned optimizer as the experiment needs it: the optimizer, where its weights came from, how to free it. */
export interface LearnedHandle {
  optimizer: Optimizer;
  provenance: WeightsProvenance;
  dispose(): void;
}

/** Loads the learned optimizer with the evaluation seed (a fresh instance per call). */
export type LoadLearned = (seed: number) => Promise<LearnedHandle>;

/** How a network is built. */
export interface NetworkOptions {
  width: number;
  inputSize: number;
  numClasses: number;
  seed: number;
  resnetDepth: number;
}

/**
 * Builds a network by stage name (`inception_v3` or `resnet_v2`).
 *
 * @example
 * ```ts
 * const model = buildNetwork("resnet_v2", { width: 0.25, inputSize: 32, numClasses: 10, seed: 0, resnetDepth: 26 });
 * ```
 */
export function buildNetwork(network: string, o: NetworkOptions): tf.LayersModel {
  if (network === "inception_v3") {
    return inceptionV3({
      widthMultiplier: o.width,
      inputSize: o.inputSize,
      numClasses: o.numClasses,
      seed: o.seed,
    });
  }
  return resnetV2({
    depth: o.resnetDepth,
    widthMultiplier: o.width,
    inputSize: o.inputSize,
    numClasses: o.numClasses,
    seed: o.seed,
  });
}

/** The data source for one network (input size), real ImageNet or the stand-in. */
export interface SourceFactory {
  dataset: string;
  standIn: boolean;
  forSize(size: number): ImageBatchSource;
}

/**
 * Opens real ImageNet when `imagenetDir` is given, otherwise the offline stand-in (MNIST digits resized and
 * coloured), and logs which.
 *
 * @example
 * ```ts
 * const source = await openSource(params, console.log);
 * const src = source.forSize(75);
 * ```
 */
export async function openSource(
  p: Pick<ImagenetTransferParams, "imagenetDir" | "imagenetLimit" | "standInExamples" | "seed">,
  log: (m: string) => void,
): Promise<SourceFactory> {
  if (p.imagenetDir) {
    const lazy = await openDataset({
      kind: "imagenet",
      split: "train",
      dir: p.imagenetDir,
      limit: p.imagenetLimit > 0 ? p.imagenetLimit : undefined,
    });
    log(`dataset: imagenet from ${p.imagenetDir} (${lazy.n} training images, ${lazy.numClasses} classes)`);
    return {
      dataset: "imagenet",
      standIn: false,
      // Resize the shorter side to size·256/224 and take the central crop (the standard evaluation crop).
      forSize: (size) => imageNetSource(new LazyImageDataset(lazy.index, size, Math.round(size * 256 / 224))),
    };
  }
  const mnist = await loadDataset({ kind: "mnist", split: "train", limit: p.standInExamples });
  log(
    `dataset: ${STANDIN_DATASET} — NOT ImageNet: ${mnist.n} MNIST digits resized and coloured to the input ` +
      `size (no imagenetDir / LOPT_IMAGENET_DIR given)`,
  );
  return { dataset: STANDIN_DATASET, standIn: true, forSize: (size) => mnistRgbSource(mnist, size, p.seed) };
}

/** Mean of the last tenth (at least one) of the losses: the reported final loss. */
function finalLoss(losses: number[]): number {
  if (losses.length === 0) return NaN;
  const k = Math.max(1, Math.floor(losses.length / 10));
  const tail = losses.slice(-k);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
}

/** What {@link runImagenetTraining} needs besides the run itself. */
export interface ImagenetRunContext {
  params: ImagenetTransferParams;
  sink: ResultSink;
  /** The learned optimizer's loader (only called for the learned run). */
  loadLearned: LoadLearned;
  signal?: AbortSignal;
}

/**
 * Refuses (throws) a learned-optimizer run whose update would not fit the 4 GiB wasm heap: above a quarter of
 * the heap at {@link LEARNED_UPDATE_BYTES_PER_PARAM}, the update's transient bytes per parameter are measured
 * on a slice with a separate instance (so the run's own initial learning rates are drawn as without the check).
 */
async function checkLearnedFits(
  c: ImagenetRunContext,
  network: string,
  model: tf.LayersModel,
): Promise<void> {
  const p = c.params;
  const params = countParams(model).trainable;
  if (p.backend !== "wasm" || params * (LEARNED_UPDATE_BYTES_PER_PARAM + 84) <= 0.25 * WASM_HEAP_BYTES) {
    return;
  }
  const pilot = await c.loadLearned(p.seed);
  const perParam = await updatePeakBytesPerParam(pilot.optimizer, trainableVariables(model), 262_144, p.seed)
    .finally(() => pilot.dispose()) + 84 + 4;
  if (params * perParam > 0.8 * WASM_HEAP_BYTES) {
    throw new Error(
      `${network} at width ${p.widthMultiplier} has ${params} parameters: one learned-optimizer update needs ` +
        `about ${(params * perParam / 2 ** 30).toFixed(1)} GiB, more than the wasm backend's 4 GiB heap ` +
        "allows. Use --set imagenet-transfer.backend=tensorflow (tfjs-node) or a smaller widthMultiplier.",
    );
  }
}

/**
 * Trains `network` with one optimizer configuration on `source` in the minibatch `order`, writes its rows to
 * `imagenet_curves` and `imagenet_runs`, and returns the run row.
 *
 * @example
 * ```ts
 * const row = await runImagenetTraining(c, "resnet_v2", run, src, batchOrder(src.n, 16, 100, 0));
 * ```
 */
export async function runImagenetTraining(
  c: ImagenetRunContext,
  network: string,
  run: OptimizerRun,
  source: ImageBatchSource,
  order: Int32Array[],
  onStep: (label: string) => void = () => {},
): Promise<Record<string, unknown>> {
  const p = c.params;
  const model = buildNetwork(network, {
    width: p.widthMultiplier,
    inputSize: source.size,
    numClasses: source.numClasses,
    seed: p.seed,
    resnetDepth: p.resnetDepth,
  });
  const params = countParams(model).trainable;
  let learned: LearnedHandle | null = null;
  const curve: Record<string, unknown>[] = [];
  const label = `${network}/${run.name}${run.learningRate === null ? "" : `@${run.learningRate}`}`;
  let peakBytes = tf.memory().numBytes;
  let peakRss = Deno.memoryUsage().rss;
  let rec;
  try {
    let optimizer: Optimizer;
    if (run.name === LEARNED_OPTIMIZER_NAME) {
      learned = await c.loadLearned(p.seed);
      await checkLearnedFits(c, network, model);
      optimizer = learned.optimizer;
    } else {
      optimizer = makeBaseline(run.name, run.hparams);
    }
    rec = await trainProblem({
      problem: classifierProblem(model, source),
      optimizer,
      steps: order.length,
      rng: new Rng(p.seed),
      batches: (s) => source.batch(order[s]),
      evaluate: null,
      lossAt: "params",
      divergenceFactor: 100,
      signal: c.signal,
      onStep: (info) => {
        if (info.step + 1 < order.length && !info.diverged) onStep(label);
        const bytes = tf.memory().numBytes;
        const rss = Deno.memoryUsage().rss;
        peakBytes = Math.max(peakBytes, bytes);
        peakRss = Math.max(peakRss, rss);
        curve.push({
          network,
          dataset: source.dataset,
          optimizer: run.name,
          learning_rate: run.learningRate,
          seed: p.seed,
          step: info.step,
          loss: Number.isFinite(info.minibatchLoss) ? info.minibatchLoss : null,
          seconds: info.seconds,
          tensor_bytes: bytes,
          rss_bytes: rss,
        });
      },
    });
  } finally {
    model.dispose();
    learned?.dispose();
  }
  const losses = Array.from(rec.minibatchLoss);
  if (rec.diverged) {
    c.sink.log(`${label}: diverged at step ${losses.length - 1} (loss ${losses[losses.length - 1]})`);
  }
  await c.sink.writeRows("imagenet_curves", curve);
  // The first step includes one-off set-up (kernel compilation, heap growth): leave it out of the mean.
  const seconds = Array.from(rec.stepSeconds);
  const timed = seconds.length > 1 ? seconds.slice(1) : seconds;
  const row: Record<string, unknown> = {
    network,
    dataset: source.dataset,
    optimizer: run.name,
    learning_rate: run.learningRate,
    hparams: run.hparams,
    seed: p.seed,
    width: p.widthMultiplier,
    input_size: source.size,
    batch_size: p.batchSize,
    params,
    steps: losses.length,
    first_loss: Number.isFinite(losses[0]) ? losses[0] : null,
    final_loss: Number.isFinite(finalLoss(losses)) ? finalLoss(losses) : null,
    seconds_per_step: timed.reduce((a, b) => a + b, 0) / Math.max(1, timed.length),
    peak_bytes: peakBytes,
    peak_rss_bytes: peakRss,
    diverged: rec.diverged,
  };
  c.sink.log(
    `${label} on ${source.dataset}: ${losses.length} steps, loss ${row.first_loss} -> ${row.final_loss}, ` +
      `${(row.seconds_per_step as number).toFixed(3)} s/step${rec.diverged ? " (DIVERGED)" : ""}`,
  );
  await c.sink.writeRows("imagenet_runs", [row]);
  return row;
}
