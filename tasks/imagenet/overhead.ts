/**
 * Cost of an optimizer on an ImageNet network: the wall time of one optimizer update over all trainable
 * weights, the optimizer's state in bytes per parameter, its transient peak memory during an update, and the
 * time of a whole training step, so that the update's share of a step can be reported (the paper's
 * scalability claim: the learned optimizer's update is a small part of a step of a large ConvNet).
 *
 * **Grouped updates.** The tfjs `wasm` backend has a 4 GiB heap ({@link WASM_HEAP_BYTES}). An optimizer whose
 * update needs more than that at once (the hierarchical RNN at full Inception V3 width needs about 1.3 KB of
 * temporaries per parameter) cannot run in one call there. {@link planGroups} then splits the parameter
 * tensors into consecutive groups under a parameter budget, and {@link timeUpdate} times one update per
 * group, each from a fresh state, and sums them. The per-coordinate work is the same; what differs from a
 * single call is the per-call work repeated per group (tiny: a few global ops) and that the cross-tensor
 * inputs (a learned optimizer's problem-wide mean, its global RNN) are per group. Results say how many groups
 * were used; compare optimizers only at the same grouping.
 *
 * Everything here works on any lopt {@link Optimizer} (`lib/optimizer.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer, OptState } from "../../lib/optimizer.ts";
import { median } from "../../lib/stats.ts";
import {
  addInPlace,
  classifierLossAndGrads,
  initOptimizerState,
  optimizerStateBytes,
  trainableVariables,
} from "./classifier_problem.ts";
import { disposeReplaced } from "../../lib/state_tree.ts";

/** Largest heap of the tfjs wasm backend (4.22.0: `getHeapMax()` = 65535 pages of 64 KiB). */
export const WASM_HEAP_BYTES = 4294901760;

/** Timing of one optimizer update over a list of parameter tensors. */
export interface UpdateTiming {
  /** Number of parameters (coordinates) updated. */
  params: number;
  /** Wall time of one update over all of them, in milliseconds (the sum over groups). */
  updateMs: number;
  /** Bytes of the optimizer state (all groups). */
  stateBytes: number;
  /** `stateBytes / params`. */
  stateBytesPerParam: number;
  /** Number of groups the update ran in (1: one call). */
  groups: number;
}

/** Number of elements of a shape. */
function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Splits tensors of the given sizes into consecutive groups of at most `maxGroupParams` parameters (a tensor
 * larger than that forms a group of its own). Returns the tensor indices of each group; `Infinity` gives one
 * group.
 *
 * @example
 * ```ts
 * planGroups([100, 300, 50, 600], 400); // [[0, 1], [2], [3]]
 * planGroups([100, 300, 50, 600], Infinity); // [[0, 1, 2, 3]]
 * ```
 */
export function planGroups(sizes: readonly number[], maxGroupParams: number): number[][] {
  if (!(maxGroupParams > 0)) throw new Error(`maxGroupParams must be positive, got ${maxGroupParams}.`);
  const groups: number[][] = [];
  let cur: number[] = [];
  let count = 0;
  sizes.forEach((n, i) => {
    if (cur.length > 0 && count + n > maxGroupParams) {
      groups.push(cur);
      cur = [];
      count = 0;
    }
    cur.push(i);
    count += n;
  });
  if (cur.length > 0) groups.push(cur);
  return groups;
}

/**
 * The parameter list to time updates on when no call may exceed `maxParams` parameters: `params` with every
 * tensor larger than that replaced by 1-D stand-in tensors of at most `maxParams` elements covering the same
 * number of parameters (the per-coordinate work is the same; per-tensor statistics are then per slice).
 * `created` are the new tensors (the caller disposes them); `split` counts the tensors that were split.
 *
 * @example
 * ```ts
 * const { params, created, split } = sliceLargeTensors(trainableVariables(model), 1_000_000);
 * const timing = await timeUpdate(optimizer, params);
 * tf.dispose(created);
 * ```
 */
export function sliceLargeTensors(
  params: tf.Tensor[],
  maxParams: number,
): { params: tf.Tensor[]; created: tf.Tensor[]; split: number } {
  const out: tf.Tensor[] = [];
  const created: tf.Tensor[] = [];
  let split = 0;
  for (const p of params) {
    if (p.size <= maxParams) {
      out.push(p);
      continue;
    }
    split++;
    for (let start = 0; start < p.size; start += maxParams) {
      const t = tf.zeros([Math.min(maxParams, p.size - start)]);
      out.push(t);
      created.push(t);
    }
  }
  return { params: out, created, split };
}

/** Seeded small random gradients shaped like `params` (stddev 1e-3, the scale of real ConvNet gradients). */
function fakeGrads(params: tf.Tensor[], seed: number): tf.Tensor[] {
  return params.map((p, i) => tf.randomNormal(p.shape, 0, 1e-3, "float32", seed + i));
}

function initState(optimizer: Optimizer, params: tf.Tensor[]): OptState {
  return tf.tidy(() => optimizer.init(params));
}

