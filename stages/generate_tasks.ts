/**
 * Stage `generate-tasks`: the meta-training ensemble (§9.3 of the reference) and the held-out set (fresh
 * instances of the same families plus the §10 test problems), written as JSON problem specs. Every synthetic
 * dataset is a deterministic function of its spec's seed, so the specs are the whole artifact.
 *
 * @module
 */
import { defineStage } from "../pipeline/stage.ts";
import { ensemble, groupIncluded } from "../tasks/ensemble.ts";
import { GROUP_NAMES, type GroupName } from "../tasks/ensemble_groups.ts";
import { MAX_SEED } from "../lib/rng.ts";
import type { ProblemSpec } from "../tasks/problem.ts";
import { type TaskRecord, type TaskSet, taskSetPath } from "./task_set.ts";
import { withGpuProfile } from "./profiles.ts";
import { CODE_DEPS } from "./code_deps.ts";

/** Params of {@link generateTasks}. */
export interface GenerateTasksParams extends Record<string, unknown> {
  seed: number;
  groups: string[];
  addGroups: string[];
  exclude: string[];
  heldoutPerFamily: number;
  validationPerFamily: number;
  testProblems: boolean;
  mnistProblems: boolean;
  faithfulNoise: boolean;
}

function noiseOf(spec: ProblemSpec): number {
  const n = spec.params.noiseStdev;
  if (typeof n === "number") return n;
  if (spec.params.inner && typeof spec.params.inner === "object") {
    return noiseOf(spec.params.inner as ProblemSpec);
  }
  return 0;
}

/**
 * The ensemble's `include` map of the `groups`, `addGroups` and `exclude` params.
 *
 * @example
 * ```ts
 * includedGroups({ ...p, groups: [], addGroups: ["multiclass_minibatch_problems"], exclude: [] });
 * // { multiclass_minibatch_problems: true }: the paper configuration plus that group
 * ```
 */
export function includedGroups(p: GenerateTasksParams): Partial<Record<GroupName, boolean>> {
  const include: Partial<Record<GroupName, boolean>> = {};
  if (p.groups.length > 0) { for (const g of GROUP_NAMES) include[g] = p.groups.includes(g); }
  for (const g of p.addGroups) include[g as GroupName] = true;
  for (const g of p.exclude) include[g as GroupName] = false;
  return include;
}

