/**
 * Benchmarks on the `webgpu` backend, on whatever WebGPU adapter the machine has (a GPU, or a software
 * rasteriser such as Mesa's llvmpipe; every row's `backend` names it, `webgpu (<adapter>; software adapter)`):
 *
 * - `webgpu/hrnn update …`: one HRNN update (paper config) on the WGSL pass (`models/hrnn/webgpu.ts`) and
 *   one on the tfjs ops path, against one Adam update of the same tensors, interleaved per iteration; extra
 *   metrics `wgsl_ms`, `ops_ms`, `adam_ms` and the ratios to Adam (medians, same machine load).
 * - `webgpu/MNIST ConvNet train step …`: a pure-path step (loss + gradients, update, apply, loss read back;
 *   `bench/cnn.bench.ts`) with Adam and with the learned optimizer (untrained HRNN) interleaved; extra
 *   metrics their medians and the ratio.
 *
 * Every read is asynchronous (`await t.data()`): WebGPU under Deno has no synchronous read. Without an
 * adapter the benches fail with the backend's message.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { backendDescription, initBackend } from "../lib/backend.ts";
import { Rng } from "../lib/rng.ts";
import type { BenchDef, BenchExtra } from "../pipeline/bench.ts";
import { median } from "../lib/stats.ts";
import { adam } from "../models/optimizers/baselines.ts";
import { LEARNED_OPTIMIZER_NAME, type Optimizer, type OptState } from "../lib/optimizer.ts";
import { makeHrnnConfig } from "../models/hrnn/config.ts";
import { makeHrnn } from "../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams, type MetaParams } from "../models/hrnn/meta_params.ts";
import { disposeReplaced } from "../lib/state_tree.ts";
import { splitSizes } from "./hrnn.bench.ts";
import { mnistBatch, type PureRun, pureStep, startRun } from "./cnn.bench.ts";

/** Parameter counts of the update benches (kept small: a software adapter runs them on the CPU). */
export const WEBGPU_UPDATE_SIZES = [1e4, 1e5];

interface Running {
  opt: Optimizer;
  state: OptState;
}

interface UpdateBenchContext {
  params: tf.Tensor[];
  grads: tf.Tensor[];
  meta: MetaParams;
  runs: Record<"wgsl" | "ops" | "adam", Running>;
  ms: Record<"wgsl" | "ops" | "adam", number[]>;
}

/** One update of `r` to completion (the last update read back); returns its milliseconds. */
async function timedUpdate(r: Running, grads: tf.Tensor[], params: tf.Tensor[]): Promise<number> {
  const t0 = performance.now();
  const out = tf.tidy(() => {
    const { updates, state } = r.opt.update(grads, r.state, params);
    return { updates, state };
  });
  await out.updates[out.updates.length - 1].data();
  const ms = performance.now() - t0;
  tf.dispose([out.updates, r.state as tf.TensorContainer]);
  r.state = out.state;
  return ms;
}

const label = (total: number) => `1e${Math.round(Math.log10(total))}`;

/**
 * HRNN update (WGSL pass and ops path) vs Adam at `total` parameters in four tensors, on webgpu.
 *
 * @example
 * ```ts
 * registerBenches([webgpuUpdateBench(1e5) as BenchDef]);
 * ```
 */
