/**
 * Stage `meta-train`: meta-trains the hierarchical RNN optimizer on the ensemble of `generate-tasks` (split
 * train) and publishes its weights file. Checkpoints live outside the staging directory
 * (`<results>/checkpoints/meta-train/<key>/`), so a run that is killed resumes from its last intact checkpoint
 * (each carries a checksum; a damaged or edited one is skipped, and with none left the run starts from scratch).
 * A meta-step that makes the meta-parameters non-finite fails the stage before it is checkpointed, and the
 * weights file is never written with non-finite values, so nothing non-finite is ever published.
 *
 * @module
 */
import { join } from "node:path";
import { defineStage } from "../pipeline/stage.ts";
import { gitCommit } from "../pipeline/git.ts";
import type { HrnnConfig } from "../models/hrnn/config.ts";
import { readTaskSet } from "./task_set.ts";
import { WEIGHTS_FILE } from "../models/optimizers/learned_artifact.ts";
import type { LearnedConfig } from "../models/hrnn/weights_file.ts";
import type { MetaTrainSetupArgs } from "./meta_train_setup.ts";
import { META_TRAIN_PARAMS } from "./meta_train_params.ts";
import {
  META_TRAIN_PROFILES,
  type MetaTrainParams,
  metaTrainSettings,
  validateMetaTrainParams,
} from "./meta_train_settings.ts";
import { CODE_DEPS } from "./code_deps.ts";

/** The `meta-train` stage. */
export const metaTrainStage = defineStage<MetaTrainParams>({
  name: "meta-train",
  description:
    "Meta-trains the hierarchical RNN (or the learned optimizer `optimizer` names) on the training ensemble (weights file)",
  deps: ["generate-tasks"],
  // The stage's results are keyed by its code (codeDeps) and params; the version marks a change of what
  // its outputs mean that neither shows.
  version: "3",
  codeDeps: CODE_DEPS.metaTrain,
  params: META_TRAIN_PARAMS,
  profiles: META_TRAIN_PROFILES,
  validate: validateMetaTrainParams,
  tables: [{
    name: "meta_train_curve",
    description: "meta-training curve: one row per partial unroll (meta-batch slot) per meta-step (async " +
      "workers: one row per meta-step)",
    columns: [
      { name: "meta_step", type: "INTEGER", description: "meta-update the unroll contributed to (1-based)" },
      { name: "slot", type: "INTEGER", description: "meta-batch slot" },
      {
        name: "meta_loss",
        type: "DOUBLE",
        description: "mean log relative loss of the unroll (NaN: diverged)",
      },
      { name: "family", type: "VARCHAR", description: "problem family" },
      { name: "unroll_len", type: "INTEGER", description: "planned unroll length" },
      { name: "seconds", type: "DOUBLE", description: "training seconds since the start" },
      {
        name: "worker",
        type: "VARCHAR",
        description:
          "who computed the estimate: in-process, local-N (a local worker) or a NATS worker's id " +
          "(null in artifacts that do not record it)",
      },
      {
        name: "staleness",
        type: "INTEGER",
        description:
          "meta-updates between the meta-params the estimate was computed with and the update it fed " +
          "(0 unless async)",
      },
    ],
  }],
  async run(ctx) {
    const p = ctx.params;
    // Heavy modules (TensorFlow.js) load only when the stage runs, so cached runs and --help stay fast.
    const { initBackend, requireSyncReads } = await import("../lib/backend.ts");
    const { buildProblem } = await import("../tasks/registry.ts");
    const { preloadDatasets } = await import("../tasks/external.ts");
    const { workerSetup, META_TRAIN_SETUP_MODULE } = await import("./meta_train_setup.ts");
    const { openWorkers } = await import("./meta_train_workers.ts");
    const { metaTrainRecorded, trainingRecord, trainingSummary } = await import(
      "../models/metatrain/recorded_run.ts"
    );
    const { saveWeights } = await import("../models/hrnn/weights_file.ts");
    const { readTaskDims } = await import("./eval_common.ts");
    const { describeFusedEngine } = await import("../models/hrnn/native.ts");
    await initBackend();
    requireSyncReads("stage meta-train");
    const set = await readTaskSet(ctx.inputs["generate-tasks"].dir);
    const all = set.tasks.filter((t) => t.split === "train");
    const resolveDataset = await preloadDatasets(all.map((t) => t.spec));
    // generate-tasks already measured every problem's size (its `tasks` rows); build only unknown ones.
    const known = await readTaskDims(ctx.inputs["generate-tasks"].dir);
    const dimsOf = (t: (typeof all)[number]): number => {
      const d = known.get(t.id);
      if (d !== undefined) return d;
      const prob = buildProblem(t.spec, { resolveDataset });
      const n = prob.paramShapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
      prob.dispose();
      return n;
    };
    const train = p.maxTaskDims > 0 ? all.filter((t) => dimsOf(t) <= p.maxTaskDims) : all;
    if (train.length === 0) {
      throw new Error(
        `meta-train: no training problems left (maxTaskDims=${p.maxTaskDims}); raise maxTaskDims`,
      );
    }
    ctx.log(`meta-training on ${train.length} of ${all.length} training problems`);
    ctx.log(
      p.optimizer !== "hrnn"
        ? `meta-training ${p.optimizer} (tfjs ops; params hrnn and kernel do not apply)`
        : p.kernel === "ops" || (p.hrnn as Partial<HrnnConfig>).useAttention
        ? "taped HRNN updates: tfjs ops path"
        : `taped HRNN updates: differentiable fused kernel (${describeFusedEngine()})`,
    );
    const recipeArgs: MetaTrainSetupArgs = {
      optimizer: p.optimizer,
      hrnn: p.hrnn as Partial<HrnnConfig>,
      kernel: p.kernel as "auto" | "ops",
      specs: train.map((t) => t.spec),
    };
    const { learned, problems } = await workerSetup(recipeArgs, { resolveDataset });
    const settings = metaTrainSettings(p);
    const workers = await openWorkers(p, {
      recipe: { module: META_TRAIN_SETUP_MODULE, args: recipeArgs },
      seed: p.seed,
      metaBatch: settings.metaBatch,
      instances: settings.instances,
      log: (m) => ctx.log(m),
    });
    const checkpointDir = join(ctx.resultsDir, "checkpoints", "meta-train", ctx.key);
    await Deno.mkdir(checkpointDir, { recursive: true });
    const result = await metaTrainRecorded({
      learned,
      problems,
      ...settings,
      ...workers,
      seed: p.seed,
      maxMetaSteps: p.maxMetaSteps,
      maxSeconds: p.maxSeconds > 0 ? p.maxSeconds : undefined,
      checkpointDir,
      checkpointEvery: p.checkpointEvery,
      signal: ctx.signal,
    }, {
      log: (m) => ctx.log(m),
      rows: (rows) => ctx.writeRows("meta_train_curve", rows.map((r) => ({ ...r }))),
      progress: (done, total, msg) => ctx.progress(done, total, msg),
    });
    await saveWeights(join(ctx.outDir, WEIGHTS_FILE), result.metaParams, learned.config as LearnedConfig, {
      profile: ctx.profile,
      params: JSON.parse(JSON.stringify(p)),
      cacheKey: ctx.key,
      gitCommit: (await gitCommit()) ?? undefined,
      metaTraining: trainingRecord(result, train.length),
    }, p.optimizer);
    Object.values(result.metaParams).forEach((t) => t.dispose());
    ctx.log(trainingSummary(result));
  },
});
