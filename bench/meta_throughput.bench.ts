/**
 * Meta-training throughput benchmark: inner steps per second of the `meta-train` stage's `default` profile on
 * its fast path against the tfjs ops path, and with batched instances per slot (pooled or clipped one by one).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import type { BenchDef, BenchExtra } from "../pipeline/bench.ts";
import { buildBatched, buildProblem } from "../tasks/registry.ts";
import type { HrnnConfig } from "../models/hrnn/config.ts";
import type { metaTrainSettings } from "../stages/meta_train_settings.ts";
import type { ProblemSpec } from "../tasks/problem.ts";
import { hrnnLearnedOptimizer } from "../models/optimizers/hrnn_learned.ts";
import type { LearnedOptimizer } from "../models/optimizers/learned.ts";
import { metaTrain } from "../models/metatrain/meta_train.ts";
import { defaultProfile, trainSpecs } from "./meta_profile.ts";

/** One way of meta-training compared by {@link metaThroughputBench}. */
interface ThroughputPath {
  learned: LearnedOptimizer;
  settings: ReturnType<typeof metaTrainSettings>;
  seconds: number;
  innerSteps: number;
}

/** Meta-steps per path per timed iteration of {@link metaThroughputBench}. */
export const THROUGHPUT_META_STEPS = 4;

/** Batched instances per slot of the third path of {@link metaThroughputBench}. */
export const THROUGHPUT_BATCH = 8;

/**
 * Inner steps per second of meta-training with the `default` profile of the `meta-train` stage (its kernel,
 * meta-batch and batched instances) against the same profile on the differentiable tfjs ops path with one
 * instance per slot (`kernel ops`, `instances 1`), in one run: each iteration runs both, alternately, for
 * {@link THROUGHPUT_META_STEPS} meta-steps from the same seed; a third path runs the fast path with
 * {@link THROUGHPUT_BATCH} batched instances per slot (what `--set meta-train.instances=8` buys), and a fourth
 * the same with `clipPerInstance` (each instance's meta-gradient cleaned on its own). Inner steps
 * count every instance's steps.
 *
 * @example
 * ```ts
 * const results = await runBenches([metaThroughputBench() as BenchDef]);
 * ```
 */
export function metaThroughputBench(): BenchDef<
  {
    specs: ProblemSpec[];
    fast: ThroughputPath;
    ops: ThroughputPath;
    batched: ThroughputPath;
    batchedClipped: ThroughputPath;
  }
> {
  const rate = (p: ThroughputPath) => p.innerSteps / Math.max(1e-9, p.seconds);
  return {
    group: "meta-throughput",
    name:
      `default profile, fast path vs tfjs ops path (and ${THROUGHPUT_BATCH} batched instances, pooled or clipped one by one), ${THROUGHPUT_META_STEPS} meta-steps each`,
    unit: `4 x ${THROUGHPUT_META_STEPS} meta-steps`,
    iterations: 3,
    warmup: 0,
    backend: () => tf.getBackend(),
    setup: async () => {
      await initBackend();
      const { params: p, settings } = defaultProfile();
      const hrnn = p.hrnn as Partial<HrnnConfig>;
      return {
        specs: trainSpecs(p.maxTaskDims),
        fast: {
          learned: hrnnLearnedOptimizer(hrnn, { kernel: p.kernel as "auto" | "ops" }),
          settings,
          seconds: 0,
          innerSteps: 0,
        },
        ops: {
          learned: hrnnLearnedOptimizer(hrnn, { kernel: "ops" }),
          settings: { ...settings, instances: 1 },
          seconds: 0,
          innerSteps: 0,
        },
        batched: {
          learned: hrnnLearnedOptimizer(hrnn, { kernel: p.kernel as "auto" | "ops" }),
          settings: { ...settings, instances: THROUGHPUT_BATCH },
          seconds: 0,
          innerSteps: 0,
        },
        batchedClipped: {
          learned: hrnnLearnedOptimizer(hrnn, { kernel: p.kernel as "auto" | "ops" }),
          settings: {
            ...settings,
            instances: THROUGHPUT_BATCH,
            config: {
              ...settings.config,
              estimator: { ...settings.config.estimator, clipPerInstance: true },
            },
          },
          seconds: 0,
          innerSteps: 0,
        },
      };
    },
    fn: async (ctx, i): Promise<BenchExtra> => {
      const order = i % 2 === 0
        ? [ctx.fast, ctx.ops, ctx.batched, ctx.batchedClipped]
        : [ctx.batchedClipped, ctx.batched, ctx.ops, ctx.fast];
      for (const path of order) {
        const result = await metaTrain({
          learned: path.learned,
          problems: {
            specs: ctx.specs,
            build: (s) => buildProblem(s),
            buildBatched: (s, n) => buildBatched(s, n),
          },
          config: path.settings.config,
          metaBatch: path.settings.metaBatch,
          instances: path.settings.instances,
          seed: Math.max(0, i),
          maxMetaSteps: THROUGHPUT_META_STEPS,
        });
        tf.dispose(Object.values(result.metaParams));
        path.seconds += result.seconds;
        path.innerSteps += result.innerSteps;
      }
      return {
        fast_inner_steps_per_s: rate(ctx.fast),
        ops_inner_steps_per_s: rate(ctx.ops),
        ratio: rate(ctx.fast) / rate(ctx.ops),
        fast_instances: ctx.fast.settings.instances,
        batched_inner_steps_per_s: rate(ctx.batched),
        batched_ratio: rate(ctx.batched) / rate(ctx.ops),
        batched_clipped_inner_steps_per_s: rate(ctx.batchedClipped),
        batched_clipped_ratio: rate(ctx.batchedClipped) / rate(ctx.ops),
      };
    },
    headline: (x) =>
      `(fast path with ${THROUGHPUT_BATCH} batched instances: ${
        Number(x.batched_inner_steps_per_s).toFixed(1)
      } inner steps/s, ratio ${Number(x.batched_ratio).toFixed(2)}; with clipPerInstance ${
        Number(x.batched_clipped_inner_steps_per_s).toFixed(1)
      } inner steps/s, ratio ${Number(x.batched_clipped_ratio).toFixed(2)})\n` +
      `meta-throughput: fast ${Number(x.fast_inner_steps_per_s).toFixed(1)} inner steps/s, ops ${
        Number(x.ops_inner_steps_per_s).toFixed(1)
      } inner steps/s, ratio ${Number(x.ratio).toFixed(2)}`,
  };
}
