/**
 * The overhead measurement of the ImageNet transfer experiment: at `overheadWidth` (1 = the published
 * networks, 1000 classes) one update of each optimizer over all trainable weights (wasm: in parameter groups
 * under `overheadGroupBudgetMiB`, see `tasks/imagenet/overhead.ts`; the row says how many), the state bytes
 * per parameter, and a whole training step at the standard input measured at `overheadStepBatch` and, when
 * that differs from `overheadTargetBatch`, extrapolated linearly with a label saying so in `step_basis`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer } from "../../lib/optimizer.ts";
import { LEARNED_OPTIMIZER_NAME } from "../../lib/optimizer.ts";
import { makeBaseline } from "../optimizers/baselines.ts";
import { countParams, trainableVariables } from "../../tasks/imagenet/classifier_problem.ts";
import {
  gradMsAtBatch,
  maxGroupParams,
  planGroups,
  sliceLargeTensors,
  type StepTiming,
  timeTrainStep,
  timeUpdate,
  updatePeakBytesPerParam,
  type UpdateTiming,
  WASM_HEAP_BYTES,
} from "../../tasks/imagenet/overhead.ts";
import { ADAM_IMAGENET_LR, RMSPROP_IMAGENET_LR } from "./imagenet_config.ts";
import { buildNetwork, type ImagenetRunContext, type LearnedHandle } from "./imagenet_run.ts";

/**
 * Measures the overhead rows of one network (see the module doc), writes them to `imagenet_overhead` and
 * returns them.
 *
 * @example
 * ```ts
 * const rows = await measureOverhead(c, "inception_v3", "wasm");
 * ```
 */
export async function measureOverhead(
  c: ImagenetRunContext,
  network: string,
  backend: string,
): Promise<Record<string, unknown>[]> {
  const p = c.params;
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
  let learned: LearnedHandle | null = null;
  try {
    const params = countParams(model).trainable;
    const adamStep = makeBaseline("adam", { learningRate: ADAM_IMAGENET_LR });
    // Batch actually measured: the asked one, unless (wasm) a batch-1 probe says it cannot fit the heap.
    let batch = p.overheadStepBatch;
    if (backend === "wasm" && batch > 1) {
      const base = tf.memory().numBytes;
      const probe = await timeTrainStep(model, adamStep, 1, 0, p.seed);
      const perImage = Math.max(1, probe.peakBytes - base);
      const fits = Math.max(1, Math.floor((0.75 * WASM_HEAP_BYTES - base) / perImage));
      if (fits < batch) {
        c.sink.log(
          `${network}: a batch-${batch} step at ${inputSize} px needs about ${
            (base + batch * perImage) / 2 ** 30
          } ` +
            `GiB on wasm (4 GiB heap); measuring batch ${fits} and extrapolating`,
        );
        batch = fits;
      }
    }
    const step: StepTiming = await timeTrainStep(model, adamStep, batch, p.overheadRepeats, p.seed);
    const grad = gradMsAtBatch(step, p.overheadTargetBatch);
    c.sink.log(
      `${network} (width ${p.overheadWidth}, ${params} params): forward+backward ${
        step.gradMs.toFixed(0)
      } ms at ` +
        `batch ${batch}, ${inputSize} px -> ${grad.gradMs.toFixed(0)} ms (${grad.basis})`,
    );

    const vars = trainableVariables(model);
    const sizes = vars.map((v) => v.size);
    const opts: { name: string; lr: number | null; opt: Optimizer }[] = [
      { name: "adam", lr: ADAM_IMAGENET_LR, opt: adamStep },
      {
        name: "rmsprop",
        lr: RMSPROP_IMAGENET_LR,
        opt: makeBaseline("rmsprop", {
          learningRate: RMSPROP_IMAGENET_LR,
          decay: 0.9,
          epsilon: 1.0,
          momentum: p.rmspropMomentum,
        }),
      },
    ];
    if (p.optimizers.includes(LEARNED_OPTIMIZER_NAME)) {
      learned = await c.loadLearned(p.seed);
      opts.push({ name: LEARNED_OPTIMIZER_NAME, lr: null, opt: learned.optimizer });
    }
    // Transient memory of each update (pilot on the leading tensors; also warms up each optimizer).
    const peakPerParam: Record<string, number> = {};
    for (const o of opts) {
      peakPerParam[o.name] = await updatePeakBytesPerParam(o.opt, vars, 262_144, p.seed);
    }
    const worst = Math.max(...Object.values(peakPerParam));
    const total = sizes.reduce((a, b) => a + b, 0);
    const cap = backend === "wasm"
      ? maxGroupParams(p.overheadGroupBudgetMiB * 2 ** 20, worst, 100)
      : Infinity;
    const sliced = cap >= total ? { params: vars, created: [], split: 0 } : sliceLargeTensors(vars, cap);
    const timedVars = sliced.params;
    const groups = planGroups(timedVars.map((v) => v.size), cap >= total ? Infinity : cap);
    const method = groups.length === 1
      ? "one call over all tensors"
      : `${groups.length} groups of <= ${cap} params (wasm 4 GiB heap; summed)` +
        (sliced.split > 0 ? `; ${sliced.split} larger tensors timed as 1-D slices` : "");
    c.sink.log(`${network}: update transient bytes/param ${JSON.stringify(peakPerParam)}; ${method}`);

    const timings: Record<string, UpdateTiming> = {};
    for (const o of opts) {
      timings[o.name] = await timeUpdate(o.opt, timedVars, groups, p.seed);
      c.sink.log(`${network}/${o.name}: update ${timings[o.name].updateMs.toFixed(1)} ms`);
    }
    tf.dispose(sliced.created);
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
  c.sink.log(`${network}: overhead measured in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await c.sink.writeRows("imagenet_overhead", rows);
  return rows;
}
