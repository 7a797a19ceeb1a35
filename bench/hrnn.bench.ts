/**
 * Benchmarks of one HRNN update (paper configuration) against one Adam update on the same parameters, at
 * 1e4, 1e5 and 1e6 parameters split into four tensors (50/25/15/10 %), on the configured backend (wasm by
 * default). Target (issue 4): HRNN ≤ 30× Adam at 1e6 parameters.
 *
 * Each HRNN bench interleaves one Adam and one HRNN update per iteration, timing each, and reports the
 * medians `hrnn_ms`, `adam_ms` and `ratio` = hrnn_ms / adam_ms as extra metrics, so the ratio compares
 * measurements taken under the same machine load. Plain Adam benches are listed too.
 *
 * Exports plain definitions for the bench harness; `deno run -A bench/hrnn.bench.ts [filter]` runs them
 * directly and prints the table.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import { Rng } from "../lib/rng.ts";
import { type BenchDef, type BenchExtra, formatBenchTable, runBenches } from "../pipeline/bench.ts";
import { median } from "../lib/stats.ts";
import { adam } from "../models/optimizers/baselines.ts";
import type { Optimizer, OptState } from "../lib/optimizer.ts";
import { makeHrnnConfig } from "../models/hrnn/config.ts";
import { type HrnnState, makeHrnn } from "../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams, type MetaParams } from "../models/hrnn/meta_params.ts";
import { withAliasedSaves } from "../models/metatrain/tape.ts";

/** Fractions of the parameters in each of the four tensors. */
export const TENSOR_SPLIT = [0.5, 0.25, 0.15, 0.1];

/** The parameter sizes benchmarked. */
export const UPDATE_SIZES = [1e4, 1e5, 1e6];

/**
 * Sizes of the tensors that `total` parameters are split into ({@link TENSOR_SPLIT}).
 *
 * @example
 * ```ts
 * splitSizes(1e4); // [5000, 2500, 1500, 1000]
 * ```
 */
export function splitSizes(total: number): number[] {
  const sizes = TENSOR_SPLIT.map((f) => Math.round(total * f));
  sizes[sizes.length - 1] += total - sizes.reduce((a, b) => a + b, 0);
  return sizes;
}

/** A running optimizer over fixed random params and grads (one update per {@link step}). */
export interface UpdateContext {
  /** Parameters (fixed; updates are not applied so every step sees the same inputs). */
  params: tf.Tensor[];
  /** Gradients (fixed). */
  grads: tf.Tensor[];
  /** The optimizer. */
  opt: Optimizer;
  /** Its current state (replaced by every step). */
  state: OptState;
  /** Meta-parameters to dispose (HRNN only). */
  meta?: MetaParams;
}

/**
 * Builds params/grads of `total` parameters in four tensors and the optimizer's initial state.
 *
 * @example
 * ```ts
 * const ctx = updateContext("hrnn", 1e5, "fused");
 * ```
 */
export function updateContext(
  kind: "hrnn" | "adam",
  total: number,
  kernel: HrnnKernel = "auto",
): UpdateContext {
  const rng = new Rng(7);
  const make = (n: number) => tf.tensor1d(rng.normalArray(n));
  const sizes = splitSizes(total);
  const params = sizes.map(make);
  const grads = sizes.map(make);
  let opt: Optimizer;
  let meta: MetaParams | undefined;
  if (kind === "hrnn") {
    const config = makeHrnnConfig();
    meta = createMetaParams(config, 0);
    opt = makeHrnn(meta, config, { seed: 0, kernel });
  } else {
    opt = adam({ learningRate: 1e-3 });
  }
  return { params, grads, opt, state: opt.init(params), meta };
}

/**
 * One update: new state replaces the old, the updates are disposed.
 *
 * @example
 * ```ts
 * const ctx = updateContext("adam", 1e4);
 * step(ctx);
 * ```
 */
export function step(ctx: UpdateContext): void {
  const next = tf.tidy(() => {
    const r = ctx.opt.update(ctx.grads, ctx.state, ctx.params);
    // Read one element so that a lazily-executing backend finishes (wasm is synchronous anyway).
    r.updates[r.updates.length - 1].dataSync();
    return r.state as tf.TensorContainer;
  });
  tf.dispose(ctx.state as tf.TensorContainer);
  ctx.state = next as OptState;
}

