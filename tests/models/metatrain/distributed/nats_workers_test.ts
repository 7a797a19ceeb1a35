/**
 * Meta-training workers over NATS, against a real `nats-server` (see `tests/lib/nats_server.ts`: ignored
 * without it on a developer machine, failing in CI).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { initBackend } from "../../../../lib/backend.ts";
import { connectNats } from "../../../../lib/nats.ts";
import { type CurveRow, metaTrain, type MetaTrainArgs } from "../../../../models/metatrain/meta_train.ts";
import { type CoordinatorStats, distributeTo } from "../../../../models/metatrain/distributed/coordinator.ts";
import { natsWorkerPool } from "../../../../models/metatrain/distributed/nats_pool.ts";
import { listWorkers } from "../../../../models/metatrain/distributed/status.ts";
import { permissionFlags } from "../../../../pipeline/child.ts";
import { natsIgnore, startNatsServer } from "../../../lib/nats_server.ts";
import { FIXTURE_RECIPE_MODULE, workerSetup } from "./fixture_setup.ts";

await initBackend();

const setup = await workerSetup({});
const schedule = { numMetaIterations: 2, numUnrollScale: 1.5, unrollLengthScale: 2, minUnrollLength: 3 };
const TOKEN = "tok-9f3b2c71e0";
const WORKER_MAIN = fileURLToPath(
  new URL("../../../../models/metatrain/distributed/worker_main.ts", import.meta.url),
);

function args(extra: Partial<MetaTrainArgs> = {}): MetaTrainArgs {
  return {
    learned: setup.learned,
    problems: setup.problems,
    seed: 11,
    maxMetaSteps: 6,
    metaBatch: 3,
    config: { schedule, metaOptimizer: { kind: "adam", lr: 0.02 } },
    ...extra,
  };
}

function values(mp: Record<string, tf.Tensor>): Record<string, number[]> {
  return Object.fromEntries(Object.keys(mp).sort().map((k) => [k, Array.from(mp[k].dataSync())]));
}

function maths(rows: CurveRow[]) {
  return rows.map((r) => [r.meta_step, r.slot, r.meta_loss, r.family, r.unroll_len]);
}

interface Worker {
  id: string;
  proc: Deno.ChildProcess;
  output: () => string;
}

/** Starts `deno task worker --nats URL --id ID` as a process. */
function startWorker(url: string, id: string): Worker {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissionFlags(), WORKER_MAIN, "--nats", url, "--id", id],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  for (const s of [proc.stdout, proc.stderr]) {
    (async () => {
      for await (const c of s.pipeThrough(new TextDecoderStream())) text += c;
    })();
  }
  return { id, proc, output: () => text };
}

async function waitForWorkers(url: string, n: number): Promise<void> {
  const nc = await connectNats(url, "test");
  try {
    for (let i = 0; i < 100; i++) {
      if ((await listWorkers(nc, 300)).length >= n) return;
    }
    throw new Error(`${n} workers did not show up`);
  } finally {
    await nc.close();
  }
}

async function stopAll(ws: Worker[]): Promise<void> {
  for (const w of ws) {
    try {
      w.proc.kill("SIGTERM");
    } catch { /* gone */ }
    await w.proc.status;
  }
}

function pool(url: string) {
  return connectNats(url, "test-coordinator").then((nc) => natsWorkerPool(nc, url, { expected: 3 }));
}

function distributed(
  p: Awaited<ReturnType<typeof pool>>,
  o: { taskTimeoutMs?: number; onStats?: (s: CoordinatorStats) => void } = {},
) {
  return distributeTo({
    pool: p,
    recipe: { module: FIXTURE_RECIPE_MODULE, args: {} },
    seed: 11,
    metaBatch: 3,
    instances: 1,
    taskTimeoutMs: o.taskTimeoutMs ?? 60_000,
    onStats: o.onStats,
  });
}

