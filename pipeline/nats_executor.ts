/**
 * `--executor nats`: stage runs go to the JetStream work queue of `stage_queue.ts` instead of a local child;
 * a stage worker (`deno task worker --nats URL --stages`, on a machine with the same checkout and the same
 * results directory mounted at the same path) runs each exactly as the local child does, and streams its
 * output back. This process still seals and publishes the artifact, so a worker that dies mid-stage leaves
 * only the staging directory; its run is delivered again to another worker, which starts it afresh. The
 * queued message is removed when the run ends here (success, failure or interruption).
 *
 * @module
 */
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "nats";
import { entryModule } from "./child.ts";
import type { RunningStage, StageExecutor } from "./executor.ts";
import {
  cancelSubject,
  codeVersion,
  ensureStageQueue,
  outSubject,
  type QueuedRun,
  type RunEvent,
  runSubject,
  STAGE_STREAM,
} from "./stage_queue.ts";
import { redactUrl } from "../lib/nats.ts";

const REPO = fileURLToPath(new URL("../", import.meta.url));

/**
 * The NATS executor on connection `nc` (closed by its `close`); `note` receives one line per retried run.
 *
 * @example
 * ```ts
 * const executor = await natsExecutor(await connectNats(url, "lopt pipeline"), url);
 * await runPlan({ ...options, executor });
 * ```
 */
export async function natsExecutor(nc: NatsConnection, url: string): Promise<StageExecutor> {
  await ensureStageQueue(nc);
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const code = await codeVersion();
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const entry = relative(REPO, entryModule());
  if (entry.startsWith("..")) {
    throw new Error(`--executor nats: the entry ${entryModule()} is outside ${REPO}`);
  }
  return {
    description: `NATS work queue at ${redactUrl(url)}`,
    start(job, jobFile, onStdout, onStderr): RunningStage {
      const runId = `${job.key}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
      const sub = nc.subscribe(outSubject(runId));
      let seq: number | null = null;
      let attempt = 0;
      let started = false;
      let resolveStatus: (s: { code: number; signal: string | null }) => void = () => {};
      const status = new Promise<{ code: number; signal: string | null }>((r) => (resolveStatus = r));
      let ended = false;
      const end = async (s: { code: number; signal: string | null }) => {
        if (ended) return;
        ended = true;
        sub.unsubscribe();
        if (seq !== null) await jsm.streams.deleteMessage(STAGE_STREAM, seq).catch(() => {});
        resolveStatus(s);
      };
      (async () => {
        for await (const m of sub) {
          let e: RunEvent;
          try {
            e = JSON.parse(dec.decode(m.data));
          } catch {
            continue;
          }
          if (e.attempt < attempt) continue; // a previous attempt's late output
          if (e.type === "start") {
            if (started) {
              onStderr(`# worker went away; run delivered again (attempt ${e.attempt + 1})\n`);
            }
            attempt = e.attempt;
            started = true;
            onStderr(`# running on stage worker ${e.worker}\n`);
          } else if (e.type === "out") onStdout(e.text);
          else if (e.type === "err") onStderr(e.text);
          else if (e.type === "exit") await end({ code: e.code, signal: e.signal });
          else if (e.type === "refused") {
            onStderr(`# stage worker ${e.worker} refused the run: ${e.reason}\n`);
            onStdout(
              `\u001eLOPT ${
                JSON.stringify({ type: "error", message: `stage worker refused: ${e.reason}` })
              }\n`,
            );
            await end({ code: 1, signal: null });
          }
        }
      })();
      const run: QueuedRun = { runId, job, jobFile, entry, code };
      js.publish(runSubject(job.stage, job.key), enc.encode(JSON.stringify(run))).then((ack) => {
        seq = ack.seq;
        if (ended) jsm.streams.deleteMessage(STAGE_STREAM, ack.seq).catch(() => {});
      }, (e) => {
        const api = (e as { api_error?: { err_code?: number; description?: string } }).api_error;
        // JetStream error 10077: the subject (this key) already holds a queued or running run.
        const msg = api?.err_code === 10077
          ? `stage ${job.stage} key ${job.key} is already queued or running on the NATS work queue`
          : `cannot queue the run on NATS: ${api?.description ?? (e as Error).message}`;
        onStdout(`\u001eLOPT ${JSON.stringify({ type: "error", message: msg })}\n`);
        end({ code: 1, signal: null });
      });
      return {
        status,
        kill(signal) {
          nc.publish(cancelSubject(runId), enc.encode(signal));
          if (signal === "SIGKILL") end({ code: 137, signal });
          else setTimeout(() => end({ code: 130, signal }), 5000);
        },
      };
    },
    async close() {
      await nc.drain().catch(() => {});
    },
  };
}
