import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../../../lib/backend.ts";
import { type CurveRow, metaTrain, type MetaTrainArgs } from "../../../../models/metatrain/meta_train.ts";
import { type CoordinatorStats, distributeTo } from "../../../../models/metatrain/distributed/coordinator.ts";
import { localWorkerPool } from "../../../../models/metatrain/distributed/pipe_pool.ts";
import { FIXTURE_RECIPE_MODULE, workerSetup } from "./fixture_setup.ts";

await initBackend();

const setup = await workerSetup({});
const schedule = { numMetaIterations: 2, numUnrollScale: 1.5, unrollLengthScale: 2, minUnrollLength: 3 };

function args(extra: Partial<MetaTrainArgs> = {}): MetaTrainArgs {
  return {
    learned: setup.learned,
    problems: setup.problems,
    seed: 7,
    maxMetaSteps: 6,
    metaBatch: 3,
    config: { schedule, metaOptimizer: { kind: "adam", lr: 0.02 } },
    ...extra,
  };
}

function values(mp: Record<string, tf.Tensor>): Record<string, number[]> {
  return Object.fromEntries(Object.keys(mp).sort().map((k) => [k, Array.from(mp[k].dataSync())]));
}

/** The curve without timing and worker columns (what must equal in-process meta-training). */
function maths(rows: CurveRow[]) {
  return rows.map((r) => [r.meta_step, r.slot, r.meta_loss, r.family, r.unroll_len]);
}

function distributed(
  pool: ReturnType<typeof localWorkerPool>,
  extra: { asyncStaleness?: number; taskTimeoutMs?: number; onStats?: (s: CoordinatorStats) => void } = {},
  metaBatch = 3,
) {
  return distributeTo({
    pool,
    recipe: { module: FIXTURE_RECIPE_MODULE, args: {} },
    seed: 7,
    metaBatch,
    instances: 1,
    taskTimeoutMs: extra.taskTimeoutMs ?? 60_000,
    asyncStaleness: extra.asyncStaleness,
    onStats: extra.onStats,
  });
}

const lines: string[] = [];
const log = (l: string) => lines.push(l);

Deno.test("synchronous local workers give in-process meta-training bit for bit (tbptt and pes)", async () => {
  for (
    const estimator of [{ kind: "tbptt" as const }, { kind: "pes" as const, pesPairs: 2, pesSigma: 0.05 }]
  ) {
    const config = { schedule, metaOptimizer: { kind: "adam" as const, lr: 0.02 }, estimator };
    const local = await metaTrain(args({ config }));
    const pool = localWorkerPool({ count: 2, log });
    const dist = await metaTrain(args({ config, distribute: distributed(pool) }));
    assert.equal(dist.metaSteps, 6);
    assert.deepEqual(values(dist.metaParams), values(local.metaParams), `${estimator.kind}: meta-params`);
    assert.deepEqual(maths(dist.curve), maths(local.curve), `${estimator.kind}: curve`);
    assert.equal(dist.innerSteps, local.innerSteps);
    assert.ok(local.curve.every((r) => r.worker === "in-process" && r.staleness === 0));
    const workers = new Set(dist.curve.map((r) => r.worker));
    assert.deepEqual([...workers].sort(), ["local-1", "local-2"], "both workers produced estimates");
    assert.ok(dist.curve.every((r) => r.staleness === 0));
    tf.dispose([...Object.values(local.metaParams), ...Object.values(dist.metaParams)]);
  }
});

for (const fault of ["SIGKILL", "SIGSTOP"] as const) {
  Deno.test(`a ${fault === "SIGKILL" ? "killed" : "stalled"} local worker's slot is reassigned; same result, no duplicate rows`, async () => {
    const local = await metaTrain(args());
    const pool = localWorkerPool({ count: 2, log });
    let stats: CoordinatorStats | null = null;
    let victim = 0;
    const rows: CurveRow[] = [];
    const dist = await metaTrain(args({
      distribute: distributed(pool, {
        taskTimeoutMs: fault === "SIGSTOP" ? 2000 : 60_000,
        onStats: (s) => (stats = s),
      }),
      onCurve: (r) => rows.push(r),
      onProgress: (p) => {
        if (p.metaStep !== 2) return;
        victim = pool.pids().get("local-1") as number;
        Deno.kill(victim, fault);
      },
    }));
    assert.ok(victim > 0);
    assert.equal(dist.metaSteps, 6);
    assert.equal(rows.length, 6 * 3, "one row per slot per meta-step");
    assert.equal(new Set(rows.map((r) => `${r.meta_step}/${r.slot}`)).size, rows.length, "no duplicate rows");
    assert.deepEqual(values(dist.metaParams), values(local.metaParams), "nothing counted twice or lost");
    const s = stats as CoordinatorStats | null;
    assert.ok(s && s.reassigned >= 1, `the victim's task was reassigned (${JSON.stringify(s)})`);
    assert.ok(rows.some((r) => r.meta_step <= 2 && r.worker === "local-1"), "the victim worked before");
    assert.ok(rows.every((r) => r.meta_step <= 2 || r.worker !== "local-1"), "and never after");
    assert.throws(() => Deno.kill(victim, "SIGCONT"), "the stalled/killed process is gone");
    tf.dispose([...Object.values(local.metaParams), ...Object.values(dist.metaParams)]);
  });
}

Deno.test("asynchronous mode applies estimates at most `staleness` versions old and rejects older ones", async () => {
  for (const staleness of [0, 1]) {
    const pool = localWorkerPool({ count: 2, log });
    let stats: CoordinatorStats | null = null;
    const r = await metaTrain(args({
      metaBatch: 2,
      maxMetaSteps: 8,
      asyncStaleness: staleness,
      distribute: distributed(pool, { asyncStaleness: staleness, onStats: (s) => (stats = s) }, 2),
    }));
    const s = stats as CoordinatorStats | null;
    assert.ok(s, "the coordinator reported its stats");
    assert.equal(r.metaSteps, 8);
    assert.equal(r.curve.length, 8, "asynchronous: one estimate per meta-update");
    assert.equal(new Set(r.curve.map((c) => c.meta_step)).size, 8);
    assert.ok(
      r.curve.every((c) => c.staleness <= staleness),
      `every applied estimate is <= ${staleness} old`,
    );
    assert.equal(s.accepted, 8);
    if (staleness === 0) {
      // Both slots start with version 0; whichever arrives second was computed before the first one's update.
      assert.ok(s.rejected >= 1, `a stale estimate was rejected (${JSON.stringify(s)})`);
    } else {
      assert.ok(
        r.curve.some((c) => c.staleness === 1),
        "the second initial estimate is applied 1 version late",
      );
    }
    tf.dispose(Object.values(r.metaParams));
  }
});

Deno.test("a local worker whose code gives another configuration hash refuses the run; the run fails", async () => {
  const pool = localWorkerPool({ count: 1, log });
  await assert.rejects(
    metaTrain(args({
      distribute: distributeTo({
        pool,
        recipe: { module: FIXTURE_RECIPE_MODULE, args: { initLogLr: Math.log(0.01) } },
        seed: 7,
        metaBatch: 3,
        instances: 1,
        taskTimeoutMs: 60_000,
      }),
    })),
    /refused the run: this worker's code gives the job configuration hash/,
  );
});
