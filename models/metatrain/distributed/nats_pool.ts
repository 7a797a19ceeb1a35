/**
 * Meta-training workers over NATS: the same requests and replies as the local pipes, as NATS request/reply
 * messages. Subjects:
 *
 * - `lopt.meta.heartbeat`: every worker publishes its {@link WorkerStatus} every 2 s while idle, after each
 *   task and when asked (`deno task workers` and coordinators read these);
 * - `lopt.meta.discover`: a coordinator or the status listing asks every worker to publish its status now;
 * - `lopt.meta.worker.<id>`: a worker's requests (`job`, `task`), one at a time.
 *
 * The coordinator learns workers from their heartbeats; a worker it gave up rejoins with its next heartbeat.
 * Workers stay connected when a coordinator goes away, and the next coordinator (a rerun resuming from its
 * checkpoint) finds them through `discover`.
 *
 * @module
 */
import type { NatsConnection } from "nats";
import type { WorkerLink, WorkerPool } from "./pool.ts";
import type { CoordinatorRequest, WorkerReply, WorkerStatus } from "./protocol.ts";
import type { MetaWorker } from "./worker.ts";
import { redactUrl } from "../../../lib/nats.ts";

/** Subject of worker heartbeats. */
export const HEARTBEAT_SUBJECT = "lopt.meta.heartbeat";
/** Subject that asks every worker for a heartbeat now. */
export const DISCOVER_SUBJECT = "lopt.meta.discover";
/**
 * A worker's request subject.
 *
 * @example
 * ```ts
 * nc.request(workerSubject("box-12"), data, { timeout: 60_000 });
 * ```
 */
export function workerSubject(id: string): string {
  return `lopt.meta.worker.${id}`;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * An error no other worker can avoid (the run fails instead of reassigning the work).
 *
 * @example
 * ```ts
 * throw new FatalTransportError("message too large");
 * ```
 */
export class FatalTransportError extends Error {
  override name = "FatalTransportError";
  /** Marks the error for the coordinator. */
  readonly fatal = true;
}

/** Encodes a message, refusing one the server would not carry. */
function pack(nc: NatsConnection, value: unknown): Uint8Array {
  const data = enc.encode(JSON.stringify(value));
  const max = nc.info?.max_payload ?? Infinity;
  if (data.length > max) {
    throw new FatalTransportError(
      `a message of ${data.length} bytes exceeds the NATS server's max_payload of ${max} bytes; raise ` +
        "max_payload in the server's configuration (up to 64 MB)",
    );
  }
  return data;
}

/**
 * The coordinator's pool of NATS workers on connection `nc` (closed by the pool's `close`); the first
 * meta-step waits for `expected` workers (default 1).
 *
 * @example
 * ```ts
 * const pool = natsWorkerPool(await connectNats(url, "lopt-coordinator"), url);
 * ```
 */
export function natsWorkerPool(nc: NatsConnection, url: string, o: { expected?: number } = {}): WorkerPool {
  const known = new Set<string>();
  let closed = false;
  return {
    local: false,
    expected: o.expected ?? 1,
    description: `NATS workers at ${redactUrl(url)}`,
    start(onJoin) {
      const sub = nc.subscribe(HEARTBEAT_SUBJECT);
      (async () => {
        for await (const m of sub) {
          let s: WorkerStatus;
          try {
            s = JSON.parse(dec.decode(m.data));
          } catch {
            continue;
          }
          if (closed || typeof s.workerId !== "string" || known.has(s.workerId)) continue;
          known.add(s.workerId);
          const subject = workerSubject(s.workerId);
          onJoin(
            {
              id: s.workerId,
              async call(req: CoordinatorRequest, timeoutMs: number): Promise<WorkerReply> {
                const r = await nc.request(subject, pack(nc, req), { timeout: timeoutMs });
                return JSON.parse(dec.decode(r.data)) as WorkerReply;
              },
            } satisfies WorkerLink,
          );
        }
      })();
      nc.publish(DISCOVER_SUBJECT);
      return Promise.resolve();
    },
    forget(id) {
      known.delete(id);
    },
    async close() {
      closed = true;
      await nc.drain().catch(() => {});
    },
  };
}

/**
 * Serves `worker` on connection `nc` until the connection closes: answers its requests one at a time and
 * publishes its heartbeat.
 *
 * @example
 * ```ts
 * await serveNatsWorker(new MetaWorker(id, await loptVersion(), initBackend), nc);
 * ```
 */
export async function serveNatsWorker(worker: MetaWorker, nc: NatsConnection): Promise<void> {
  const beat = () => {
    try {
      nc.publish(HEARTBEAT_SUBJECT, enc.encode(JSON.stringify(worker.status())));
    } catch { /* connection closing */ }
  };
  const timer = setInterval(beat, 2000);
  const discover = nc.subscribe(DISCOVER_SUBJECT, { callback: () => beat() });
  const sub = nc.subscribe(workerSubject(worker.id));
  beat();
  try {
    for await (const m of sub) {
      let reply: WorkerReply;
      try {
        reply = await worker.handle(JSON.parse(dec.decode(m.data)) as CoordinatorRequest);
      } catch (e) {
        reply = { type: "error", workerId: worker.id, message: (e as Error).message };
      }
      try {
        m.respond(pack(nc, reply));
      } catch (e) {
        m.respond(
          enc.encode(JSON.stringify({ type: "error", workerId: worker.id, message: (e as Error).message })),
        );
      }
      beat();
    }
  } finally {
    clearInterval(timer);
    discover.unsubscribe();
  }
}
