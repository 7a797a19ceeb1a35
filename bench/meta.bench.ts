/**
 * Meta-training benchmarks (issue 4): one partial unroll of the HRNN (paper configuration, paper meta-loss,
 * second derivatives on) on small ensemble problems, split into the taped forward pass and the backward pass
 * (target: backward ≤ 3× taped forward), the untaped forward pass (what PES runs), and a few meta-steps of a
 * meta-training run with the default profile's settings of `stages/meta_train.ts` (throughput in inner steps
 * per second, and peak memory; target < 4 GB).
 *
 * Definitions: *taped forward* = the unroll inside the meta-gradient function (recording the tape, including
 * the inner problem gradients with their own backward ops); *backward* = the rest of the meta-gradient call
 * (the outer backward pass through the unroll). Problems come from `ensemble()` (the `generate-tasks`
 * training ensemble) and are rebuilt from their specs.
 *
 * Exports plain definitions for the bench harness; `deno run -A bench/meta.bench.ts [filter]` runs them
 * directly and prints the table.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import { Rng } from "../lib/rng.ts";
import { type BenchDef, type BenchExtra, formatBenchTable, runBenches } from "../pipeline/bench.ts";
import { median } from "../lib/stats.ts";
import { buildProblem } from "../tasks/registry.ts";
import type { Problem, ProblemSpec } from "../tasks/problem.ts";
import { hrnnLearnedOptimizer } from "../models/optimizers/hrnn_learned.ts";
import type { LearnedOptimizer } from "../models/optimizers/learned.ts";
import { metaTrain } from "../models/metatrain/meta_train.ts";
import { defaultProfile, ensembleSpec, trainSpecs } from "./meta_profile.ts";
import { metaThroughputBench } from "./meta_throughput.bench.ts";

import {
  PAPER_UNROLL_CONFIG,
  startTrajectory,
  unroll,
  type UnrollCarry,
} from "../models/metatrain/unroll.ts";
import { scoped } from "../models/metatrain/tape.ts";
import { disposeTree } from "../lib/state_tree.ts";

/** Unroll length of the forward/backward benches. */
export const BENCH_UNROLL_LENGTH = 20;

/** Small ensemble problems of the unroll benches: [label, family, parameter count]. */
export const UNROLL_PROBLEMS: [string, string, number][] = [
  ["quadratic 20", "quadratic", 20],
  ["softmax 10x2 (1000 samples)", "softmax_regression", 22],
  ["mlp 129 params (6 tensors)", "fully_connected", 129],
  ["matmul 3x3 k=24 (432 params, least-squares solve)", "matmul_algorithm", 432],
];

interface UnrollCtx {
  learned: LearnedOptimizer;
  meta: Record<string, tf.Tensor>;
  names: string[];
  problem: Problem;
  start: UnrollCarry;
  forwardMs: number[];
  backwardMs: number[];
}

/** Which HRNN update path a bench runs while taped: the differentiable fused kernel or the tfjs ops. */
export type BenchKernel = "auto" | "ops";

const kernelLabel = (k: BenchKernel) => (k === "auto" ? "fused kernel" : "ops path");

async function unrollSetup(family: string, dims: number, kernel: BenchKernel): Promise<UnrollCtx> {
  await initBackend();
  const learned = hrnnLearnedOptimizer({}, { kernel });
  const meta = learned.init(0);
  const problem = buildProblem(ensembleSpec(family, dims));
  const start = startTrajectory(problem, new Rng(3));
  return { learned, meta, names: Object.keys(meta).sort(), problem, start, forwardMs: [], backwardMs: [] };
}

function unrollTeardown(ctx: UnrollCtx): void {
  tf.dispose(ctx.start.params);
  tf.dispose(Object.values(ctx.meta));
  ctx.problem.dispose();
}

function disposeCarryTensors(c: UnrollCarry): void {
  tf.dispose(c.params);
  disposeTree(c.optState);
}

/**
 * Taped forward + backward of one T-step partial unroll (TBPTT, from a reset state) on a problem. Extra
 * metrics: medians `forward_ms` (taped forward), `backward_ms` and `backward_over_forward`.
 *
 * @example
 * ```ts
 * const bench = unrollForwardBackwardBench("quadratic 20", "quadratic", 20, "ops");
 * ```
 */
