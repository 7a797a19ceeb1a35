/**
 * Benchmarks of the paper's scalability point on the full-width ImageNet networks (Inception V3, 23.8M
 * trainable parameters; ResNet-50 V2, 25.6M): one update of Adam, RMSProp (0.045, decay 0.9, ε 1) and the
 * learned optimizer over all trainable weights, and a training step, on the backend of `initBackend()`
 * (wasm unless LOPT_BACKEND says otherwise).
 *
 * - The learned optimizer uses `hrnn.weights` from env `LOPT_HRNN_WEIGHTS` when set (a meta-train artifact's
 *   file), otherwise UNTRAINED meta-parameters (`createMetaParams(makeHrnnConfig(), 0)`); the timing does not
 *   depend on the values. The `weights` extra says which.
 * - On wasm (4 GiB heap) the updates run in parameter groups (`tasks/imagenet/overhead.ts`), the same groups
 *   for every optimizer; the `groups` extra gives the count.
 * - The step bench runs batch `LOPT_BENCH_STEP_BATCH` (default 1) at the standard input (299 px / 224 px);
 *   `update_share` compares an update with a batch-32 step EXTRAPOLATED linearly from it (`step_basis` says so).
 *
 * Each update bench's extras: `update_ms` (the sum of the timed group updates; the bench's own wall time also
 * includes the states' set-up and a warm-up), `ratio_vs_adam`, `state_bytes_per_param`, `update_share`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BenchDef, BenchExtra } from "../pipeline/bench.ts";
import { initBackend } from "../lib/backend.ts";
import { makeBaseline } from "../models/optimizers/baselines.ts";
import { makeHrnnConfig } from "../models/hrnn/config.ts";
import { makeHrnn } from "../models/hrnn/hrnn.ts";
import { createMetaParams, disposeMetaParams } from "../models/hrnn/meta_params.ts";
import { loadWeights } from "../models/hrnn/weights_file.ts";
import { inceptionV3 } from "../tasks/imagenet/inception_v3.ts";
import { resnetV2 } from "../tasks/imagenet/resnet_v2.ts";
import {
  gradMsAtBatch,
  maxGroupParams,
  planGroups,
  sliceLargeTensors,
  type StepTiming,
  timeTrainStep,
  timeUpdate,
  updatePeakBytesPerParam,
} from "../tasks/imagenet/overhead.ts";
import { trainableVariables } from "../tasks/imagenet/classifier_problem.ts";
import { LEARNED_OPTIMIZER_NAME, type Optimizer } from "../lib/optimizer.ts";

/** Shared per-network context: the model, its groups and the results of the benches run so far. */
interface NetCtx {
  model: tf.LayersModel;
  /** The trainable weights, with tensors above the group cap replaced by 1-D slices (wasm). */
  vars: tf.Tensor[];
  created: tf.Tensor[];
  backend: string;
  groups: number[][];
  adamMs?: number;
  step?: StepTiming;
}

const nets: Record<string, NetCtx> = {};
const cleanups: (() => void)[] = [];

async function learnedOptimizer(): Promise<{ opt: Optimizer; weights: string }> {
  const path = Deno.env.get("LOPT_HRNN_WEIGHTS");
  const loaded = path ? await loadWeights(path) : {
    optimizer: "hrnn" as const,
    metaParams: createMetaParams(makeHrnnConfig(), 0),
    config: makeHrnnConfig(),
  };
  cleanups.push(() => disposeMetaParams(loaded.metaParams));
  if (loaded.optimizer !== "hrnn") {
    throw new Error(`LOPT_HRNN_WEIGHTS=${path} holds ${loaded.optimizer} weights; this bench times the HRNN`);
  }
  return {
    opt: makeHrnn(loaded.metaParams, loaded.config, { seed: 0, name: LEARNED_OPTIMIZER_NAME }),
    weights: path ? path : "untrained (createMetaParams seed 0)",
  };
}