/** The `generate-tasks` stage. */
export const generateTasks = defineStage<GenerateTasksParams>({
  name: "generate-tasks",
  description: "Problem specs: the meta-training ensemble and the held-out set (tasks table)",
  deps: [],
  // The stage's results are keyed by its code (codeDeps) and params; the version marks a change of what
  // its outputs mean that neither shows.
  version: "2",
  codeDeps: CODE_DEPS.generateTasks,
  params: {
    seed: {
      type: "integer",
      default: 0,
      min: 0,
      max: MAX_SEED,
      description: "base seed mixed into every problem instance's seed",
    },
    groups: {
      type: "string[]",
      default: [],
      description: "ensemble groups to include (empty: the paper configuration's 101 entries)",
      choices: GROUP_NAMES,
      maxItems: GROUP_NAMES.length,
    },
    addGroups: {
      type: "string[]",
      default: [],
      description:
        "ensemble groups to switch on besides `groups` (or the paper configuration), e.g. multiclass_minibatch_problems",
      choices: GROUP_NAMES,
      maxItems: GROUP_NAMES.length,
    },
    exclude: {
      type: "string[]",
      default: [],
      description: "ensemble groups to switch off (applied after `groups` and `addGroups`)",
      choices: GROUP_NAMES,
      maxItems: GROUP_NAMES.length,
    },
    heldoutPerFamily: {
      type: "integer",
      default: 2,
      min: 0,
      max: 20,
      description: "fresh held-out instances per family",
    },
    validationPerFamily: {
      type: "integer",
      default: 1,
      min: 0,
      max: 20,
      description:
        "fresh instances per training family in the validation split (for choosing hyperparameters)",
    },
    testProblems: {
      type: "boolean",
      default: true,
      description: "include the paper's test problems (design §10)",
    },
    mnistProblems: {
      type: "boolean",
      default: true,
      description: "include the MNIST-backed §10 test problems",
    },
    faithfulNoise: {
      type: "boolean",
      default: false,
      description:
        "wrappers ignore inner noise as the reference code does (default: inner noise is effective)",
    },
  },
  profiles: withGpuProfile({
    smoke: {
      groups: [
        "quadratic_problems_noisy",
        "bowl_problems",
        "softmax_2_class_problems",
        "optimization_test_problems",
      ],
      heldoutPerFamily: 1,
      mnistProblems: false,
    },
    default: {},
    paper: { heldoutPerFamily: 3 },
  }),
  validate(p) {
    const include = includedGroups(p);
    if (!GROUP_NAMES.some((g) => groupIncluded(g, include))) {
      throw new Error(
        `groups=${JSON.stringify(p.groups)} with exclude=${JSON.stringify(p.exclude)} leaves no ensemble ` +
          "group: the training ensemble would be empty",
      );
    }
  },
  tables: [{
    name: "tasks",
    description: "every problem of the ensemble (split=train) and of the held-out set (split=test)",
    columns: [
      { name: "task_id", type: "VARCHAR", description: "unique id, e.g. train/007 or test/rosenbrock" },
      {
        name: "split",
        type: "VARCHAR",
        description:
          "train (meta-training ensemble) | valid (validation: fresh training-family instances) | test",
      },
      { name: "name", type: "VARCHAR", description: "readable name" },
      { name: "family", type: "VARCHAR", description: "problem family of the outer spec" },
      { name: "group_name", type: "VARCHAR", description: "ensemble group (test_problems for §10)" },
      { name: "dims", type: "INTEGER", description: "number of parameters" },
      { name: "tensors", type: "INTEGER", description: "number of parameter tensors" },
      { name: "noise", type: "DOUBLE", description: "gradient noise stdev (0: none)" },
      { name: "batch_size", type: "INTEGER", description: "minibatch size (NULL: data-free)" },
      { name: "dataset_size", type: "INTEGER", description: "rows in the problem's dataset (0: data-free)" },
      { name: "spec", type: "JSON", description: "the problem spec; rebuilds the identical problem" },
    ],
  }],
  async run(ctx) {
    const p = ctx.params;
    // Heavy modules (TensorFlow.js) load only when the stage runs, so cached runs and --help stay fast.
    const tf = await import("@tensorflow/tfjs");
    const { initBackend } = await import("../lib/backend.ts");
    const { buildProblem } = await import("../tasks/registry.ts");
    const { preloadDatasets } = await import("../tasks/external.ts");
    const { heldoutSet, validationInstances } = await import("../tasks/heldout.ts");
    await initBackend();
    const include = includedGroups(p);
    const train = ensemble({ seed: p.seed, include, faithfulNoise: p.faithfulNoise });
    const heldout = heldoutSet({
      perFamily: p.heldoutPerFamily,
      ensemble: { seed: p.seed, include, faithfulNoise: p.faithfulNoise },
      testProblems: p.testProblems,
      mnist: p.mnistProblems,
      seed: p.seed,
    });
    const valid = validationInstances({
      perFamily: p.validationPerFamily,
      ensemble: { seed: p.seed, include, faithfulNoise: p.faithfulNoise },
      seed: p.seed,
    });
    ctx.log(
      `ensemble: ${train.length} entries; validation: ${valid.length} problems; held-out: ${heldout.length} problems`,
    );
    const resolveDataset = await preloadDatasets(heldout.filter((h) => h.externalData).map((h) => h.spec));

    const records: TaskRecord[] = [
      ...train.map((e, i) => ({
        id: `train/${String(i).padStart(3, "0")}`,
        split: "train" as const,
        name: `${e.group}[${i}]`,
        group: e.group,
        spec: e.spec,
        batchSize: e.batchSize,
        initSeed: null,
      })),
      ...valid.map((h) => ({
        id: `valid/${h.name}`,
        split: "valid" as const,
        name: h.name,
        group: h.group,
        spec: h.spec,
        batchSize: h.batchSize,
        initSeed: h.initSeed,
      })),
      ...heldout.map((h) => ({
        id: `test/${h.name}`,
        split: "test" as const,
        name: h.name,
        group: h.group,
        spec: h.spec,
        batchSize: h.batchSize,
        initSeed: h.initSeed,
      })),
    ];
    const rows = [];
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      const problem = buildProblem(r.spec, { resolveDataset });
      const dims = problem.paramShapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
      rows.push({
        task_id: r.id,
        split: r.split,
        name: r.name,
        family: r.spec.family,
        group_name: r.group,
        dims,
        tensors: problem.paramShapes.length,
        noise: noiseOf(r.spec),
        batch_size: r.batchSize,
        dataset_size: problem.datasetSize,
        spec: r.spec,
      });
      problem.dispose();
      ctx.progress(i + 1, records.length, "building problems");
    }
    const set: TaskSet = { version: 1, seed: p.seed, tasks: records };
    await Deno.writeTextFile(taskSetPath(ctx.outDir), JSON.stringify(set, null, 1));
    await ctx.writeRows("tasks", rows);
    ctx.log(`wrote ${records.length} specs (${tf.memory().numTensors} tensors alive)`);
  },
});