function disposeTree(s: OptState): void {
  tf.dispose(s);
}

/**
 * Runs `fn` under `tf.profile` and returns its result with the engine's peak byte count during the call
 * (absolute: every live tensor). Output values are not read back for NaN checks while profiling.
 *
 * @example
 * ```ts
 * const { result, peakBytes } = await withPeakBytes(() => model.predict(x) as tf.Tensor);
 * ```
 */
export async function withPeakBytes<T>(fn: () => T | Promise<T>): Promise<{ result: T; peakBytes: number }> {
  const flag = "CHECK_COMPUTATION_FOR_ERRORS";
  const saved = tf.env().getBool(flag);
  tf.env().set(flag, false);
  let result: T | undefined;
  try {
    const info = await tf.profile(async () => {
      result = await fn();
      return [] as tf.Tensor[];
    });
    return { result: result as T, peakBytes: Math.max(info.peakBytes, tf.memory().numBytes) };
  } finally {
    tf.env().set(flag, saved);
  }
}

/** One update of `optimizer` on `params` from a fresh state; returns its wall time and the state's bytes. */
async function oneUpdate(
  optimizer: Optimizer,
  params: tf.Tensor[],
  seed: number,
  profile = false,
): Promise<{ ms: number; stateBytes: number; peakBytes: number }> {
  const grads = fakeGrads(params, seed);
  const state = initState(optimizer, params);
  const stateBytes = optimizerStateBytes(state);
  const before = tf.memory().numBytes;
  const run = async () => {
    const t0 = performance.now();
    const out = tf.tidy(() => {
      const r = optimizer.update(grads, state, params);
      return { updates: r.updates, state: r.state };
    });
    // Synchronise on the last update (asynchronous backends; free on wasm and tfjs-node).
    await out.updates[out.updates.length - 1].data();
    return { out, ms: performance.now() - t0 };
  };
  let r: Awaited<ReturnType<typeof run>>;
  let peak = before;
  if (profile) {
    const p = await withPeakBytes(run);
    r = p.result;
    peak = p.peakBytes;
  } else {
    r = await run();
  }
  tf.dispose(r.out.updates);
  disposeTree(r.out.state);
  disposeTree(state);
  tf.dispose(grads);
  return { ms: r.ms, stateBytes, peakBytes: Math.max(0, peak - before) };
}

/**
 * Transient memory of one update of `optimizer` per parameter: the engine's peak byte count during the
 * update minus the bytes held before it (parameters, gradients and the old state), divided by the number of
 * parameters. Measured on the leading tensors of `params` up to about `pilotParams` parameters (at least one
 * tensor), which also serves as a warm-up call.
 *
 * @example
 * ```ts
 * const peak = await updatePeakBytesPerParam(makeBaseline("adam", {}), trainableVariables(model));
 * ```
 */
export async function updatePeakBytesPerParam(
  optimizer: Optimizer,
  params: tf.Tensor[],
  pilotParams = 262_144,
  seed = 0,
): Promise<number> {
  const first = planGroups(params.map((p) => numel(p.shape)), pilotParams)[0];
  const sub = first.map((i) => params[i]);
  const n = sub.reduce((a, p) => a + p.size, 0);
  return (await oneUpdate(optimizer, sub, seed, true)).peakBytes / n;
}

/**
 * The largest group (in parameters) whose update fits `budgetBytes` given the optimizer's transient bytes
 * per parameter and its state bytes per parameter (gradients count 4 bytes per parameter too).
 *
 * @example
 * ```ts
 * maxGroupParams(WASM_HEAP_BYTES / 2, 1300, 8); // 1636776
 * ```
 */
export function maxGroupParams(
  budgetBytes: number,
  peakBytesPerParam: number,
  stateBytesPerParam: number,
): number {
  return Math.max(1, Math.floor(budgetBytes / (peakBytesPerParam + stateBytesPerParam + 4)));
}

/**
 * Times one update of `optimizer` over `params` split into `groups` (see the module doc): an untimed warm-up
 * update on the largest group (so heap growth and first-call set-up are not timed), then one timed update per
 * group from a fresh state, summed. Gradients are seeded random tensors; `params` are not modified.
 *
 * @example
 * ```ts
 * const params = trainableVariables(model);
 * const groups = planGroups(params.map((p) => p.size), maxGroupParams(WASM_HEAP_BYTES / 2, peak, 8));
 * const { updateMs, stateBytesPerParam } = await timeUpdate(optimizer, params, groups);
 * ```
 */