export function webgpuUpdateBench(total: number): BenchDef<UpdateBenchContext> {
  return {
    group: "webgpu",
    name: `hrnn update (paper config: WGSL pass, ops path) + adam, ${label(total)} params in 4 tensors`,
    unit: "update",
    iterations: 5,
    warmup: 1,
    backend: () => backendDescription(),
    setup: async () => {
      await initBackend("webgpu");
      const rng = new Rng(7);
      const sizes = splitSizes(total);
      const params = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
      const grads = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
      const config = makeHrnnConfig();
      const meta = createMetaParams(config, 0);
      const mk = (opt: Optimizer): Running => ({ opt, state: opt.init(params) });
      return {
        params,
        grads,
        meta,
        runs: {
          wgsl: mk(makeHrnn(meta, config, { seed: 0, kernel: "webgpu" })),
          ops: mk(makeHrnn(meta, config, { seed: 0, kernel: "ops" })),
          adam: mk(adam({ learningRate: 1e-3 })),
        },
        ms: { wgsl: [], ops: [], adam: [] },
      };
    },
    fn: async (ctx): Promise<BenchExtra> => {
      for (const k of ["adam", "wgsl", "ops"] as const) {
        ctx.ms[k].push(await timedUpdate(ctx.runs[k], ctx.grads, ctx.params));
      }
      const [w, o, a] = [median(ctx.ms.wgsl), median(ctx.ms.ops), median(ctx.ms.adam)];
      return { wgsl_ms: w, ops_ms: o, adam_ms: a, wgsl_vs_adam: w / a, ops_vs_adam: o / a, params: total };
    },
    teardown: (ctx) => {
      tf.dispose([
        ...ctx.params,
        ...ctx.grads,
        ...Object.values(ctx.runs).map((r) => r.state as tf.TensorContainer),
      ]);
      disposeMetaParams(ctx.meta);
    },
    headline: (e) =>
      `webgpu ${label(total)}: HRNN update WGSL ${Number(e.wgsl_ms).toFixed(1)} ms (${
        Number(e.wgsl_vs_adam).toFixed(1)
      }x Adam), ops path ${Number(e.ops_ms).toFixed(1)} ms (${
        Number(e.ops_vs_adam).toFixed(1)
      }x) on ${backendDescription()}`,
  };
}

interface StepBenchContext {
  hold: MetaParams[];
  runs: { adam: PureRun; learned: PureRun };
  batch: { x: tf.Tensor; y: tf.Tensor };
  ms: { adam: number[]; learned: number[] };
}

/**
 * MNIST ConvNet train step (batch 64) with Adam and with the learned optimizer, interleaved, on webgpu.
 *
 * @example
 * ```ts
 * const results = await runBenches([webgpuStepBench() as BenchDef]);
 * ```
 */
export function webgpuStepBench(): BenchDef<StepBenchContext> {
  return {
    group: "webgpu",
    name: "MNIST ConvNet train step, batch 64, pure path (adam, learned: untrained HRNN)",
    unit: "2 steps",
    iterations: 5,
    warmup: 1,
    backend: () => backendDescription(),
    setup: async () => {
      await initBackend("webgpu");
      const hold: MetaParams[] = [];
      return {
        hold,
        runs: { adam: startRun("adam", hold), learned: startRun(LEARNED_OPTIMIZER_NAME, hold) },
        batch: await mnistBatch(false),
        ms: { adam: [], learned: [] },
      };
    },
    fn: async (ctx): Promise<BenchExtra> => {
      for (const k of ["adam", "learned"] as const) {
        const t0 = performance.now();
        await pureStep(ctx.runs[k], ctx.batch.x, ctx.batch.y);
        ctx.ms[k].push(performance.now() - t0);
      }
      const [a, l] = [median(ctx.ms.adam), median(ctx.ms.learned)];
      return { adam_step_ms: a, learned_step_ms: l, ratio: l / a };
    },
    teardown: (ctx) => {
      for (const r of Object.values(ctx.runs)) disposeReplaced([r.state, r.params]);
      tf.dispose([ctx.batch.x, ctx.batch.y]);
      ctx.hold.splice(0).forEach(disposeMetaParams);
    },
    headline: (e) =>
      `webgpu ConvNet step: Adam ${Number(e.adam_step_ms).toFixed(0)} ms, learned ${
        Number(e.learned_step_ms).toFixed(0)
      } ms (${Number(e.ratio).toFixed(2)}x) on ${backendDescription()}`,
  };
}

/** Every webgpu bench. */
export const benchmarks: BenchDef[] = [
  ...WEBGPU_UPDATE_SIZES.map((n) => webgpuUpdateBench(n) as BenchDef),
  webgpuStepBench() as BenchDef,
];
