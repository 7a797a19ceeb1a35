/**
 * Meta-training throughput with local meta-training workers (issue 15): the `default` profile of the
 * `meta-train` stage run in-process, on 1 local worker process, and on 2 (synchronous, and asynchronous with
 * staleness 1), alternately within each iteration from the same seed, for {@link WORKERS_META_STEPS}
 * meta-steps each. Reports inner steps per second of each, the speed-up of 2 workers over 1 (target
 * >= 1.7x on 2 cores), and the coordinator's own work per meta-step (encoding meta-parameters, decoding
 * estimates, bookkeeping; the rest of a worker run's extra time over in-process is the pipes and the workers'
 * decoding). Worker start-up is not timed (the run starts once the workers are ready). The load average at
 * the start is reported too: on a shared machine the speed-up is only meaningful when the cores were free.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import type { BenchDef, BenchExtra } from "../pipeline/bench.ts";
import type { HrnnConfig } from "../models/hrnn/config.ts";
import { metaTrain, type MetaTrainArgs } from "../models/metatrain/meta_train.ts";
import { type CoordinatorStats, distributeTo } from "../models/metatrain/distributed/coordinator.ts";
import { localWorkerPool } from "../models/metatrain/distributed/pipe_pool.ts";
import { META_TRAIN_SETUP_MODULE, type MetaTrainSetupArgs, workerSetup } from "../stages/meta_train_setup.ts";
import type { WorkerSetup } from "../models/metatrain/distributed/worker.ts";
import { defaultProfile, trainSpecs } from "./meta_profile.ts";

/** Meta-steps per path per timed iteration. */
export const WORKERS_META_STEPS = 6;

interface Path {
  label: string;
  workers: number;
  asyncStaleness?: number;
  seconds: number;
  innerSteps: number;
  metaSteps: number;
  overhead: number;
}

interface Ctx {
  setup: WorkerSetup;
  recipeArgs: MetaTrainSetupArgs;
  paths: Path[];
  load: string;
}

function loadAverage(): string {
  try {
    return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  } catch {
    return "unknown";
  }
}

/**
 * The local-workers throughput bench (see the module doc).
 *
 * @example
 * ```ts
 * registerBenches([metaWorkersBench() as BenchDef]);
 * ```
 */
export function metaWorkersBench(): BenchDef<Ctx> {
  const rate = (p: Path) => p.innerSteps / Math.max(1e-9, p.seconds);
  return {
    group: "meta-workers",
    name: `default profile in-process vs 1 and 2 local workers, ${WORKERS_META_STEPS} meta-steps each`,
    unit: `4 x ${WORKERS_META_STEPS} meta-steps`,
    iterations: 2,
    warmup: 0,
    backend: () => tf.getBackend(),
    setup: async () => {
      await initBackend();
      const { params: p } = defaultProfile();
      const recipeArgs: MetaTrainSetupArgs = {
        hrnn: p.hrnn as Partial<HrnnConfig>,
        kernel: p.kernel as "auto" | "ops",
        specs: trainSpecs(p.maxTaskDims),
      };
      const path = (label: string, workers: number, asyncStaleness?: number): Path => ({
        label,
        workers,
        asyncStaleness,
        seconds: 0,
        innerSteps: 0,
        metaSteps: 0,
        overhead: 0,
      });
      return {
        setup: await workerSetup(recipeArgs),
        recipeArgs,
        paths: [path("in_process", 0), path("w1", 1), path("w2", 2), path("w2_async", 2, 1)],
        load: loadAverage(),
      };
    },
    fn: async (ctx, i): Promise<BenchExtra> => {
      const { settings } = defaultProfile();
      const order = i % 2 === 0 ? ctx.paths : [...ctx.paths].reverse();
      for (const path of order) {
        const seed = Math.max(0, i);
        let stats: CoordinatorStats | null = null;
        const args: MetaTrainArgs = {
          learned: ctx.setup.learned,
          problems: ctx.setup.problems,
          config: settings.config,
          metaBatch: settings.metaBatch,
          instances: settings.instances,
          seed,
          maxMetaSteps: WORKERS_META_STEPS,
        };
        if (path.workers > 0) {
          args.asyncStaleness = path.asyncStaleness;
          args.distribute = distributeTo({
            pool: localWorkerPool({ count: path.workers, log: () => {} }),
            recipe: { module: META_TRAIN_SETUP_MODULE, args: ctx.recipeArgs },
            seed,
            metaBatch: settings.metaBatch,
            instances: settings.instances,
            asyncStaleness: path.asyncStaleness,
            taskTimeoutMs: 600_000,
            onStats: (s) => (stats = s),
          });
        }
        const result = await metaTrain(args);
        tf.dispose(Object.values(result.metaParams));
        path.seconds += result.seconds;
        path.innerSteps += result.innerSteps;
        path.metaSteps += result.metaSteps;
        const s = stats as CoordinatorStats | null;
        if (s) path.overhead += s.overheadSecondsPerStep * result.metaSteps;
      }
      const extra: BenchExtra = { load_average_at_start: ctx.load, load_average_at_end: loadAverage() };
      for (const p of ctx.paths) {
        extra[`${p.label}_inner_steps_per_s`] = rate(p);
        extra[`${p.label}_s_per_meta_step`] = p.seconds / Math.max(1, p.metaSteps);
        if (p.workers > 0) extra[`${p.label}_coordinator_ms_per_meta_step`] = 1000 * p.overhead / p.metaSteps;
      }
      const [inProc, w1, w2, w2a] = ctx.paths;
      extra.speedup_2_vs_1 = rate(w2) / rate(w1);
      extra.speedup_2_async_vs_1 = rate(w2a) / rate(w1);
      extra.speedup_2_vs_in_process = rate(w2) / rate(inProc);
      extra.w1_vs_in_process = rate(w1) / rate(inProc);
      return extra;
    },
    headline: (x) =>
      `meta-workers: in-process ${Number(x.in_process_inner_steps_per_s).toFixed(0)}, 1 worker ${
        Number(x.w1_inner_steps_per_s).toFixed(0)
      }, 2 workers ${Number(x.w2_inner_steps_per_s).toFixed(0)} (async ${
        Number(x.w2_async_inner_steps_per_s).toFixed(0)
      }) inner steps/s; speed-up 2 vs 1: ${Number(x.speedup_2_vs_1).toFixed(2)} (async ${
        Number(x.speedup_2_async_vs_1).toFixed(2)
      }; target >= 1.7); coordinator ${Number(x.w2_coordinator_ms_per_meta_step).toFixed(1)} ms/meta-step; ` +
      `load average (1, 5, 15 min) at start ${x.load_average_at_start}, at end ${x.load_average_at_end}`,
  };
}

/** The benches of this module. */
export const benchmarks: BenchDef[] = [metaWorkersBench() as BenchDef];

if (import.meta.main) {
  const { formatBenchTable, runBenches } = await import("../pipeline/bench.ts");
  const results = await runBenches(benchmarks, {
    onStart: (b) => console.error(`bench ${b.group}/${b.name} ...`),
  });
  console.log(formatBenchTable(results));
  for (const r of results) if (r.headline) console.log(r.headline);
}