export function unrollForwardBackwardBench(
  label: string,
  family: string,
  dims: number,
  kernel: BenchKernel = "auto",
): BenchDef<UnrollCtx> {
  return {
    group: "meta-unroll",
    name: `taped forward + backward, T=${BENCH_UNROLL_LENGTH}, ${label} (${kernelLabel(kernel)})`,
    unit: "unroll",
    iterations: 7,
    warmup: 1,
    backend: () => tf.getBackend(),
    setup: () => unrollSetup(family, dims, kernel),
    fn: (ctx, i): BenchExtra => {
      const xs = ctx.names.map((n) => ctx.meta[n]);
      let forward = 0;
      let carry: UnrollCarry | null = null;
      const t0 = performance.now();
      const { value, grads } = tf.engine().gradients(
        () => {
          const a = performance.now();
          const mp: Record<string, tf.Tensor> = {};
          ctx.names.forEach((n, q) => (mp[n] = xs[q]));
          const r = unroll(
            ctx.learned.optimizer(mp, { rng: new Rng(1) }),
            ctx.problem,
            { ...ctx.start, optState: null },
            BENCH_UNROLL_LENGTH,
            new Rng(2),
            PAPER_UNROLL_CONFIG,
            { taped: true },
          );
          carry = r.carry;
          forward = performance.now() - a;
          return r.loss;
        },
        xs,
        undefined,
        true,
      );
      const total = performance.now() - t0;
      tf.dispose([value, ...grads.filter((g) => g)]);
      if (carry) disposeCarryTensors(carry);
      if (i >= 0) {
        ctx.forwardMs.push(forward);
        ctx.backwardMs.push(total - forward);
      }
      if (!ctx.forwardMs.length) return {};
      const f = median(ctx.forwardMs), b = median(ctx.backwardMs);
      return { forward_ms: f, backward_ms: b, backward_over_forward: b / f };
    },
    teardown: unrollTeardown,
  };
}

/**
 * Untaped (forward-only, as in PES) T-step partial unroll on a problem.
 *
 * @example
 * ```ts
 * const bench = unrollForwardOnlyBench("quadratic 20", "quadratic", 20);
 * ```
 */
export function unrollForwardOnlyBench(label: string, family: string, dims: number): BenchDef<UnrollCtx> {
  return {
    group: "meta-unroll",
    name: `untaped forward, T=${BENCH_UNROLL_LENGTH}, ${label}`,
    unit: "unroll",
    iterations: 7,
    warmup: 1,
    backend: () => tf.getBackend(),
    setup: () => unrollSetup(family, dims, "auto"),
    fn: (ctx) => {
      scoped(() => {
        const r = unroll(
          ctx.learned.optimizer(ctx.meta, { rng: new Rng(1) }),
          ctx.problem,
          { ...ctx.start, optState: null },
          BENCH_UNROLL_LENGTH,
          new Rng(2),
          PAPER_UNROLL_CONFIG,
          { taped: false },
        );
        r.loss.dataSync();
        disposeCarryTensors(r.carry);
      });
    },
    teardown: unrollTeardown,
  };
}