export async function timeUpdate(
  optimizer: Optimizer,
  params: tf.Tensor[],
  groups: number[][] = [params.map((_, i) => i)],
  seed = 0,
): Promise<UpdateTiming> {
  const sizes = params.map((p) => numel(p.shape));
  const groupSize = (g: number[]) => g.reduce((a, i) => a + sizes[i], 0);
  const largest = groups.reduce((a, g) => (groupSize(g) > groupSize(a) ? g : a), groups[0]);
  await oneUpdate(optimizer, largest.map((i) => params[i]), seed);
  let updateMs = 0;
  let stateBytes = 0;
  for (let k = 0; k < groups.length; k++) {
    const r = await oneUpdate(optimizer, groups[k].map((i) => params[i]), seed + 1000 * (k + 1));
    updateMs += r.ms;
    stateBytes += r.stateBytes;
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  return {
    params: total,
    updateMs,
    stateBytes,
    stateBytesPerParam: stateBytes / total,
    groups: groups.length,
  };
}

/** Timing of a whole training step at one batch size. */
export interface StepTiming {
  /** Batch size measured. */
  batch: number;
  /** Input side in pixels. */
  inputSize: number;
  /** Forward + backward pass (median over the timed steps), ms. */
  gradMs: number;
  /** Optimizer update + weight write of the step's optimizer (median), ms. */
  updateMs: number;
  /** Whole step (median), ms. */
  stepMs: number;
  /** Engine peak bytes during the untimed warm-up step (absolute, all live tensors). */
  peakBytes: number;
  /** Timed steps. */
  repeats: number;
}

/**
 * One measured training step: forward + backward (synchronised on the loss), then the update written into
 * the weights (synchronised on the last weight). Returns the new state (the old one's replaced tensors are
 * disposed) and the two times in milliseconds.
 */
async function measuredStep(
  model: tf.LayersModel,
  optimizer: Optimizer,
  state: OptState,
  x: tf.Tensor,
  y: tf.Tensor,
): Promise<{ state: OptState; gradMs: number; updateMs: number; stepMs: number }> {
  const vars = trainableVariables(model);
  const t0 = performance.now();
  const { loss, grads } = tf.tidy(() => classifierLossAndGrads(model, x, y));
  await loss.data();
  const t1 = performance.now();
  const next = tf.tidy(() => {
    const r = optimizer.update(grads, state, vars);
    addInPlace(vars, r.updates);
    return r.state;
  });
  await vars[vars.length - 1].data();
  disposeReplaced(state, next);
  const t2 = performance.now();
  tf.dispose([loss, ...grads]);
  return { state: next, gradMs: t1 - t0, updateMs: t2 - t1, stepMs: t2 - t0 };
}

/**
 * Times a training step of `model` with `optimizer` on a seeded random batch of `batch` images (uniform pixels,
 * labels cycling over the classes): one untimed warm-up step (its peak memory is recorded), then `repeats`
 * timed steps. The model's weights are changed by the steps; use a throw-away model.
 *
 * @example
 * ```ts
 * const model = resnetV2({ depth: 26, numClasses: 10, inputSize: 64 });
 * const { gradMs, updateMs, stepMs } = await timeTrainStep(model, makeBaseline("adam", {}), 8, 3);
 * ```
 */
export async function timeTrainStep(
  model: tf.LayersModel,
  optimizer: Optimizer,
  batch: number,
  repeats = 1,
  seed = 0,
): Promise<StepTiming> {
  const size = model.inputs[0].shape[1] as number;
  const numClasses = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const x = tf.randomUniform([batch, size, size, 3], 0, 1, "float32", seed);
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % numClasses), "int32");
  let state = initOptimizerState(model, optimizer);
  const grad: number[] = [];
  const upd: number[] = [];
  const step: number[] = [];
  let peakBytes = 0;
  try {
    const warm = await withPeakBytes(() => measuredStep(model, optimizer, state, x, y));
    state = warm.result.state;
    peakBytes = warm.peakBytes;
    for (let i = 0; i < repeats; i++) {
      const r = await measuredStep(model, optimizer, state, x, y);
      state = r.state;
      grad.push(r.gradMs);
      upd.push(r.updateMs);
      step.push(r.stepMs);
    }
  } finally {
    disposeTree(state);
    tf.dispose([x, y]);
  }
  return {
    batch,
    inputSize: size,
    gradMs: median(grad),
    updateMs: median(upd),
    stepMs: median(step),
    peakBytes,
    repeats,
  };
}

/**
 * Forward + backward time of a step at `targetBatch` from one measured at `measured.batch`: the measured value
 * when the batches agree, otherwise scaled linearly in the batch size (an estimate: per-op overheads make
 * small batches relatively slower, so this tends to overstate a large batch's time), with a label saying which.
 *
 * @example
 * ```ts
 * const { gradMs, basis } = gradMsAtBatch(step, 256); // linear estimate unless step.batch is 256
 * ```
 */
export function gradMsAtBatch(measured: StepTiming, targetBatch: number): { gradMs: number; basis: string } {
  if (measured.batch === targetBatch) {
    return {
      gradMs: measured.gradMs,
      basis: `measured at batch ${targetBatch}, ${measured.inputSize} px`,
    };
  }
  return {
    gradMs: measured.gradMs * targetBatch / measured.batch,
    basis: `EXTRAPOLATED to batch ${targetBatch} (linear in batch) from a measured batch-${measured.batch} ` +
      `step at ${measured.inputSize} px`,
  };
}
