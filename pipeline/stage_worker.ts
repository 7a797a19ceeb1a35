/**
 * The stage worker (`deno task worker --nats URL --stages`): takes stage runs from the JetStream work queue
 * of `stage_queue.ts`, one at a time, and runs each exactly as the pipeline's local child does (the run's
 * entry module of this checkout with `--child JOBFILE`), streaming its stdout and stderr back and telling
 * JetStream it is still working. The results directory must be mounted at the same path as on the machine
 * of the pipeline. A run of other lopt code is refused. A new delivery of a run (its previous worker died)
 * starts from an empty staging directory.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "nats";
import { permissionFlags } from "./child.ts";
import {
  cancelSubject,
  codeVersion,
  ensureStageQueue,
  outSubject,
  type QueuedRun,
  type RunEvent,
  STAGE_CONSUMER,
  STAGE_STREAM,
} from "./stage_queue.ts";

const REPO = fileURLToPath(new URL("../", import.meta.url));

/** Options of {@link serveStageWorker}. */
export interface StageWorkerOptions {
  /** This worker's id (in the stage logs). */
  id: string;
  /** A run not acknowledged as in progress for this long is delivered again (default 30 s). */
  ackWaitMs?: number;
  /** Environment added to the stage children (e.g. the NATS URL for meta-training workers). */
  env?: Record<string, string>;
  /** Notes for the terminal. */
  log: (line: string) => void;
  /** Stops taking runs (the current one finishes). */
  signal?: AbortSignal;
}

/**
 * Serves stage runs until `o.signal` aborts or the connection closes.
 *
 * @example
 * ```ts
 * await serveStageWorker(await connectNats(url, "lopt stage worker"), { id: "box-1", log: console.error });
 * ```
 */
export async function serveStageWorker(nc: NatsConnection, o: StageWorkerOptions): Promise<void> {
  const ackWaitMs = o.ackWaitMs ?? 30_000;
  await ensureStageQueue(nc, ackWaitMs);
  const consumer = await nc.jetstream().consumers.get(STAGE_STREAM, STAGE_CONSUMER);
  const code = await codeVersion();
  while (!o.signal?.aborted && !nc.isClosed()) {
    const m = await consumer.next({ expires: 2000 }).catch(() => null);
    if (!m) continue;
    let run: QueuedRun;
    try {
      run = JSON.parse(new TextDecoder().decode(m.data));
    } catch {
      m.term();
      continue;
    }
    const attempt = m.info.redeliveryCount - 1;
    const send = (e: RunEvent) =>
      nc.publish(outSubject(run.runId), new TextEncoder().encode(JSON.stringify(e)));
    const entry = resolve(REPO, run.entry);
    if (run.code !== code || !entry.startsWith(REPO) || run.entry.includes("..")) {
      const reason = run.code !== code
        ? `the pipeline runs lopt ${run.code}, this worker ${code}`
        : `entry ${run.entry} is not inside this checkout`;
      send({ type: "refused", attempt, worker: o.id, reason });
      m.ack();
      continue;
    }
    o.log(`stage worker ${o.id}: running ${run.job.stage} ${run.job.key} (attempt ${attempt + 1})`);
    send({ type: "start", attempt, worker: o.id });
    const beat = setInterval(() => {
      m.working();
      send({ type: "alive", attempt });
    }, Math.max(200, ackWaitMs / 3));
    try {
      // A new delivery starts from an empty staging directory (a dead worker's rows must not be counted).
      await Deno.remove(run.job.outDir, { recursive: true }).catch(() => {});
      await Deno.mkdir(run.job.outDir, { recursive: true });
      const jobFile = join(
        run.job.resultsDir,
        ".tmp",
        `job-${run.job.stage}-${run.job.key}-${Deno.pid}.json`,
      );
      await Deno.mkdir(join(run.job.resultsDir, ".tmp"), { recursive: true });
      await Deno.writeTextFile(jobFile, JSON.stringify(run.job, null, 2));
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...permissionFlags(), entry, "--child", jobFile],
        cwd: REPO,
        env: o.env,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const cancel = nc.subscribe(cancelSubject(run.runId), {
        callback: (_e, cm) => {
          const sig = new TextDecoder().decode(cm.data) === "SIGKILL" ? "SIGKILL" : "SIGTERM";
          try {
            child.kill(sig);
          } catch { /* exited */ }
        },
      });
      const pump = async (s: ReadableStream<Uint8Array>, type: "out" | "err") => {
        for await (const text of s.pipeThrough(new TextDecoderStream())) send({ type, attempt, text });
      };
      const pumps = Promise.all([pump(child.stdout, "out"), pump(child.stderr, "err")]);
      const st = await child.status;
      await child.stdin.close().catch(() => {});
      await pumps;
      cancel.unsubscribe();
      await Deno.remove(jobFile).catch(() => {});
      send({ type: "exit", attempt, code: st.code, signal: st.signal });
      await nc.flush();
      m.ack();
      o.log(`stage worker ${o.id}: ${run.job.stage} ${run.job.key} ended with code ${st.code}`);
    } catch (e) {
      send({ type: "err", attempt, text: `stage worker ${o.id}: ${(e as Error).message}\n` });
      send({ type: "exit", attempt, code: 1, signal: null });
      m.ack();
    } finally {
      clearInterval(beat);
    }
  }
}