Deno.test({
  name: "NATS workers (token auth): synchronous = in-process bit for bit; a SIGKILLed worker's slot is " +
    "reassigned; a killed coordinator's rerun resumes from its checkpoint with the workers that stayed",
  ignore: natsIgnore,
  fn: async () => {
    const server = await startNatsServer({ token: TOKEN });
    const url = `nats://${TOKEN}@${server.url.slice("nats://".length)}`;
    const workers = [startWorker(url, "w-a"), startWorker(url, "w-b"), startWorker(url, "w-c")];
    const logs: string[] = [];
    try {
      await waitForWorkers(url, 3);
      const local = await metaTrain(args());

      // 1. synchronous over NATS equals in-process.
      const dist = await metaTrain(
        args({ distribute: distributed(await pool(url)), onLog: (m) => logs.push(m) }),
      );
      assert.deepEqual(values(dist.metaParams), values(local.metaParams));
      assert.deepEqual(maths(dist.curve), maths(local.curve));
      assert.ok(dist.curve.every((r) => ["w-a", "w-b", "w-c"].includes(r.worker)));
      tf.dispose(Object.values(dist.metaParams));

      // 2. the coordinator dies after meta-step 4 (an exception, like a kill: no final checkpoint); the rerun
      // resumes from the checkpoint of step 4 with the workers that stayed connected; w-a is SIGKILLed then.
      const dir = await Deno.makeTempDir({ prefix: "lopt-nats-ckpt-" });
      class Killed extends Error {}
      await assert.rejects(
        metaTrain(args({
          distribute: distributed(await pool(url)),
          checkpointDir: dir,
          checkpointEvery: 2,
          onCurve: (r) => {
            if (r.meta_step === 5) throw new Killed("coordinator killed");
          },
        })),
        Killed,
      );
      let stats: CoordinatorStats | null = null;
      const rows: CurveRow[] = [];
      const resumed = await metaTrain(args({
        distribute: distributed(await pool(url), { taskTimeoutMs: 5000, onStats: (s) => (stats = s) }),
        checkpointDir: dir,
        checkpointEvery: 2,
        onCurve: (r) => rows.push(r),
        onLog: (m) => logs.push(m),
        onProgress: (p) => {
          if (p.metaStep === 5) workers[0].proc.kill("SIGKILL");
        },
      }));
      assert.equal(resumed.resumedFrom, 4);
      assert.equal(resumed.metaSteps, 6);
      assert.equal(rows.length, 6 * 3, "restored rows and new rows, once each");
      assert.equal(new Set(rows.map((r) => `${r.meta_step}/${r.slot}`)).size, rows.length, "no duplicates");
      assert.deepEqual(values(resumed.metaParams), values(local.metaParams));
      assert.ok(rows.some((r) => r.meta_step === 5 && r.worker === "w-a"), "w-a worked for the rerun");
      assert.ok(rows.filter((r) => r.meta_step > 5).every((r) => r.worker === "w-b" || r.worker === "w-c"));
      const s = stats as CoordinatorStats | null;
      assert.ok(s && s.reassigned >= 1, `the dead worker's task was reassigned (${JSON.stringify(s)})`);
      tf.dispose([...Object.values(resumed.metaParams), ...Object.values(local.metaParams)]);
      await Deno.remove(dir, { recursive: true });

      // Credentials are passed through and never printed.
      const all = logs.join("\n") + workers.map((w) => w.output()).join("\n");
      assert.ok(all.includes("nats://***@127.0.0.1"), "the URL is shown redacted");
      assert.ok(!all.includes(TOKEN), "the token never appears in logs or worker output");
    } finally {
      await stopAll(workers);
      await server.stop();
    }
  },
});

Deno.test({
  name: "a task larger than the server's max_payload fails the run with a message saying what to raise",
  ignore: natsIgnore,
  fn: async () => {
    const server = await startNatsServer({ maxPayload: 700 });
    const workers = [startWorker(server.url, "w-small")];
    try {
      await waitForWorkers(server.url, 1);
      const nc = await connectNats(server.url, "test-coordinator");
      await assert.rejects(
        metaTrain(args({ distribute: distributed(natsWorkerPool(nc, server.url)) })),
        /a message of \d+ bytes exceeds the NATS server's max_payload of 700 bytes; raise max_payload/,
      );
    } finally {
      await stopAll(workers);
      await server.stop();
    }
  },
});

Deno.test("a worker without a NATS server says so and how to install one (exit code 2)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissionFlags(), WORKER_MAIN, "--nats", "nats://sekrit@127.0.0.1:9"],
    env: { PATH: "/nonexistent" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, err);
  assert.match(err, /^error: no NATS server answers at nats:\/\/\*\*\*@127\.0\.0\.1:9/);
  assert.match(
    err,
    /nats-server is not installed here; install nats-server: `sudo apt-get install nats-server`/,
  );
  assert.ok(!err.includes("sekrit"));
  assert.equal(err.trim().split("\n").length, 1, "one line, no stack trace");
});
