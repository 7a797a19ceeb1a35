/**
 * Benchmarks of a ConvNet training step with the learned optimizer against Adam (issue 5; target: learned step
 * ≤ 1.15x the Adam step), on the wasm backend with lopt's kernels, on the MNIST ConvNet of `tasks/convnets.ts`
 * (64,402 parameters) and a real MNIST minibatch of 64.
 *
 * - `cnn-train-step`: one step of the pure path the `baselines-cnn` / `eval-cnn` stages use (loss + gradients,
 *   `update`, θ ← θ + update, loss read back) with Adam, SGD + momentum, and the learned optimizer, plus one
 *   bench that alternates an Adam step and a learned step in every iteration and reports their medians and
 *   ratio (robust to load from other processes, which shifts both alike).
 * - `cnn-fit-step`: `model.trainOnBatch` on the tfjs-layers twin, with Adam and the learned optimizer through
 *   the `tf.Optimizer` adapter (`toTfOptimizer`).
 *
 * The learned optimizer is an UNTRAINED HRNN (`createMetaParams(makeHrnnConfig(), 0)`): its cost per step does
 * not depend on the meta-parameter values, only on the configuration.
 *
 * Exports plain definitions for the bench harness; `deno run -A bench/cnn.bench.ts` runs them directly and
 * prints the medians.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import { Rng } from "../lib/rng.ts";
import type { BenchExtra } from "../pipeline/bench.ts";
import { makeBaseline } from "../models/optimizers/baselines.ts";
import { makeHrnnConfig } from "../models/hrnn/config.ts";
import { makeHrnn } from "../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams, type MetaParams } from "../models/hrnn/meta_params.ts";
import { disposeReplaced } from "../lib/state_tree.ts";
import { LEARNED_OPTIMIZER_NAME, type Optimizer, type OptState } from "../lib/optimizer.ts";
import { toTfOptimizer } from "../models/optimizers/tf_adapter.ts";
import {
  buildLayersConvNet,
  compileConvNet,
  convNetLossAndGrads,
  convNetSpec,
  initConvNet,
} from "../tasks/convnets.ts";
import { batchTensors } from "../tasks/data/dataset.ts";
import { loadDataset } from "../tasks/data/index.ts";

/** One benchmark in the format of `bench/kernels.bench.ts`; `fn` may return extra metrics. */
export interface CnnBenchmark {
  /** Unique name, shown in reports. */
  name: string;
  /** Benchmarks in one group are compared with each other. */
  group: string;
  /** The timed body. */
  fn: () => void | BenchExtra | Promise<void | BenchExtra>;
  /** Untimed preparation. */
  setup?: () => void | Promise<void>;
  /** Untimed clean-up. */
  teardown?: () => void | Promise<void>;
  /** Suggested number of timed calls. */
  iterations?: number;
}

const SPEC = convNetSpec("convnet_mnist_relu");
const BATCH = 64;

/** "learned" = the HRNN as users get it (native kernel where it loads); "learned-wasm" = its WebAssembly kernel. */
export type OptKind = "adam" | "momentum" | "learned" | "learned-wasm";

/** Builds an optimizer of `kind`; the learned one is an untrained HRNN whose meta-parameters go in `hold`. */
function makeOpt(kind: OptKind, hold: MetaParams[]): Optimizer {
  if (kind === "adam") return makeBaseline("adam", { learningRate: 1e-3 });
  if (kind === "momentum") return makeBaseline("momentum", { learningRate: 0.01, momentum: 0.9 });
  const config = makeHrnnConfig();
  const mp = createMetaParams(config, 0);
  hold.push(mp);
  return makeHrnn(mp, config, {
    seed: 0,
    name: LEARNED_OPTIMIZER_NAME,
    kernel: kind === "learned-wasm" ? "fused" : "auto",
  });
}

/**
 * The first 64 MNIST training images as a batch (labels one-hot or as indices), on the active backend.
 *
 * @example
 * ```ts
 * const { x, y } = await mnistBatch(false);
 * ```
 */
