/**
 * Benchmark of meta-gradients on the `webgpu` backend: the gradient, with respect to every meta-parameter and
 * the incoming gradients, of a fixed linear function of one HRNN update (paper config), through the WGSL pass
 * and its WGSL vector-Jacobian product (`models/hrnn/webgpu_vjp.ts`) and through the tfjs ops path, interleaved
 * per iteration on the same adapter. Extra metrics `wgsl_ms`, `ops_ms` (medians) and `ops_over_wgsl`.
 *
 * @example
 * ```ts
 * import { webgpuTapedBench } from "./webgpu_taped.bench.ts";
 * const bench = webgpuTapedBench(1e4); // deno task bench --filter "webgpu/taped"
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { backendDescription, initBackend } from "../lib/backend.ts";
import { Rng } from "../lib/rng.ts";
import { median } from "../lib/stats.ts";
import { disposeTree } from "../lib/state_tree.ts";
import type { BenchDef, BenchExtra } from "../pipeline/bench.ts";
import { makeHrnnConfig } from "../models/hrnn/config.ts";
import { makeHrnn } from "../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams, type MetaParams } from "../models/hrnn/meta_params.ts";
import type { Optimizer, OptState } from "../lib/optimizer.ts";
import { splitSizes } from "./hrnn.bench.ts";

type Path = "wgsl" | "ops";

interface TapedContext {
  params: tf.Tensor[];
  grads: tf.Tensor[];
  weights: tf.Tensor[];
  meta: MetaParams;
  names: string[];
  states: Record<Path, OptState>;
  ms: Record<Path, number[]>;
}

/** One taped update and its backward on `path`, to completion; returns its milliseconds. */
async function timedGradient(ctx: TapedContext, path: Path): Promise<number> {
  const config = makeHrnnConfig();
  const t0 = performance.now();
  const xs = [...ctx.names.map((n) => ctx.meta[n]), ...ctx.grads];
  const f = (...x: tf.Tensor[]) => {
    const mp: MetaParams = { ...ctx.meta };
    ctx.names.forEach((n, i) => (mp[n] = x[i]));
    const opt: Optimizer = makeHrnn(mp, config, { seed: 0, kernel: path === "wgsl" ? "webgpu" : "ops" });
    // tf.grads runs this in a tidy: the new state is released with the other intermediates.
    const { updates } = opt.update(x.slice(ctx.names.length), ctx.states[path], ctx.params);
    // Inputs the first update does not reach still get a (zero) gradient.
    const reach = x.map((xi) => tf.mul(tf.sum(xi), 0));
    return tf.addN([...updates.map((u, i) => tf.sum(tf.mul(u, ctx.weights[i]))), ...reach]) as tf.Scalar;
  };
  const g = tf.grads(f)(xs);
  await g[g.length - 1].data();
  const ms = performance.now() - t0;
  tf.dispose(g);
  return ms;
}

/**
 * Meta-gradient of one HRNN update (WGSL VJP vs ops path) at `total` parameters in four tensors, on webgpu.
 *
 * @example
 * ```ts
 * registerBenches([webgpuTapedBench(1e4) as BenchDef]);
 * ```
 */
export function webgpuTapedBench(total: number): BenchDef<TapedContext> {
  const label = `1e${Math.round(Math.log10(total))}`;
  return {
    group: "webgpu",
    name: `taped hrnn update + backward (paper config: WGSL VJP, ops path), ${label} params in 4 tensors`,
    unit: "gradient",
    iterations: 5,
    warmup: 1,
    backend: () => backendDescription(),
    setup: async () => {
      await initBackend("webgpu");
      const rng = new Rng(11);
      const sizes = splitSizes(total);
      const params = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
      const grads = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
      const weights = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
      const config = makeHrnnConfig();
      const meta = createMetaParams(config, 0);
      const names = Object.keys(meta).filter((k) => !k.startsWith("init/")).sort();
      const start = (kernel: "webgpu" | "ops"): OptState => {
        const opt: Optimizer = makeHrnn(meta, config, { seed: 0, kernel });
        return opt.init(params);
      };
      return {
        params,
        grads,
        weights,
        meta,
        names,
        states: { wgsl: start("webgpu"), ops: start("ops") },
        ms: { wgsl: [], ops: [] },
      };
    },
    fn: async (ctx): Promise<BenchExtra> => {
      for (const p of ["wgsl", "ops"] as const) ctx.ms[p].push(await timedGradient(ctx, p));
      const [w, o] = [median(ctx.ms.wgsl), median(ctx.ms.ops)];
      return { wgsl_ms: w, ops_ms: o, ops_over_wgsl: o / w, params: total };
    },
    teardown: (ctx) => {
      tf.dispose([...ctx.params, ...ctx.grads, ...ctx.weights]);
      disposeTree(ctx.states.wgsl);
      disposeTree(ctx.states.ops);
      disposeMetaParams(ctx.meta);
    },
    headline: (e) =>
      `webgpu ${label}: taped HRNN update + backward, WGSL VJP ${Number(e.wgsl_ms).toFixed(1)} ms, ops path ${
        Number(e.ops_ms).toFixed(1)
      } ms (${Number(e.ops_over_wgsl).toFixed(2)}x) on ${backendDescription()}`,
  };
}

/** The taped webgpu benches. */
export const benchmarks: BenchDef[] = [webgpuTapedBench(1e4) as BenchDef];
