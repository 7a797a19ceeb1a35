/**
 * The hierarchical RNN learned optimizer (Wichrowska et al. 2017; equations in README.md) as an `Optimizer`
 * (`lib/optimizer.ts`).
 *
 * One `update` runs §4.7 for every parameter tensor in order (steps 0–12), then the global RNN (step 13):
 * features from multi-timescale momentum and RMS scaling → per-coordinate GRU (level 0, biased by the old
 * tensor and global states) → per-tensor GRU on the tensor-means (level 1) → readouts: RMS-normalised direction
 * plus gradient shortcut, learned RMS/momentum decays for the next step, momentum-smoothed log learning rate
 * with a straight-through clip, step exp(ℓ̃ + c_off)·δ → global GRU on the last tensor's new level-1 state
 * (or the mean over tensors, `globalInput: "mean"`).
 *
 * Where it runs (option `kernel`, `kernel_choice.ts`): on the wasm backend the fused kernel (same results to
 * float32 rounding, several times faster), its native x86-64 build where that loads (`native.ts`), else its
 * WebAssembly build: when no gradient is being recorded the inference pass of `fused.ts`, while one is its
 * differentiable form `fused_taped.ts` (one tfjs kernel per update with a hand-written backward; every config
 * but attention). On the webgpu backend the WGSL pass of `webgpu.ts` when no gradient is recorded. Otherwise
 * the differentiable tfjs ops of `ops_update.ts` and `ops_block.ts`. The state layout is described in `state.ts`.
 * With `lazyZeroGradients`, `lazy.ts` then freezes every coordinate whose gradient is exactly 0, whichever path ran.
 *
 * @example
 * ```ts
 * import { makeHrnn } from "./hrnn.ts";
 * const opt = makeHrnn(initMetaParams(config, 0), config, { seed: 0 });
 * const state = opt.init(params);
 * const { updates, state: next } = opt.update(grads, state, params);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import { type HrnnConfig, validateConfig } from "./config.ts";
import { MAX_BLOCK_COORDS } from "./segments.ts";
import { type MetaParams, validateMetaParams } from "./meta_params.ts";
import type { HrnnOptimizer, HrnnState } from "./state.ts";
import { initHrnnState } from "./init.ts";
import { makeOpsUpdate } from "./ops_update.ts";
import { type HrnnKernel, makeKernelChoice } from "./kernel_choice.ts";
import { maskZeroGradients } from "./lazy.ts";

export type { HrnnOptimizer, HrnnState, HrnnTensorState } from "./state.ts";

/**
 * Options of {@link makeHrnn}.
 *
 * @example
 * ```ts
 * const opts: HrnnOptions = { seed: 1, kernel: "ops" };
 * ```
 */
export interface HrnnOptions {
  /** Stream for the random initial log learning rates; each `init` call continues it. */
  rng?: Rng;
  /** Seed for a fresh stream when `rng` is not given (default 0). */
  seed?: number;
  /** Optimizer name (default `hrnn`). */
  name?: string;
  /**
   * Small consecutive tensors are updated together in blocks of at most this many coordinates (default
   * {@link MAX_BLOCK_COORDS}); 0 updates every tensor on its own. Results agree to float32 rounding.
   */
  maxBlockCoords?: number;
  /**
   * How `update` computes: `"ops"` = differentiable tfjs ops; `"fused"` = the WebAssembly SIMD kernel of
   * `fused.ts` (wasm backend only; an error elsewhere), and while a gradient is being recorded its
   * differentiable form (`fused_taped.ts`: one tfjs kernel per update with a hand-written backward);
   * `"native"` = the same kernels compiled for x86-64, loaded through FFI (`native.ts`: Linux x86-64 and
   * `--allow-ffi`; an error elsewhere); `"auto"` (default) = native, else fused, when the backend is wasm and the
   * config is supported (every option but attention, which runs on the ops path), else ops — recording a
   * gradient or not. On the `webgpu` backend, `"auto"` and `"webgpu"` run the WGSL compute shader of
   * `webgpu.ts`, recording a gradient or not (its backward is the WGSL VJP of `webgpu_vjp.ts`; `"webgpu"`
   * elsewhere is an error).
   */
  kernel?: HrnnKernel;
}