export async function mnistBatch(oneHot: boolean): Promise<{ x: tf.Tensor; y: tf.Tensor }> {
  const ds = await loadDataset({ kind: "mnist", split: "train", limit: BATCH });
  return batchTensors(ds, Int32Array.from({ length: BATCH }, (_, i) => i), { oneHot });
}

/** The state of a pure-path training run: parameters, optimizer and its state. */
export interface PureRun {
  opt: Optimizer;
  params: tf.Tensor[];
  state: OptState;
}

/**
 * A fresh pure-path run of the MNIST ConvNet with optimizer `kind` (learned meta-parameters go in `hold`).
 *
 * @example
 * ```ts
 * const hold: MetaParams[] = [];
 * const run = startRun("adam", hold);
 * ```
 */
export function startRun(kind: OptKind, hold: MetaParams[]): PureRun {
  const opt = makeOpt(kind, hold);
  const params = initConvNet(SPEC, new Rng(1));
  return { opt, params, state: tf.tidy(() => opt.init(params)) };
}

/**
 * One training step on the pure path (what the stages time as seconds per step). Returns the milliseconds of
 * its optimizer update (`update`, from gradients read back to updates read back). Reads are asynchronous, so
 * it runs on every backend (WebGPU under Deno has no synchronous read).
 *
 * @example
 * ```ts
 * const updateMs = await pureStep(run, x, y);
 * ```
 */
export async function pureStep(run: PureRun, x: tf.Tensor, y: tf.Tensor): Promise<number> {
  const { loss, grads } = convNetLossAndGrads(SPEC, run.params, x, y);
  await grads[grads.length - 1].data();
  const u0 = performance.now();
  const r = tf.tidy(() => {
    const u = run.opt.update(grads, run.state, run.params);
    return { updates: u.updates, state: u.state };
  });
  await r.updates[r.updates.length - 1].data();
  const updateMs = performance.now() - u0;
  const next = tf.tidy(() => run.params.map((q, i) => tf.add(q, r.updates[i])));
  await loss.data();
  await next[next.length - 1].data();
  disposeReplaced([run.state, run.params, grads, r.updates, loss], r.state, next);
  run.state = r.state;
  run.params = next;
  return updateMs;
}

/**
 * A pure-path train step of the MNIST ConvNet with optimizer `kind`.
 *
 * @example
 * ```ts
 * const bench = pureTrainStep("adam", 15); // group "cnn-train-step"
 * ```
 */
