/**
 * Stage `imagenet-transfer` (issue 6): the learned optimizer from `meta-train` trains the large ImageNet
 * ConvNets (Inception V3, ResNet V2) next to RMSProp and Adam at their standard ImageNet learning rates, and
 * the cost of each optimizer's update is measured at full network width.
 *
 * **Training runs.** For each network and optimizer: the same initial weights (the network's `seed`), the
 * same minibatches in the same order ({@link batchOrder}), `steps` training steps (`trainStep`: softmax
 * cross-entropy, batch norm in training mode). Per step: loss, wall seconds of the step (forward, backward,
 * update; data loading excluded), live tensor bytes (`tf.memory().numBytes`) and process RSS. A run that hits
 * a non-finite loss, or a loss above 100× its first, stops and is marked diverged. Baselines: RMSProp at
 * 0.045 (decay 0.9, ε 1.0, momentum `rmspropMomentum` — TF-slim's Inception training recipe) and Adam at
 * 1e-3, each also at every multiple in `lrMultipliers`.
 *
 * **Data.** Real ImageNet when `imagenetDir` is given (its default is env `LOPT_IMAGENET_DIR` read when the
 * pipeline starts, so it is part of the cache key), decoded lazily from the ILSVRC folder layout and
 * resized/center-cropped to the network's input. Otherwise the offline stand-in `mnist-rgb (stand-in)` (MNIST
 * digits resized and coloured, 10 classes, `tasks/imagenet/standin.ts`), named as such in every row, in the
 * log and in `summary.json` (`standIn: true`).
 *
 * **Overhead** (`overhead: true`): at `overheadWidth` (1 = the published networks, 1000 classes): one update
 * of each optimizer over all trainable weights (wasm: in parameter groups under `overheadGroupBudgetMiB`, see
 * `tasks/imagenet/overhead.ts`; the row says how many), the state bytes per parameter, and a whole training
 * step at the standard input (299 px Inception, 224 px ResNet) measured at `overheadStepBatch` and, when that
 * differs from `overheadTargetBatch`, extrapolated linearly with a label saying so in `step_basis`.
 *
 * @module
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { join } from "node:path";
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import type { BackendName } from "../lib/backend.ts";
import type { Optimizer } from "../lib/optimizer.ts";
import type { ImageBatchSource } from "../tasks/imagenet/standin.ts";
import type { StateTree, StepOptimizer } from "../tasks/imagenet/train_step.ts";
import type { StepTiming, UpdateTiming } from "../tasks/imagenet/overhead.ts";
import { loadLearnedOptimizer } from "../models/optimizers/learned_artifact.ts";
import { MAX_SEED } from "../lib/rng.ts";

/** Loads TensorFlow.js and everything built on it, on first use (the CLI starts without them). */
async function loadModules() {
  const [tf, backend, baselines, data, imagenet, inception, resnet, standin, step, overhead] = await Promise
    .all([
      import("@tensorflow/tfjs"),
      import("../lib/backend.ts"),
      import("../models/optimizers/baselines.ts"),
      import("../tasks/data/index.ts"),
      import("../tasks/data/imagenet.ts"),
      import("../tasks/imagenet/inception_v3.ts"),
      import("../tasks/imagenet/resnet_v2.ts"),
      import("../tasks/imagenet/standin.ts"),
      import("../tasks/imagenet/train_step.ts"),
      import("../tasks/imagenet/overhead.ts"),
    ]);
  return {
    tf,
    ...backend,
    ...baselines,
    ...data,
    ...imagenet,
    ...inception,
    ...resnet,
    ...standin,
    ...step,
    ...overhead,
  };
}

/** The lazily loaded modules (set at the start of `run`). */
let M: Awaited<ReturnType<typeof loadModules>>;

/** Networks the stage can train. */
export const NETWORKS = ["inception_v3", "resnet_v2"] as const;
/** Optimizers the stage compares. */
export const TRANSFER_OPTIMIZERS = ["learned", "rmsprop", "adam"] as const;

/** Standard ImageNet learning rate of RMSProp (Inception training: lr 0.045, decay 0.9, ε 1.0). */
export const RMSPROP_IMAGENET_LR = 0.045;
/** Standard learning rate of Adam. */
export const ADAM_IMAGENET_LR = 1e-3;

/**
 * A low estimate of the transient bytes per parameter of one learned-optimizer update (the paper configuration
 * measured 1.3–1.8 KB): above a quarter of the wasm heap at this rate, a training run measures the real figure
 * and refuses to start when the update would not fit the 4 GiB heap.
 */
