/**
 * `deno task lr-trace`: where the learned optimizer's step size goes over a long run. Loads the HRNN from a
 * `meta-train` artifact, trains each problem of one split of a `generate-tasks` artifact, and prints per
 * problem the full loss at the start, at the evaluation horizon and at the end, with the mean log learning
 * rate ℓ (and the share of coordinates at its floor) at the sampled steps.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ArtifactStore } from "../pipeline/artifacts.ts";
import { resolveResultsDir } from "../pipeline/results_dir.ts";
import { readTaskSet } from "./task_set.ts";
import { MIN_LOG_LR } from "../models/hrnn/config.ts";
import type { ProblemSpec } from "../tasks/problem.ts";

const HELP = `Usage: deno task lr-trace [options]

Trains problems of a task split with the meta-trained HRNN and prints, per problem, the full loss at the
start, at --horizon and at the end, and the mean per-coordinate log learning rate l at the sampled steps
(with the share of coordinates at the floor l = ${MIN_LOG_LR}, where the optimizer's steps vanish).

Options:
  --results DIR      results directory (default: $LOPT_RESULTS, else ./results); the newest meta-train and
                     generate-tasks artifacts in it are used unless named below
  --meta-train DIR   a meta-train artifact directory (holding hrnn.weights)
  --tasks DIR        a generate-tasks artifact directory (holding tasks.json)
  --split NAME       train, valid (default) or test
  --task ID          only this task id (repeatable), e.g. valid/quadratic#0
  --spec JSON        trace this problem spec instead of a task split (repeatable; printed as spec#0, ...),
                     e.g. '{"family":"quadratic","params":{"ndim":20},"seed":1}'; a real dataset it names
                     (e.g. "dataset":{"kind":"fashion-mnist","limit":10000}) is loaded once, up front
  --steps N          steps per problem (default 1500)
  --horizon N        the step whose loss is printed between start and end (default 300)
  --at LIST          steps at which l is sampled (default 0,10,30,100,300,1000 and the last)
  --seed N           seed of the run (initial point, minibatches, initial learning rates; default 0)
  -h, --help         this help

Exit codes: 0 success, 1 a run failed, 2 usage error.`;

class UsageError extends Error {}

/** The newest intact (manifest-verified) artifact of `stage` in the results directory. */
async function newestArtifact(results: string, stage: string): Promise<string> {
  const store = new ArtifactStore(results);
  let best: { key: string; created: string } | null = null;
  for (const key of await store.keys(stage)) {
    const v = await store.verify(stage, key);
    if (v.status === "ok" && (!best || v.manifest.created > best.created)) {
      best = { key, created: v.manifest.created };
    }
  }
  if (!best) {
    throw new UsageError(
      `no ${stage} artifact under ${store.stageDir(stage)}: run the pipeline, or name one`,
    );
  }
  return store.artifactDir(stage, best.key);
}

function intArg(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  }
  return n;
}

/** A problem spec from `--spec`: a JSON object with a string `family`. */
function parseSpec(json: string): ProblemSpec {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new UsageError(`--spec is not JSON: ${json}`);
  }
  const o = v as { family?: unknown; params?: unknown; seed?: unknown };
  if (typeof v !== "object" || v === null || typeof o.family !== "string") {
    throw new UsageError(`--spec must be an object with a "family" string, got ${json}`);
  }
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) {
    throw new UsageError(`--spec's seed must be an integer, got ${JSON.stringify(seed)}`);
  }
  return { family: o.family, params: (o.params ?? {}) as ProblemSpec["params"], seed: seed as number };
}