export function pureTrainStep(kind: OptKind, iterations: number): CnnBenchmark {
  const hold: MetaParams[] = [];
  let run: PureRun | null = null;
  let batch: { x: tf.Tensor; y: tf.Tensor } | null = null;
  return {
    name: `MNIST ConvNet train step, batch 64, pure path (${kind}${
      kind === "learned" ? ", untrained HRNN" : ""
    })`,
    group: "cnn-train-step",
    iterations,
    setup: async () => {
      await initBackend("wasm");
      batch = await mnistBatch(false);
      run = startRun(kind, hold);
    },
    fn: async () => {
      await pureStep(run!, batch!.x, batch!.y);
    },
    teardown: () => {
      if (run) disposeReplaced([run.state, run.params]);
      tf.dispose([batch!.x, batch!.y]);
      hold.splice(0).forEach(disposeMetaParams);
      run = null;
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Alternates one Adam step and one learned-optimizer step per iteration (same model, data and init) and
 * reports the medians so far and their ratio (`learned_over_adam`; target ≤ 1.15), plus the medians of the
 * optimizer updates alone (`adam_update_ms`, `learned_update_ms`): the gradient part, the same for both, varies
 * most from step to step, so the update medians tell the optimizer's own cost more steadily.
 *
 * @example
 * ```ts
 * const bench = interleavedRatio(41); // extra metric learned_over_adam
 * ```
 */
export function interleavedRatio(
  iterations: number,
  kind: "learned" | "learned-wasm" = "learned",
): CnnBenchmark {
  const hold: MetaParams[] = [];
  let adam: PureRun | null = null, learned: PureRun | null = null;
  let batch: { x: tf.Tensor; y: tf.Tensor } | null = null;
  const ta: number[] = [], tl: number[] = [], ua: number[] = [], ul: number[] = [];
  return {
    name: `MNIST ConvNet train step, learned (untrained HRNN${
      kind === "learned-wasm" ? ", wasm kernel" : ""
    }) vs Adam, interleaved`,
    group: "cnn-train-step",
    iterations,
    setup: async () => {
      await initBackend("wasm");
      batch = await mnistBatch(false);
      adam = startRun("adam", hold);
      learned = startRun(kind, hold);
      for (const xs of [ta, tl, ua, ul]) xs.length = 0;
    },
    fn: async () => {
      let t0 = performance.now();
      ua.push(await pureStep(adam!, batch!.x, batch!.y));
      ta.push(performance.now() - t0);
      t0 = performance.now();
      ul.push(await pureStep(learned!, batch!.x, batch!.y));
      tl.push(performance.now() - t0);
      const a = median(ta), l = median(tl);
      return {
        adam_ms: Number(a.toFixed(2)),
        learned_ms: Number(l.toFixed(2)),
        learned_over_adam: Number((l / a).toFixed(3)),
        adam_update_ms: Number(median(ua).toFixed(2)),
        learned_update_ms: Number(median(ul).toFixed(2)),
      };
    },
    teardown: () => {
      for (const r of [adam, learned]) if (r) disposeReplaced([r.state, r.params]);
      tf.dispose([batch!.x, batch!.y]);
      hold.splice(0).forEach(disposeMetaParams);
      adam = learned = null;
    },
  };
}

/**
 * `model.trainOnBatch` on the tfjs-layers ConvNet with `kind` through the tf.Optimizer adapter.
 *
 * @example
 * ```ts
 * const bench = layersTrainStep("learned", 8); // group "cnn-fit-step"
 * ```
 */
export function layersTrainStep(kind: "adam" | "learned", iterations: number): CnnBenchmark {
  const hold: MetaParams[] = [];
  let model: tf.Sequential | null = null;
  let opt: tf.Optimizer | null = null;
  let batch: { x: tf.Tensor; y: tf.Tensor } | null = null;
  return {
    name: `MNIST ConvNet model.trainOnBatch, batch 64, toTfOptimizer(${kind}${
      kind === "learned" ? ", untrained HRNN" : ""
    })`,
    group: "cnn-fit-step",
    iterations,
    setup: async () => {
      await initBackend("wasm");
      batch = await mnistBatch(true);
      model = buildLayersConvNet(SPEC, { rng: new Rng(1) });
      opt = toTfOptimizer(makeOpt(kind, hold));
      compileConvNet(model, opt);
    },
    fn: async () => {
      await model!.trainOnBatch(batch!.x, batch!.y);
    },
    teardown: () => {
      model?.dispose();
      opt?.dispose();
      tf.dispose([batch!.x, batch!.y]);
      hold.splice(0).forEach(disposeMetaParams);
      model = null;
    },
  };
}

/** All ConvNet step benchmarks. */
export const benchmarks: CnnBenchmark[] = [
  pureTrainStep("adam", 15),
  pureTrainStep("momentum", 15),
  pureTrainStep("learned", 15),
  interleavedRatio(41),
  interleavedRatio(15, "learned-wasm"),
  layersTrainStep("adam", 8),
  layersTrainStep("learned", 8),
];

if (import.meta.main) {
  for (const b of benchmarks) {
    await b.setup?.();
    await b.fn(); // warm-up (JIT, wasm memory growth)
    const times: number[] = [];
    let extra: void | BenchExtra = undefined;
    for (let i = 0; i < (b.iterations ?? 10); i++) {
      const t0 = performance.now();
      extra = await b.fn();
      times.push(performance.now() - t0);
    }
    await b.teardown?.();
    console.log(
      `${b.name}: median ${median(times).toFixed(1)} ms (n=${times.length})${
        extra ? " " + JSON.stringify(extra) : ""
      }`,
    );
  }
}
