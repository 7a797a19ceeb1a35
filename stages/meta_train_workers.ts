/**
 * How `meta-train` runs its slots, from its params and the environment: in its own process (`workers=0`, no
 * NATS server), on `workers` local worker processes over pipes, or through the NATS server of `--nats` /
 * `LOPT_NATS_URL` — then the stage starts `workers` worker processes connected to it, and `deno task worker`
 * processes elsewhere join.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { MetaTrainArgs } from "../models/metatrain/meta_train.ts";
import type { WorkerRecipe } from "../models/metatrain/distributed/protocol.ts";
import type { WorkerPool } from "../models/metatrain/distributed/pool.ts";
import { NATS_URL_ENV } from "../lib/nats.ts";
import { permissionFlags } from "../pipeline/child.ts";
import { assertAsyncHasWorkers, type MetaTrainParams } from "./meta_train_settings.ts";

const WORKER_MAIN = fileURLToPath(new URL("../models/metatrain/distributed/worker_main.ts", import.meta.url));

/**
 * The `distribute` and `asyncStaleness` arguments of `metaTrain` for the stage's params (empty: in-process).
 *
 * @example
 * ```ts
 * const result = await metaTrain({ ...args, ...(await openWorkers(p, { recipe, seed, metaBatch, instances, log })) });
 * ```
 */
export async function openWorkers(
  p: MetaTrainParams,
  o: { recipe: WorkerRecipe; seed: number; metaBatch: number; instances: number; log: (m: string) => void },
): Promise<Pick<MetaTrainArgs, "distribute" | "asyncStaleness">> {
  const url = Deno.env.get(NATS_URL_ENV) ?? "";
  assertAsyncHasWorkers(p, url);
  if (p.workers === 0 && url === "") return {};
  const { distributeTo } = await import("../models/metatrain/distributed/coordinator.ts");
  let pool: WorkerPool;
  if (url === "") {
    const { localWorkerPool } = await import("../models/metatrain/distributed/pipe_pool.ts");
    pool = localWorkerPool({ count: p.workers, log: o.log });
  } else {
    const { connectNats } = await import("../lib/nats.ts");
    const { natsWorkerPool } = await import("../models/metatrain/distributed/nats_pool.ts");
    const nc = await connectNats(url, "lopt meta-train coordinator");
    const base = natsWorkerPool(nc, url, { expected: Math.max(1, p.workers) });
    const started = startNatsWorkers(p.workers, o.log);
    pool = {
      ...base,
      description: `${base.description}${p.workers > 0 ? `, ${p.workers} started here` : ""}`,
      start: base.start,
      async close() {
        await base.close();
        for (const w of started) {
          try {
            w.kill("SIGTERM");
          } catch { /* gone */ }
        }
        await Promise.all(started.map((w) => w.status));
      },
    };
  }
  return {
    distribute: distributeTo({
      pool,
      recipe: o.recipe,
      seed: o.seed,
      metaBatch: o.metaBatch,
      instances: o.instances,
      taskTimeoutMs: p.workerTimeout * 1000,
      asyncStaleness: p.workerMode === "async" ? p.staleness : undefined,
    }),
    asyncStaleness: p.workerMode === "async" ? p.staleness : undefined,
  };
}

/** Starts `n` NATS worker processes here (the URL, with its credentials, goes through the environment). */
function startNatsWorkers(n: number, log: (m: string) => void): Deno.ChildProcess[] {
  const out: Deno.ChildProcess[] = [];
  for (let i = 1; i <= n; i++) {
    const id = `${Deno.hostname()}-${Deno.pid}-${i}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", ...permissionFlags(), WORKER_MAIN, "--id", id],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    for (const s of [proc.stdout, proc.stderr]) {
      (async () => {
        let buf = "";
        for await (const c of s.pipeThrough(new TextDecoderStream())) {
          buf += c;
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim()) log(`[${id}] ${line}`);
          }
        }
      })();
    }
    out.push(proc);
  }
  return out;
}