export const LEARNED_UPDATE_BYTES_PER_PARAM = 1300;

/** Params of {@link imagenetTransfer}. */
export interface ImagenetTransferParams extends Record<string, unknown> {
  seed: number;
  networks: string[];
  optimizers: string[];
  lrMultipliers: number[];
  rmspropMomentum: number;
  steps: number;
  batchSize: number;
  widthMultiplier: number;
  inceptionInputSize: number;
  resnetInputSize: number;
  resnetDepth: number;
  imagenetDir: string;
  imagenetLimit: number;
  standInExamples: number;
  backend: string;
  overhead: boolean;
  overheadWidth: number;
  overheadStepBatch: number;
  overheadTargetBatch: number;
  overheadInceptionInput: number;
  overheadResnetInput: number;
  overheadResnetDepth: number;
  overheadRepeats: number;
  overheadGroupBudgetMiB: number;
}

/** One optimizer configuration of a comparison. */
export interface OptimizerRun {
  /** `learned`, `rmsprop` or `adam`. */
  name: string;
  /** Baseline learning rate (null: the learned optimizer). */
  learningRate: number | null;
  /** Every hyperparameter passed to `makeBaseline`. */
  hparams: Record<string, number | boolean>;
}

/** The optimizer configurations the params ask for, in the order they run. */
export function optimizerRuns(
  p: Pick<ImagenetTransferParams, "optimizers" | "lrMultipliers" | "rmspropMomentum">,
): OptimizerRun[] {
  const out: OptimizerRun[] = [];
  for (const name of p.optimizers) {
    if (name === "learned") {
      out.push({ name, learningRate: null, hparams: {} });
      continue;
    }
    for (const m of p.lrMultipliers) {
      if (name === "rmsprop") {
        const h = {
          learningRate: RMSPROP_IMAGENET_LR * m,
          decay: 0.9,
          epsilon: 1.0,
          momentum: p.rmspropMomentum,
        };
        out.push({ name, learningRate: h.learningRate, hparams: h });
      } else {
        const h = { learningRate: ADAM_IMAGENET_LR * m };
        out.push({ name, learningRate: h.learningRate, hparams: h });
      }
    }
  }
  return out;
}

/** Builds a network by stage name. */
function buildNetwork(
  network: string,
  o: { width: number; inputSize: number; numClasses: number; seed: number; resnetDepth: number },
): tfTypes.LayersModel {
  if (network === "inception_v3") {
    return M.inceptionV3({
      widthMultiplier: o.width,
      inputSize: o.inputSize,
      numClasses: o.numClasses,
      seed: o.seed,
    });
  }
  return M.resnetV2({
    depth: o.resnetDepth,
    widthMultiplier: o.width,
    inputSize: o.inputSize,
    numClasses: o.numClasses,
    seed: o.seed,
  });
}

/** Resolves the backend, turning a missing tfjs-node into a one-line, actionable stage error. */
async function setUpBackend(name: string): Promise<BackendName> {
  try {
    return await M.initBackend(name as BackendName);
  } catch (e) {
    throw new Error(`imagenet-transfer cannot use backend '${name}': ${(e as Error).message}`);
  }
}

/** The data source for one network (input size), real ImageNet or the stand-in. */
type SourceFactory = { dataset: string; standIn: boolean; forSize(size: number): ImageBatchSource };