/**
 * Disposes everything of a context.
 *
 * @example
 * ```ts
 * const ctx = updateContext("hrnn", 1e4);
 * step(ctx);
 * disposeContext(ctx);
 * ```
 */
export function disposeContext(ctx: UpdateContext): void {
  tf.dispose([...ctx.params, ...ctx.grads, ctx.state as tf.TensorContainer]);
  if (ctx.meta) disposeMetaParams(ctx.meta);
}

function label(total: number): string {
  return `1e${Math.round(Math.log10(total))}`;
}

/**
 * Adam update bench at `total` parameters.
 *
 * @example
 * ```ts
 * registerBenches([adamUpdateBench(1e6) as BenchDef]);
 * ```
 */
export function adamUpdateBench(total: number): BenchDef<UpdateContext> {
  return {
    group: "hrnn-update",
    name: `adam update, ${label(total)} params in 4 tensors`,
    unit: "update",
    iterations: total >= 1e6 ? 15 : 30,
    warmup: 3,
    backend: () => tf.getBackend(),
    setup: async () => {
      await initBackend();
      return updateContext("adam", total);
    },
    fn: (ctx) => step(ctx),
    teardown: disposeContext,
  };
}

interface HrnnBenchContext {
  hrnn: UpdateContext;
  adam: UpdateContext;
  adamMs: number[];
  hrnnMs: number[];
}

/** The HRNN `kernel` option (see models/hrnn/hrnn.ts). */
type HrnnKernel = "auto" | "ops" | "fused" | "native";

/**
 * HRNN update bench at `total` parameters. Every iteration runs one Adam update and then one HRNN update on
 * same-sized tensors, each timed on its own, so both see the same machine load; the extra metrics are the
 * medians `hrnn_ms` and `adam_ms` and `ratio` = hrnn_ms / adam_ms. The harness time of an iteration is the sum
 * (Adam is 1–3 % of it). `kernel` "auto" is what users get on wasm (the native fused kernel where it loads,
 * else the WebAssembly one); "fused" times the WebAssembly kernel; "ops" the differentiable tfjs-ops path that
 * meta-training uses (forward only here).
 *
 * @example
 * ```ts
 * const bench = hrnnUpdateBench(1e6, "fused"); // extra metrics hrnn_ms, adam_ms, ratio
 * ```
 */
export function hrnnUpdateBench(total: number, kernel: HrnnKernel = "auto"): BenchDef<HrnnBenchContext> {
  const path = { auto: "", ops: ", ops path", fused: ", wasm kernel", native: ", native kernel" }[kernel];
  return {
    group: "hrnn-update",
    name: `hrnn update (paper config${path}) + adam, ${label(total)} params in 4 tensors`,
    unit: "update",
    iterations: total >= 1e6 ? 9 : total >= 1e5 ? 15 : 25,
    warmup: 2,
    backend: () => tf.getBackend(),
    setup: async () => {
      await initBackend();
      return {
        hrnn: updateContext("hrnn", total, kernel),
        adam: updateContext("adam", total),
        adamMs: [],
        hrnnMs: [],
      };
    },
    fn: (ctx, i): BenchExtra => {
      const t0 = performance.now();
      step(ctx.adam);
      const t1 = performance.now();
      step(ctx.hrnn);
      const t2 = performance.now();
      if (i >= 0) {
        ctx.adamMs.push(t1 - t0);
        ctx.hrnnMs.push(t2 - t1);
      }
      if (!ctx.hrnnMs.length) return {};
      const h = median(ctx.hrnnMs), a = median(ctx.adamMs);
      return { hrnn_ms: h, adam_ms: a, ratio: h / a, params: total };
    },
    teardown: (ctx) => {
      disposeContext(ctx.hrnn);
      disposeContext(ctx.adam);
    },
  };
}

/** Sizes of the taped benches: a small MLP-like problem (6 tensors) and 1e4 parameters in 4 tensors. */
export const TAPED_SIZES: [string, number[]][] = [
  ["130 params in 6 tensors", [20, 10, 40, 20, 30, 10]],
  ["1e4 params in 4 tensors", splitSizes(1e4)],
];