/** The tasks of `split` in a `generate-tasks` artifact, optionally only the ids in `only`. */
async function splitTasks(
  tasksDir: string,
  split: string,
  only: string[] | undefined,
): Promise<{ id: string; spec: ProblemSpec }[]> {
  const set = await readTaskSet(tasksDir);
  const wanted = only ? new Set(only) : null;
  const tasks = set.tasks.filter((t) => t.split === split && (!wanted || wanted.has(t.id)));
  if (wanted) {
    const missing = [...wanted].filter((id) => !tasks.some((t) => t.id === id));
    if (missing.length) throw new UsageError(`no ${split} task ${missing.join(", ")} in ${tasksDir}`);
  }
  if (!tasks.length) throw new UsageError(`no ${split} tasks in ${tasksDir}`);
  return tasks;
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      results: { type: "string" },
      "meta-train": { type: "string" },
      tasks: { type: "string" },
      split: { type: "string", default: "valid" },
      task: { type: "string", multiple: true },
      spec: { type: "string", multiple: true },
      steps: { type: "string" },
      horizon: { type: "string" },
      at: { type: "string" },
      seed: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const split = values.split as string;
  if (!["train", "valid", "test"].includes(split)) {
    throw new UsageError(`--split must be train, valid or test, got '${split}'`);
  }
  const steps = intArg("steps", values.steps, 1500, 1);
  const horizon = intArg("horizon", values.horizon, Math.min(300, steps), 0);
  if (horizon > steps) throw new UsageError(`--horizon ${horizon} is past --steps ${steps}`);
  const seed = intArg("seed", values.seed, 0, 0);
  const at = values.at === undefined
    ? [0, 10, 30, 100, 300, 1000, steps].filter((s) => s <= steps)
    : values.at.split(",").map((s) => intArg("at", s.trim(), 0, 0));
  if (at.some((s) => s > steps)) throw new UsageError(`--at has a step past --steps ${steps}`);
  if (values.spec && values.task) throw new UsageError("--spec and --task exclude each other");
  const results = resolveResultsDir(values.results);
  const metaDir = values["meta-train"] ?? await newestArtifact(results, "meta-train");
  const tasks = values.spec
    ? values.spec.map((json, i) => ({ id: `spec#${i}`, spec: parseSpec(json) }))
    : await splitTasks(values.tasks ?? await newestArtifact(results, "generate-tasks"), split, values.task);

  // TensorFlow.js loads only when there is work, so --help and usage errors stay fast.
  const { initBackend } = await import("../lib/backend.ts");
  const { buildProblem } = await import("../tasks/registry.ts");
  const { preloadDatasets } = await import("../tasks/external.ts");
  const { DatasetUnavailableError } = await import("../tasks/data/dataset.ts");
  const { loadLearnedOptimizer } = await import("../models/optimizers/learned_artifact.ts");
  const { traceLogLearningRate } = await import("../models/diagnostics/lr_trace.ts");
  const { Rng } = await import("../lib/rng.ts");
  await initBackend();
  // Real datasets named by a spec (MNIST, Fashion-MNIST, ...) load once, up front; a missing one is a usage
  // error whose message says how to provide it.
  const resolveDataset = await preloadDatasets(tasks.map((t) => t.spec)).catch((e) => {
    throw e instanceof DatasetUnavailableError ? new UsageError(e.message) : e;
  });
  for (const t of values.spec ? tasks : []) { // a bad --spec fails before any output
    try {
      buildProblem(t.spec, { resolveDataset }).dispose();
    } catch (e) {
      throw new UsageError(`${t.id}: ${(e as Error).message}`);
    }
  }
  console.log(
    `learned optimizer: ${metaDir}; ${tasks.length} ${
      values.spec ? "given" : split
    } problems, ${steps} steps, seed ${seed}`,
  );
  console.log(`task\tloss@0\tloss@${horizon}\tloss@${steps}\tmean l at step (share at floor)`);
  for (const t of tasks) {
    const loaded = await loadLearnedOptimizer(metaDir, seed);
    const problem = buildProblem(t.spec, { resolveDataset });
    try {
      const trace = await traceLogLearningRate({
        optimizer: loaded.optimizer,
        problem,
        steps,
        at: [0, ...at, horizon], // step 0 always: the start loss is printed
        rng: new Rng(seed),
      });
      // A run that diverged stops early: its later steps have no sample, printed as "diverged".
      const lossAt = (s: number) => {
        const i = trace.samples.findIndex((x) => x.step === s);
        return i < 0 ? null : trace.fullLoss[i];
      };
      const ls = trace.samples.filter((s) => at.includes(s.step)).map((s) =>
        `${s.step}:${s.meanLogLr.toFixed(1)}${s.atFloor > 0 ? ` (${Math.round(100 * s.atFloor)} %)` : ""}`
      );
      const g = (v: number | null) =>
        v === null ? "diverged" : Number.isFinite(v) ? v.toPrecision(3) : String(v);
      console.log(`${t.id}\t${g(lossAt(0))}\t${g(lossAt(horizon))}\t${g(trace.finalLoss)}\t${ls.join("  ")}`);
    } finally {
      problem.dispose();
      loaded.dispose();
    }
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    const usage = e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    console.error(`lr-trace: ${(e as Error).message}`);
    Deno.exit(usage ? 2 : 1);
  }
}