async function openSource(p: ImagenetTransferParams, log: (m: string) => void): Promise<SourceFactory> {
  if (p.imagenetDir) {
    const lazy = await M.openDataset({
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
      forSize: (size) =>
        M.imageNetSource(new M.LazyImageDataset(lazy.index, size, Math.round(size * 256 / 224))),
    };
  }
  const mnist = await M.loadDataset({ kind: "mnist", split: "train", limit: p.standInExamples });
  log(
    `dataset: ${M.STANDIN_DATASET} — NOT ImageNet: ${mnist.n} MNIST digits resized and coloured to the input ` +
      `size (no imagenetDir / LOPT_IMAGENET_DIR given)`,
  );
  return {
    dataset: M.STANDIN_DATASET,
    standIn: true,
    forSize: (size) => M.mnistRgbSource(mnist, size, p.seed),
  };
}

/** Mean of the last tenth (at least one) of the losses: the reported final loss. */
function finalLoss(losses: number[]): number {
  if (losses.length === 0) return NaN;
  const k = Math.max(1, Math.floor(losses.length / 10));
  const tail = losses.slice(-k);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
}

function disposeTree(s: StateTree): void {
  M.tf.dispose(s as unknown as tfTypes.TensorContainer);
}

/** Summary of one training run (a row of `imagenet_runs`). */
type RunRow = Record<string, unknown>;

async function trainOne(
  ctx: StageContext<ImagenetTransferParams>,
  network: string,
  run: OptimizerRun,
  source: ImageBatchSource,
  order: Int32Array[],
  onStep: (label: string) => void = () => {},
): Promise<RunRow> {
  const p = ctx.params;
  const model = buildNetwork(network, {
    width: p.widthMultiplier,
    inputSize: source.size,
    numClasses: source.numClasses,
    seed: p.seed,
    resnetDepth: p.resnetDepth,
  });
  const params = M.countParams(model).trainable;
  let learned: Awaited<ReturnType<typeof loadLearnedOptimizer>> | null = null;
  let optimizer: Optimizer;
  if (run.name === "learned") {
    learned = await loadLearnedOptimizer(ctx.inputs["meta-train"].dir, p.seed);
    if (p.backend === "wasm" && params * (LEARNED_UPDATE_BYTES_PER_PARAM + 84) > 0.25 * M.WASM_HEAP_BYTES) {
      // Large enough to matter: measure the update's transient bytes per parameter on a slice and refuse
      // what would abort the 4 GiB wasm heap mid-run.
      // (A separate instance, so the run's own initial learning rates are drawn as without the check.)
      const pilot = await loadLearnedOptimizer(ctx.inputs["meta-train"].dir, p.seed);
      const vars = M.trainableVariables(model);
      const perParam = await M.updatePeakBytesPerParam(pilot.optimizer, vars, 262_144, p.seed).finally(() =>
        pilot.dispose()
      ) + 84 + 4;
      if (params * perParam > 0.8 * M.WASM_HEAP_BYTES) {
        learned.dispose();
        model.dispose();
        throw new Error(
          `${network} at width ${p.widthMultiplier} has ${params} parameters: one learned-optimizer update needs ` +
            `about ${
              (params * perParam / 2 ** 30).toFixed(1)
            } GiB, more than the wasm backend's 4 GiB heap ` +
            "allows. Use --set imagenet-transfer.backend=tensorflow (tfjs-node) or a smaller widthMultiplier.",
        );
      }
    }
    optimizer = learned.optimizer;
  } else {
    optimizer = M.makeBaseline(run.name, run.hparams);
  }
  const opt = optimizer as unknown as StepOptimizer<StateTree>;
  let state = M.initOptimizerState(model, opt);
  const losses: number[] = [];
  const seconds: number[] = [];
  let peakBytes = M.tf.memory().numBytes;
  let peakRss = Deno.memoryUsage().rss;
  let diverged = false;
  const curve: Record<string, unknown>[] = [];
  const label = `${network}/${run.name}${run.learningRate === null ? "" : `@${run.learningRate}`}`;
  try {
    for (let s = 0; s < order.length; s++) {
      if (ctx.signal.aborted) throw new Error("interrupted");
      if (s > 0) onStep(label);
      const { x, y } = await source.batch(order[s]);
      let r;
      try {
        r = await M.trainStep(model, opt, state, x, y);
      } finally {
        M.tf.dispose([x, y]);
      }
      state = r.state;
      const bytes = M.tf.memory().numBytes;
      const rss = Deno.memoryUsage().rss;
      peakBytes = Math.max(peakBytes, bytes);
      peakRss = Math.max(peakRss, rss);
      losses.push(r.loss);
      seconds.push(r.stepMs / 1000);
      curve.push({
        network,
        dataset: source.dataset,
        optimizer: run.name,
        learning_rate: run.learningRate,
        seed: p.seed,
        step: s,
        loss: Number.isFinite(r.loss) ? r.loss : null,
        seconds: r.stepMs / 1000,
        tensor_bytes: bytes,
        rss_bytes: rss,
      });
      if (!r.applied || r.loss > 100 * Math.max(losses[0], 1)) {
        diverged = true;
        ctx.log(`${label}: diverged at step ${s} (loss ${r.loss})`);
        break;
      }
    }
  } finally {
    disposeTree(state);
    model.dispose();
    learned?.dispose();
  }
  await ctx.writeRows("imagenet_curves", curve);
  // The first step includes one-off set-up (kernel compilation, heap growth): leave it out of the mean.
  const timed = seconds.length > 1 ? seconds.slice(1) : seconds;
  const row: RunRow = {
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
    diverged,
  };
  ctx.log(
    `${label} on ${source.dataset}: ${losses.length} steps, loss ${row.first_loss} -> ${row.final_loss}, ` +
      `${(row.seconds_per_step as number).toFixed(3)} s/step${diverged ? " (DIVERGED)" : ""}`,
  );
  await ctx.writeRows("imagenet_runs", [row]);
  return row;
}

/** The overhead rows of one network. */
async function overheadOf(
  ctx: StageContext<ImagenetTransferParams>,
  network: string,
  backend: string,
): Promise<Record<string, unknown>[]> {
  const p = ctx.params;
  const inputSize = network === "inception_v3" ? p.overheadInceptionInput : p.overheadResnetInput;
  const build = () =>
    buildNetwork(network, {
      width: p.overheadWidth,
      inputSize,
      numClasses: 1000,
      seed: p.seed,
      resnetDepth: p.overheadResnetDepth,
    });
  const t0 = performance.now();
  const model = build();
  const rows: Record<string, unknown>[] = [];
  let learned: Awaited<ReturnType<typeof loadLearnedOptimizer>> | null = null;
  try {
    const params = M.countParams(model).trainable;
    const adamStep = M.makeBaseline("adam", { learningRate: ADAM_IMAGENET_LR }) as unknown as StepOptimizer<
      StateTree
    >;
    // Batch actually measured: the asked one, unless (wasm) a batch-1 probe says it cannot fit the heap.
    let batch = p.overheadStepBatch;
    if (backend === "wasm" && batch > 1) {
      const base = M.tf.memory().numBytes;
      const probe = await M.timeTrainStep(model, adamStep, 1, 0, p.seed);
      const perImage = Math.max(1, probe.peakBytes - base);
      const fits = Math.max(1, Math.floor((0.75 * M.WASM_HEAP_BYTES - base) / perImage));
      if (fits < batch) {
        ctx.log(
          `${network}: a batch-${batch} step at ${inputSize} px needs about ${
            (base + batch * perImage) / 2 ** 30
          } ` +
            `GiB on wasm (4 GiB heap); measuring batch ${fits} and extrapolating`,
        );
        batch = fits;
      }
    }
    const step: StepTiming = await M.timeTrainStep(model, adamStep, batch, p.overheadRepeats, p.seed);
    const grad = M.gradMsAtBatch(step, p.overheadTargetBatch);
    ctx.log(
      `${network} (width ${p.overheadWidth}, ${params} params): forward+backward ${
        step.gradMs.toFixed(0)
      } ms at ` +
        `batch ${batch}, ${inputSize} px -> ${grad.gradMs.toFixed(0)} ms (${grad.basis})`,
    );

    const vars = M.trainableVariables(model);
    const sizes = vars.map((v) => v.size);
    const opts: { name: string; lr: number | null; opt: StepOptimizer<StateTree> }[] = [
      { name: "adam", lr: ADAM_IMAGENET_LR, opt: adamStep },
      {
        name: "rmsprop",
        lr: RMSPROP_IMAGENET_LR,
        opt: M.makeBaseline("rmsprop", {
          learningRate: RMSPROP_IMAGENET_LR,
          decay: 0.9,
          epsilon: 1.0,
          momentum: p.rmspropMomentum,
        }) as unknown as StepOptimizer<StateTree>,
      },
    ];
    if (p.optimizers.includes("learned")) {
      learned = await loadLearnedOptimizer(ctx.inputs["meta-train"].dir, p.seed);
      opts.push({ name: "learned", lr: null, opt: learned.optimizer as unknown as StepOptimizer<StateTree> });
    }
    // Transient memory of each update (pilot on the leading tensors; also warms up each optimizer).
    const peakPerParam: Record<string, number> = {};
    for (const o of opts) {
      peakPerParam[o.name] = await M.updatePeakBytesPerParam(o.opt, vars, 262_144, p.seed);
    }
    const worst = Math.max(...Object.values(peakPerParam));
    const total = sizes.reduce((a, b) => a + b, 0);
    const cap = backend === "wasm"
      ? M.maxGroupParams(p.overheadGroupBudgetMiB * 2 ** 20, worst, 100)
      : Infinity;
    const sliced = cap >= total ? { params: vars, created: [], split: 0 } : M.sliceLargeTensors(vars, cap);
    const timedVars = sliced.params;
    const groups = M.planGroups(timedVars.map((v) => v.size), cap >= total ? Infinity : cap);
    const method = groups.length === 1
      ? "one call over all tensors"
      : `${groups.length} groups of <= ${cap} params (wasm 4 GiB heap; summed)` +
        (sliced.split > 0 ? `; ${sliced.split} larger tensors timed as 1-D slices` : "");
    ctx.log(`${network}: update transient bytes/param ${JSON.stringify(peakPerParam)}; ${method}`);

    const timings: Record<string, UpdateTiming> = {};
    for (const o of opts) {
      timings[o.name] = await M.timeUpdate(o.opt, timedVars, groups, p.seed);
      ctx.log(`${network}/${o.name}: update ${timings[o.name].updateMs.toFixed(1)} ms`);
    }
    M.tf.dispose(sliced.created);
    const adamMs = timings.adam.updateMs;
    for (const o of opts) {
      const t = timings[o.name];
      const stepMs = grad.gradMs + t.updateMs;
      rows.push({
        network,
        backend,
        optimizer: o.name,
        learning_rate: o.lr,
        width: p.overheadWidth,
        params,
        update_ms: t.updateMs,
        update_ratio_vs_adam: t.updateMs / adamMs,
        state_bytes_per_param: t.stateBytesPerParam,
        update_peak_bytes_per_param: peakPerParam[o.name],
        update_groups: t.groups,
        update_method: method,
        step_ms: stepMs,
        forward_backward_ms: grad.gradMs,
        step_batch: p.overheadTargetBatch,
        step_input: inputSize,
        step_measured_batch: batch,
        step_basis: grad.basis,
        update_share: t.updateMs / stepMs,
      });
    }
  } finally {
    model.dispose();
    learned?.dispose();
  }
  ctx.log(`${network}: overhead measured in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await ctx.writeRows("imagenet_overhead", rows);
  return rows;
}

/** ResNet V2 depths the networks are built for (the keys of `RESNET_V2_BLOCKS` in tasks/imagenet/resnet_v2.ts). */
export const RESNET_DEPTHS: readonly number[] = [14, 26, 50, 101, 152, 200];

/** What is wrong with a ResNet depth param, or null. */
function checkResnetDepth(v: unknown): string | null {
  return RESNET_DEPTHS.includes(v as number) ? null : `no ResNet V2 of depth ${v}`;
}

/** What is wrong with an `imagenetDir` param (empty, or an existing folder), or null. */
function checkImagenetDir(v: unknown): string | null {
  if (v === "") return null;
  try {
    if (Deno.statSync(v as string).isDirectory) return null;
    return "not a folder";
  } catch (e) {
    return e instanceof Deno.errors.NotFound
      ? "no such folder (point it, or LOPT_IMAGENET_DIR, at an ILSVRC-2012 folder; empty: the stand-in)"
      : `cannot be read (${(e as Error).message})`;
  }
}

/** Default of `imagenetDir`: env LOPT_IMAGENET_DIR when set (read when the stage module loads). */
function envImagenetDir(): string {
  try {
    return Deno.env.get("LOPT_IMAGENET_DIR") ?? "";
  } catch {
    return "";
  }
}

/** The `imagenet-transfer` stage. */
export const imagenetTransfer = defineStage<ImagenetTransferParams>({
  name: "imagenet-transfer",
  description:
    "Learned optimizer vs RMSProp/Adam on Inception V3 and ResNet V2; update overhead at full width",
  deps: ["meta-train"],
  // 2: the learned optimizer runs the fused WebAssembly kernel at evaluation (same results to float32
  // rounding, faster: seconds-per-step columns change). 3: its native x86-64 build where that loads (again
  // float32 rounding — FMA — and faster).
  version: "3",
  params: {
    seed: {
      type: "integer",
      default: 0,
      min: 0,
      max: MAX_SEED,
      description: "seed of the weights, data order and learned-optimizer init",
    },
    networks: {
      type: "string[]",
      default: [...NETWORKS],
      choices: NETWORKS,
      maxItems: NETWORKS.length,
      description: "networks to train and measure",
    },
    optimizers: {
      type: "string[]",
      default: [...TRANSFER_OPTIMIZERS],
      choices: TRANSFER_OPTIMIZERS,
      maxItems: TRANSFER_OPTIMIZERS.length,
      description: "optimizers to compare (learned = the meta-train artifact's hrnn.weights)",
    },
    lrMultipliers: {
      type: "number[]",
      default: [1],
      min: 0.001,
      max: 1000,
      maxItems: 20,
      description: "baselines run at each multiple of their standard rate (RMSProp 0.045, Adam 1e-3)",
    },
    rmspropMomentum: {
      type: "number",
      default: 0.9,
      min: 0,
      max: 0.999,
      description: "RMSProp momentum (TF-slim Inception training: 0.9)",
    },
    steps: { type: "integer", default: 100, min: 1, max: 100_000, description: "training steps per run" },
    batchSize: { type: "integer", default: 16, min: 1, max: 256, description: "training minibatch size" },
    widthMultiplier: {
      type: "number",
      default: 0.25,
      min: 0.01,
      max: 1,
      description: "channel-depth multiplier of the trained networks (1 = published)",
    },
    inceptionInputSize: {
      type: "integer",
      default: 75,
      min: 75,
      max: 299,
      description: "Inception V3 training input size in px (published 299)",
    },
    resnetInputSize: {
      type: "integer",
      default: 32,
      min: 8,
      max: 224,
      description: "ResNet V2 training input size in px (published 224)",
    },
    resnetDepth: {
      type: "integer",
      default: 26,
      min: 14,
      max: 200,
      range: `one of ${RESNET_DEPTHS.join(", ")}`,
      check: checkResnetDepth,
      description: "ResNet V2 depth: 14, 26, 50, 101, 152 or 200 (paper: 50)",
    },
    imagenetDir: {
      type: "string",
      default: envImagenetDir(),
      range: "an existing folder, or empty",
      check: checkImagenetDir,
      description:
        "ILSVRC-2012 folder (train/<wnid>/*.JPEG); empty: the mnist-rgb stand-in (default: env LOPT_IMAGENET_DIR)",
    },
    imagenetLimit: {
      type: "integer",
      default: 0,
      min: 0,
      max: 1_281_167,
      description: "use at most this many ImageNet training images, round-robin over classes (0: all)",
    },
    standInExamples: {
      type: "integer",
      default: 60000,
      min: 1,
      max: 60000,
      description: "MNIST training digits used by the stand-in",
    },
    backend: {
      type: "string",
      default: "wasm",
      choices: ["wasm", "cpu", "tensorflow", "webgpu"],
      description:
        "tfjs backend: wasm, webgpu (the machine's WebGPU adapter), tensorflow (needs tfjs-node / tfjs-node-gpu installed), or cpu",
    },
    overhead: {
      type: "boolean",
      default: true,
      description: "measure the update overhead (imagenet_overhead)",
    },
    overheadWidth: {
      type: "number",
      default: 1,
      min: 0.01,
      max: 1,
      description: "width of the networks for the overhead measurement (1 = published)",
    },
    overheadStepBatch: {
      type: "integer",
      default: 1,
      min: 1,
      max: 256,
      description: "batch of the measured training step (extrapolated to overheadTargetBatch when smaller)",
    },
    overheadTargetBatch: {
      type: "integer",
      default: 32,
      min: 1,
      max: 4096,
      description: "batch of the training step the update is compared with",
    },
    overheadInceptionInput: {
      type: "integer",
      default: 299,
      min: 75,
      max: 299,
      description: "Inception V3 input size for the step time",
    },
    overheadResnetInput: {
      type: "integer",
      default: 224,
      min: 8,
      max: 224,
      description: "ResNet V2 input size for the step time",
    },
    overheadResnetDepth: {
      type: "integer",
      default: 50,
      min: 14,
      max: 200,
      range: `one of ${RESNET_DEPTHS.join(", ")}`,
      check: checkResnetDepth,
      description: "ResNet V2 depth for the overhead measurement (published: 50)",
    },
    overheadRepeats: {
      type: "integer",
      default: 1,
      min: 1,
      max: 100,
      description: "timed training steps (median)",
    },
    overheadGroupBudgetMiB: {
      type: "integer",
      default: 2048,
      min: 1,
      max: 3072,
      description: "wasm: MiB one grouped update may use (state + temporaries; the wasm heap is 4 GiB)",
    },
  },
  profiles: {
    smoke: {
      steps: 2,
      batchSize: 2,
      widthMultiplier: 0.05,
      resnetDepth: 14,
      resnetInputSize: 16,
      standInExamples: 64,
      overheadWidth: 0.05,
      overheadInceptionInput: 75,
      overheadResnetInput: 16,
      overheadResnetDepth: 14,
      // Tiny, so that the smoke run exercises grouped updates (the fused learned update needs little memory).
      overheadGroupBudgetMiB: 2,
    },
    // A few hundred steps at reduced width: about 14 minutes on one core of the 2-core machines.
    default: { steps: 200 },
    paper: {
      steps: 5000,
      batchSize: 32,
      widthMultiplier: 1,
      inceptionInputSize: 299,
      resnetInputSize: 224,
      resnetDepth: 50,
      lrMultipliers: [0.3, 1, 3],
      overheadStepBatch: 32,
      overheadRepeats: 3,
      backend: "tensorflow",
    },
    // The GPU profile: the published networks at full width and input size, batch 32, thousands of steps, on
    // the machine's WebGPU adapter; the step time is measured at batch 32 (step_basis says "measured").
    gpu: {
      steps: 5000,
      batchSize: 32,
      widthMultiplier: 1,
      inceptionInputSize: 299,
      resnetInputSize: 224,
      resnetDepth: 50,
      overheadStepBatch: 32,
      overheadRepeats: 3,
      backend: "webgpu",
    },
  },
  tables: [
    {
      name: "imagenet_runs",
      description: "one row per training run (network × optimizer × learning rate); dataset names stand-ins",
      columns: [
        { name: "network", type: "VARCHAR", description: "inception_v3 | resnet_v2" },
        { name: "dataset", type: "VARCHAR", description: "imagenet | mnist-rgb (stand-in)" },
        { name: "optimizer", type: "VARCHAR", description: "learned | rmsprop | adam" },
        { name: "learning_rate", type: "DOUBLE", description: "baseline learning rate (NULL: learned)" },
        { name: "hparams", type: "JSON", description: "every optimizer hyperparameter" },
        { name: "seed", type: "INTEGER", description: "init + data-order seed" },
        { name: "width", type: "DOUBLE", description: "channel-depth multiplier" },
        { name: "input_size", type: "INTEGER", description: "input side in px" },
        { name: "batch_size", type: "INTEGER", description: "training batch size" },
        { name: "params", type: "BIGINT", description: "trainable parameters" },
        { name: "steps", type: "INTEGER", description: "steps run (fewer than asked when diverged)" },
        { name: "first_loss", type: "DOUBLE", description: "training loss of the first batch" },
        {
          name: "final_loss",
          type: "DOUBLE",
          description: "mean training loss of the last tenth of the steps",
        },
        {
          name: "seconds_per_step",
          type: "DOUBLE",
          description: "mean step wall time excluding the first step",
        },
        { name: "peak_bytes", type: "BIGINT", description: "largest tf.memory().numBytes seen after a step" },
        {
          name: "peak_rss_bytes",
          type: "BIGINT",
          description: "largest Deno.memoryUsage().rss seen after a step",
        },
        { name: "diverged", type: "BOOLEAN", description: "non-finite loss or loss > 100x the first" },
      ],
    },
    {
      name: "imagenet_curves",
      description: "per-step training loss, time and memory of every run",
      columns: [
        { name: "network", type: "VARCHAR", description: "inception_v3 | resnet_v2" },
        { name: "dataset", type: "VARCHAR", description: "imagenet | mnist-rgb (stand-in)" },
        { name: "optimizer", type: "VARCHAR", description: "learned | rmsprop | adam" },
        { name: "learning_rate", type: "DOUBLE", description: "baseline learning rate (NULL: learned)" },
        { name: "seed", type: "INTEGER", description: "init + data-order seed" },
        { name: "step", type: "INTEGER", description: "training step (0-based)" },
        {
          name: "loss",
          type: "DOUBLE",
          description: "minibatch loss before the step's update (NULL: not finite)",
        },
        { name: "seconds", type: "DOUBLE", description: "step wall time (forward, backward, update)" },
        { name: "tensor_bytes", type: "BIGINT", description: "tf.memory().numBytes after the step" },
        { name: "rss_bytes", type: "BIGINT", description: "Deno.memoryUsage().rss after the step" },
      ],
    },
    {
      name: "imagenet_overhead",
      description:
        "cost of one optimizer update vs a whole training step (see step_basis for how it was measured)",
      columns: [
        { name: "network", type: "VARCHAR", description: "inception_v3 | resnet_v2" },
        { name: "backend", type: "VARCHAR", description: "tfjs backend the update ran on" },
        { name: "optimizer", type: "VARCHAR", description: "learned | rmsprop | adam" },
        { name: "learning_rate", type: "DOUBLE", description: "baseline learning rate (NULL: learned)" },
        { name: "width", type: "DOUBLE", description: "channel-depth multiplier (1 = published network)" },
        { name: "params", type: "BIGINT", description: "trainable parameters (1000 classes)" },
        { name: "update_ms", type: "DOUBLE", description: "one update over all trainable weights" },
        {
          name: "update_ratio_vs_adam",
          type: "DOUBLE",
          description: "update_ms / Adam's update_ms on the same weights",
        },
        {
          name: "state_bytes_per_param",
          type: "DOUBLE",
          description: "optimizer state kept between steps, bytes per parameter",
        },
        { name: "update_peak_bytes_per_param", type: "DOUBLE", description: "transient memory of an update" },
        { name: "update_groups", type: "INTEGER", description: "groups the update ran in (1: one call)" },
        {
          name: "update_method",
          type: "VARCHAR",
          description: "how the update was timed (one call, or groups/slices and why)",
        },
        { name: "step_ms", type: "DOUBLE", description: "forward+backward at step_batch plus this update" },
        { name: "forward_backward_ms", type: "DOUBLE", description: "forward + backward pass at step_batch" },
        { name: "step_batch", type: "INTEGER", description: "batch the step time refers to" },
        { name: "step_input", type: "INTEGER", description: "input px of the step" },
        { name: "step_measured_batch", type: "INTEGER", description: "batch actually run" },
        { name: "step_basis", type: "VARCHAR", description: "measured or EXTRAPOLATED, and from what" },
        { name: "update_share", type: "DOUBLE", description: "update_ms / step_ms" },
      ],
    },
  ],
  async run(ctx) {
    const p = ctx.params;
    const t0 = performance.now();
    M = await loadModules();
    const backend = await setUpBackend(p.backend);
    ctx.log(`backend: ${M.backendDescription() ?? backend}`);
    if (backend === "wasm") ctx.log((await import("../models/hrnn/native.ts")).describeFusedEngine());
    const source = await openSource(p, (m) => ctx.log(m));
    const learnedDir = ctx.inputs["meta-train"]?.dir;
    let provenance: unknown = null;
    if (p.optimizers.includes("learned")) {
      if (!learnedDir) {
        throw new Error("imagenet-transfer needs the meta-train artifact for the learned optimizer.");
      }
      const l = await loadLearnedOptimizer(learnedDir, p.seed);
      provenance = l.provenance;
      l.dispose();
      const prov = l.provenance;
      ctx.log(
        `learned optimizer: ${join(learnedDir, "hrnn.weights")} (profile ${
          prov.profile ?? "?"
        }, meta-train ` +
          `${prov.cacheKey ?? "?"}, ${prov.metaTraining?.metaSteps ?? "?"} meta-steps${
            prov.standIn ? ", STAND-IN weights" : ""
          })`,
      );
    }
    const runs = optimizerRuns(p);
    // Progress in training steps; each overhead measurement counts as as many units as one training run.
    const total = p.networks.length * runs.length * p.steps + (p.overhead ? p.networks.length * p.steps : 0);
    let done = 0;
    const runRows: RunRow[] = [];
    for (const network of p.networks) {
      const size = network === "inception_v3" ? p.inceptionInputSize : p.resnetInputSize;
      const src = source.forSize(size);
      const order = M.batchOrder(src.n, p.batchSize, p.steps, p.seed);
      for (const run of runs) {
        const before = done;
        ctx.progress(done, total, `${network}/${run.name}`);
        runRows.push(
          await trainOne(ctx, network, run, src, order, (label) => ctx.progress(++done, total, label)),
        );
        done = before + p.steps;
      }
    }
    const overheadRows: Record<string, unknown>[] = [];
    if (p.overhead) {
      for (const network of p.networks) {
        ctx.progress(done, total, `${network} overhead`);
        overheadRows.push(...await overheadOf(ctx, network, M.backendDescription() ?? backend));
        done += p.steps;
      }
    }
    ctx.progress(total, total, "done");
    const seconds = (performance.now() - t0) / 1000;
    await Deno.writeTextFile(
      join(ctx.outDir, "summary.json"),
      JSON.stringify(
        {
          stage: "imagenet-transfer",
          dataset: source.dataset,
          standIn: source.standIn,
          note: source.standIn
            ? `${M.STANDIN_DATASET}: MNIST digits resized and coloured; NOT ImageNet (no imagenetDir given)`
            : "ImageNet (ILSVRC-2012 folder layout)",
          backend,
          profile: ctx.profile,
          learnedOptimizer: provenance,
          runs: runRows,
          overhead: overheadRows,
          seconds,
        },
        null,
        1,
      ),
    );
    ctx.log(`done in ${seconds.toFixed(1)} s (${M.tf.memory().numTensors} tensors alive)`);
  },
});