/** Peak resident set size of this process (VmHWM, Linux) in bytes, or null. */
function peakRss(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Resets the VmHWM high-water mark (Linux); false when not possible. */
function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

function wasmHeapBytes(): number | null {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return b.wasm?.HEAPU8?.buffer.byteLength ?? null;
}

interface MetaTrainCtx {
  specs: ProblemSpec[];
  seconds: number;
  innerSteps: number;
  metaSteps: number;
  peakTfBytes: number;
  peakRssSampled: number;
}

/** Meta-steps per timed iteration of {@link metaTrainBench}. */
export const BENCH_META_STEPS = 3;

/**
 * A few meta-steps of meta-training with the default profile's settings (read from the stage: TBPTT, Adam
 * 1e-3, metaBatch 2, unrolls of 20–60 steps, problems ≤ 2000 parameters); iteration i uses seed i (other problem draws, the
 * same ones on every run). Extra metrics:
 * `inner_steps_per_s` and `s_per_meta_step` over all timed iterations, and peak memory: `peak_rss_mb` (the
 * process high-water mark VmHWM, reset at setup; else the maximum sampled `Deno.memoryUsage().rss`),
 * `peak_tf_mb` (maximum `tf.memory().numBytes` sampled at every problem call and meta-step) and
 * `wasm_heap_mb` (the wasm heap, which only grows: the peak tensor memory plus fragmentation).
 *
 * @example
 * ```ts
 * const results = await runBenches([metaTrainBench("ops") as BenchDef]);
 * ```
 */
export function metaTrainBench(kernel: BenchKernel = "auto"): BenchDef<MetaTrainCtx> {
  let hwmReset = false;
  return {
    group: "meta-train",
    name: `default profile, ${BENCH_META_STEPS} meta-steps (metaBatch 2, unrolls 20-60, <=2000 params, ` +
      `${kernelLabel(kernel)})`,
    unit: `${BENCH_META_STEPS} meta-steps`,
    iterations: 3,
    warmup: 0,
    backend: () => tf.getBackend(),
    setup: async () => {
      await initBackend();
      hwmReset = resetPeakRss();
      return {
        specs: trainSpecs(defaultProfile().params.maxTaskDims),
        seconds: 0,
        innerSteps: 0,
        metaSteps: 0,
        peakTfBytes: 0,
        peakRssSampled: 0,
      };
    },
    fn: async (ctx, i): Promise<BenchExtra> => {
      const sample = () => {
        ctx.peakTfBytes = Math.max(ctx.peakTfBytes, tf.memory().numBytes);
        ctx.peakRssSampled = Math.max(ctx.peakRssSampled, Deno.memoryUsage().rss);
      };
      const sampled = (p: Problem): Problem => {
        const wrap = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
          sample();
          return f(...a);
        };
        return {
          spec: p.spec,
          paramNames: p.paramNames,
          paramShapes: p.paramShapes,
          datasetSize: p.datasetSize,
          init: p.init.bind(p),
          sampleBatch: p.sampleBatch.bind(p),
          objective: p.objective.bind(p),
          fullObjective: wrap(p.fullObjective.bind(p)),
          gradients: wrap(p.gradients.bind(p)),
          dispose: p.dispose.bind(p),
        };
      };
      const learned = hrnnLearnedOptimizer({}, { kernel });
      const result = await metaTrain({
        learned,
        problems: { specs: ctx.specs, build: (s) => sampled(buildProblem(s)) },
        config: defaultProfile().settings.config,
        seed: Math.max(0, i),
        maxMetaSteps: BENCH_META_STEPS,
        metaBatch: defaultProfile().settings.metaBatch,
        onProgress: sample,
      });
      tf.dispose(Object.values(result.metaParams));
      ctx.seconds += result.seconds;
      ctx.innerSteps += result.innerSteps;
      ctx.metaSteps += result.metaSteps;
      const rss = hwmReset ? peakRss() : null;
      const mb = (b: number | null) => (b === null ? null : b / 2 ** 20);
      return {
        inner_steps_per_s: ctx.innerSteps / ctx.seconds,
        s_per_meta_step: ctx.seconds / ctx.metaSteps,
        inner_steps: ctx.innerSteps,
        peak_rss_mb: mb(rss ?? ctx.peakRssSampled),
        peak_tf_mb: mb(ctx.peakTfBytes),
        wasm_heap_mb: mb(wasmHeapBytes()),
      };
    },
  };
}

/**
 * The unroll benches on every problem of {@link UNROLL_PROBLEMS} (taped: fused kernel and ops path), then the
 * meta-training bench on both paths.
 */
export const benchmarks: BenchDef[] = [
  ...UNROLL_PROBLEMS.flatMap(([label, family, dims]) => [
    unrollForwardBackwardBench(label, family, dims, "auto") as BenchDef,
    unrollForwardBackwardBench(label, family, dims, "ops") as BenchDef,
    unrollForwardOnlyBench(label, family, dims) as BenchDef,
  ]),
  metaTrainBench("auto") as BenchDef,
  metaTrainBench("ops") as BenchDef,
  metaThroughputBench() as BenchDef,
];

if (import.meta.main) {
  const results = await runBenches(benchmarks, {
    filter: Deno.args[0],
    onStart: (b) => console.error(`bench ${b.group}/${b.name} ...`),
  });
  console.log(formatBenchTable(results));
  for (const r of results) if (r.headline) console.log(r.headline);
}