/** Throws unless the gradients and parameters match the state's tensors. */
function checkShapes(grads: tf.Tensor[], state: HrnnState, params: tf.Tensor[]): void {
  if (grads.length !== state.tensors.length || params.length !== state.tensors.length) {
    throw new Error(
      `HRNN update got ${grads.length} gradients and ${params.length} parameters for a state of ` +
        `${state.tensors.length} tensors; call init() with the same parameter list.`,
    );
  }
  grads.forEach((g, j) => {
    const n = state.tensors[j].scl_decay.shape[1];
    if (g.size !== n || params[j].size !== n) {
      throw new Error(
        `HRNN update: tensor ${j} has ${g.size} gradient / ${
          params[j].size
        } parameter entries, state has ${n}.`,
      );
    }
  });
}

/**
 * Builds the hierarchical RNN optimizer from meta-parameters (see `meta_params.ts`) and a config. The
 * meta-parameter tensors are used as given (not copied), so gradients w.r.t. them flow through `update`; the
 * caller keeps ownership. `init` draws the initial log learning rates from `opts.rng` (or a stream seeded by
 * `opts.seed`). `evalParams` exists only with attention and returns copies of the true parameters.
 *
 * @example
 * ```ts
 * const opt = makeHrnn(meta, config, { kernel: "ops" });
 * const { updates } = opt.update(grads, opt.init(params), params);
 * ```
 */
export function makeHrnn(metaParams: MetaParams, config: HrnnConfig, opts: HrnnOptions = {}): HrnnOptimizer {
  validateConfig(config);
  validateMetaParams(metaParams, config);
  const mp = metaParams;
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const choice = makeKernelChoice(mp, config, opts.kernel ?? "auto");
  const opsUpdate = makeOpsUpdate(mp, config, opts.maxBlockCoords ?? MAX_BLOCK_COORDS);

  function update(grads: tf.Tensor[], state: HrnnState, params: tf.Tensor[]) {
    const result = anyPathUpdate(grads, state, params);
    return config.lazyZeroGradients ? maskZeroGradients(grads, state, result) : result;
  }

  function anyPathUpdate(grads: tf.Tensor[], state: HrnnState, params: tf.Tensor[]) {
    checkShapes(grads, state, params);
    const counts = state.tensors.map((s) => s.scl_decay.shape[1]);
    const onGpu = choice.webgpu(counts);
    if (onGpu) return onGpu.update(grads, state, params);
    const fast = choice.fused(counts);
    if (fast) return fast.update(grads, state, params);
    const fastTaped = choice.taped(counts);
    if (fastTaped) return fastTaped.update(grads, state, params);
    return opsUpdate(grads, state, params);
  }

  /**
   * Several independent instances at once: while a gradient is recorded on the fused kernel, one kernel call
   * for every instance's tensors; otherwise one update per instance.
   */
  function updateInstances(grads: tf.Tensor[][], states: HrnnState[], params: tf.Tensor[][]) {
    states.forEach((s, b) => checkShapes(grads[b], s, params[b]));
    const counts = states.flatMap((s) => s.tensors.map((t) => t.scl_decay.shape[1]));
    const fastTaped = choice.fused(counts) ? null : choice.taped(counts);
    if (!fastTaped) return states.map((s, b) => update(grads[b], s, params[b]));
    const results = fastTaped.updateInstances(grads, states, params);
    return config.lazyZeroGradients
      ? results.map((r, b) => maskZeroGradients(grads[b], states[b], r))
      : results;
  }

  const opt: HrnnOptimizer = {
    name: opts.name ?? "hrnn",
    config,
    init: (params) => initHrnnState(mp, config, rng, params),
    update,
    updateInstances,
  };
  if (config.useAttention) {
    opt.evalParams = (state: HrnnState) => state.tensors.map((s) => tf.clone(s.true_param!));
  }
  return opt;
}
