/**
 * Stage `imagenet-transfer` (issue 6): the learned optimizer from `meta-train` trains the large ImageNet
 * ConvNets (Inception V3, ResNet V2) next to RMSProp and Adam at their standard ImageNet learning rates, and
 * the cost of each optimizer's update is measured at full network width. The experiment is
 * `models/evaluation/imagenet_transfer.ts` (training runs: `imagenet_run.ts`; overhead: `imagenet_overhead.ts`).
 *
 * Baselines: RMSProp at 0.045 (decay 0.9, ε 1.0, momentum `rmspropMomentum`, TF-slim's Inception training
 * recipe) and Adam at 1e-3, each also at every multiple in `lrMultipliers`.
 *
 * **Data.** Real ImageNet when `imagenetDir` is given (its default is env `LOPT_IMAGENET_DIR` read when the
 * pipeline starts, so it is part of the cache key), decoded lazily from the ILSVRC folder layout and
 * resized/center-cropped to the network's input. Otherwise the offline stand-in `mnist-rgb (stand-in)` (MNIST
 * digits resized and coloured, 10 classes, `tasks/imagenet/standin.ts`), named as such in every row, in the
 * log and in `summary.json` (`standIn: true`).
 *
 * @module
 */
import { join } from "node:path";
import { defineStage } from "../pipeline/stage.ts";
import type { ImagenetTransferParams } from "../models/evaluation/imagenet_config.ts";
import { IMAGENET_TRANSFER_PARAMS, IMAGENET_TRANSFER_PROFILES } from "./imagenet_params.ts";
import { loadLearnedOptimizer, WEIGHTS_FILE } from "../models/optimizers/learned_artifact.ts";
import { IMAGENET_CURVE_COLUMNS, IMAGENET_OVERHEAD_COLUMNS, IMAGENET_RUN_COLUMNS } from "./columns.ts";
import { CODE_DEPS } from "./code_deps.ts";

/** The `imagenet-transfer` stage. */
export const imagenetTransfer = defineStage<ImagenetTransferParams>({
  name: "imagenet-transfer",
  description:
    "Learned optimizer vs RMSProp/Adam on Inception V3 and ResNet V2; update overhead at full width",
  deps: ["meta-train"],
  // The stage's results are keyed by its code (codeDeps) and params; the version marks a change of what
  // its outputs mean that neither shows.
  version: "3",
  codeDeps: CODE_DEPS.imagenetTransfer,
  params: IMAGENET_TRANSFER_PARAMS,
  profiles: IMAGENET_TRANSFER_PROFILES,
  tables: [
    {
      name: "imagenet_runs",
      description: "one row per training run (network × optimizer × learning rate); dataset names stand-ins",
      columns: IMAGENET_RUN_COLUMNS,
    },
    {
      name: "imagenet_curves",
      description: "per-step training loss, time and memory of every run",
      columns: IMAGENET_CURVE_COLUMNS,
    },
    {
      name: "imagenet_overhead",
      description:
        "cost of one optimizer update vs a whole training step (see step_basis for how it was measured)",
      columns: IMAGENET_OVERHEAD_COLUMNS,
    },
  ],
  async run(ctx) {
    // TensorFlow.js and everything built on it load on first use (the CLI starts without them).
    const { runImagenetTransfer } = await import("../models/evaluation/imagenet_transfer.ts");
    const dir = ctx.inputs["meta-train"]?.dir;
    await runImagenetTransfer({
      params: ctx.params,
      sink: ctx,
      learned: dir
        ? { weightsPath: join(dir, WEIGHTS_FILE), load: (seed) => loadLearnedOptimizer(dir, seed) }
        : null,
      outDir: ctx.outDir,
      profile: ctx.profile,
      signal: ctx.signal,
    });
  },
});