/**
 * What meta-training does per inner step: one taped HRNN update (paper config) from a state reached by 3
 * updates, then the backward pass to every meta-parameter (of Σ updates² + Σ of the new decays, log LRs and RNN states), with
 * saved tensors aliased as in meta-training's unrolls. `kernel` "auto" = the differentiable fused kernel
 * (`models/hrnn/fused_taped.ts`), "ops" = the tfjs ops path. Extra metric: `tape_nodes` of one update.
 *
 * @example
 * ```ts
 * const bench = tapedUpdateBench("1e4 params in 4 tensors", splitSizes(1e4), "ops");
 * ```
 */
export function tapedUpdateBench(
  what: string,
  sizes: number[],
  kernel: "auto" | "ops",
): BenchDef<UpdateContext> {
  return {
    group: "hrnn-update",
    name: `taped hrnn update + backward (${kernel === "auto" ? "fused kernel" : "ops path"}), ${what}`,
    unit: "update",
    iterations: 30,
    warmup: 3,
    backend: () => tf.getBackend(),
    setup: async () => {
      await initBackend();
      const rng = new Rng(7);
      const params = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
      const grads = sizes.map((n) => tf.tensor1d(rng.normalArray(n).map((v) => v * 0.1)));
      const config = makeHrnnConfig();
      const meta = createMetaParams(config, 0);
      const opt = makeHrnn(meta, config, { seed: 0, kernel });
      const ctx: UpdateContext = { params, grads, opt, state: opt.init(params), meta };
      for (let i = 0; i < 3; i++) step(ctx);
      return ctx;
    },
    fn: (ctx): BenchExtra => {
      const meta = ctx.meta!;
      const names = Object.keys(meta).filter((k) => !k.startsWith("init/"));
      let nodes = 0;
      // Saved tensors are aliases, as in meta-training's unrolls (models/metatrain/unroll.ts).
      const g = withAliasedSaves(() =>
        tf.grads((...xs: tf.Tensor[]) => {
          const mp = { ...meta };
          names.forEach((k, i) => (mp[k] = xs[i]));
          const opt = makeHrnn(mp, makeHrnnConfig(), { seed: 0, kernel });
          const tape = tf.engine().state.activeTape;
          const before = tape.length;
          const r = opt.update(ctx.grads, ctx.state as HrnnState, ctx.params);
          nodes = tape.length - before;
          // The decay and LR readouts and the tensor / global RNNs reach only the new state.
          const st = r.state;
          const outs = [
            ...r.updates.map((u) => tf.sum(tf.square(u))),
            ...st.tensors.flatMap((s) =>
              [s.scl_decay, s.inp_decay, s.log_learning_rate!, s.layer!].map((t) => tf.sum(t))
            ),
            tf.sum(st.global!),
          ];
          return tf.addN(outs) as tf.Scalar;
        })(names.map((k) => meta[k]))
      );
      tf.dispose(g);
      return { tape_nodes: nodes };
    },
    teardown: disposeContext,
  };
}

/**
 * Adam and HRNN update (default = native where it loads, the wasm kernel, the ops path) at 1e4, 1e5, 1e6, then
 * the taped update + backward of meta-training on the fused kernel and on the ops path.
 */
export const benchmarks: BenchDef[] = [
  ...UPDATE_SIZES.flatMap((n) => [
    adamUpdateBench(n) as BenchDef,
    hrnnUpdateBench(n) as BenchDef,
    hrnnUpdateBench(n, "fused") as BenchDef,
    hrnnUpdateBench(n, "ops") as BenchDef,
  ]),
  ...TAPED_SIZES.flatMap(([what, sizes]) => [
    tapedUpdateBench(what, sizes, "auto") as BenchDef,
    tapedUpdateBench(what, sizes, "ops") as BenchDef,
  ]),
];

if (import.meta.main) {
  const results = await runBenches(benchmarks, {
    filter: Deno.args[0],
    onStart: (b) => console.error(`bench ${b.group}/${b.name} ...`),
  });
  console.log(formatBenchTable(results));
}