async function netCtx(network: string): Promise<NetCtx> {
  if (nets[network]) return nets[network];
  const backend = await initBackend();
  const model = network === "inception_v3" ? inceptionV3() : resnetV2({ depth: 50 });
  let vars: tf.Tensor[] = trainableVariables(model);
  let created: tf.Tensor[] = [];
  let groups = planGroups(vars.map((v) => v.size), Infinity);
  if (backend === "wasm") {
    const { opt } = await learnedOptimizer();
    const cap = maxGroupParams(2 * 2 ** 30, await updatePeakBytesPerParam(opt, vars), 100);
    const sliced = sliceLargeTensors(vars, cap);
    vars = sliced.params;
    created = sliced.created;
    groups = planGroups(vars.map((v) => v.size), cap);
  }
  nets[network] = { model, vars, created, backend, groups };
  return nets[network];
}

function stepBench(network: string): BenchDef<NetCtx> {
  const batch = Number(Deno.env.get("LOPT_BENCH_STEP_BATCH") ?? "1");
  const size = network === "inception_v3" ? 299 : 224;
  return {
    name: `${network} full-width training step, batch ${batch}, ${size} px (adam)`,
    group: "imagenet-overhead",
    iterations: 1,
    warmup: 0,
    unit: "step",
    backend: () => tf.getBackend(),
    setup: () => netCtx(network),
    async fn(ctx): Promise<BenchExtra> {
      const adam = makeBaseline("adam", {});
      ctx.step = await timeTrainStep(ctx.model, adam, batch, 1);
      const g = gradMsAtBatch(ctx.step, 32);
      return {
        forward_backward_ms: ctx.step.gradMs,
        batch32_forward_backward_ms: g.gradMs,
        step_basis: g.basis,
      };
    },
  };
}

function updateBench(network: string, optimizer: "adam" | "rmsprop" | "learned"): BenchDef<NetCtx> {
  return {
    name: `${network} full-width ${optimizer} update`,
    group: "imagenet-overhead",
    iterations: 1,
    warmup: 0,
    unit: "update",
    backend: () => tf.getBackend(),
    setup: () => netCtx(network),
    async fn(ctx): Promise<BenchExtra> {
      let opt: Optimizer;
      let weights: string | null = null;
      if (optimizer === "learned") {
        const l = await learnedOptimizer();
        opt = l.opt;
        weights = l.weights;
      } else {
        opt = makeBaseline(
          optimizer,
          optimizer === "rmsprop" ? { learningRate: 0.045, decay: 0.9, epsilon: 1, momentum: 0.9 } : {},
        );
      }
      const t = await timeUpdate(opt, ctx.vars, ctx.groups);
      if (optimizer === "adam") ctx.adamMs = t.updateMs;
      const extra: BenchExtra = {
        update_ms: t.updateMs,
        params: t.params,
        groups: t.groups,
        state_bytes_per_param: t.stateBytesPerParam,
        ratio_vs_adam: ctx.adamMs ? t.updateMs / ctx.adamMs : null,
      };
      if (ctx.step) {
        const g = gradMsAtBatch(ctx.step, 32);
        extra.update_share = t.updateMs / (g.gradMs + t.updateMs);
        extra.step_basis = g.basis;
      }
      if (weights) extra.weights = weights;
      return extra;
    },
  };
}

/** The ImageNet overhead benches, in the order they must run (step, then Adam before the others). */
export const benchmarks: BenchDef[] = (["inception_v3", "resnet_v2"] as const).flatMap((n) =>
  [
    stepBench(n),
    updateBench(n, "adam"),
    updateBench(n, "rmsprop"),
    {
      ...updateBench(n, "learned"),
      teardown: () => {
        nets[n]?.model.dispose();
        tf.dispose(nets[n]?.created ?? []);
        delete nets[n];
        cleanups.splice(0).forEach((f) => f());
      },
    },
  ] as BenchDef[]
);

if (import.meta.main) {
  const { runBenches, formatBenchTable } = await import("../pipeline/bench.ts");
  const filter = Deno.args[0];
  console.log(formatBenchTable(await runBenches(benchmarks, { filter })));
}
