/**
 * What the coordinator needs from a transport: workers that join, and a request/reply call to one of them.
 * Implemented by the local pipe pool (`pipe_pool.ts`) and the NATS pool (`nats_pool.ts`).
 *
 * @module
 */
import type { CoordinatorRequest, WorkerReply } from "./protocol.ts";

/** One worker as the coordinator reaches it. */
export interface WorkerLink {
  /** The worker's id. */
  readonly id: string;
  /**
   * Sends a request and resolves with the worker's reply; rejects when the worker is gone or does not answer
   * within `timeoutMs` (the coordinator then reassigns the work and calls {@link WorkerPool.forget}); an
   * error with `fatal: true` (a message too large for the transport) fails the run instead.
   */
  call(req: CoordinatorRequest, timeoutMs: number): Promise<WorkerReply>;
}

/** A set of workers. */
export interface WorkerPool {
  /** Short description for the log (`2 local workers`, `NATS at nats://127.0.0.1:4222`; no credentials). */
  readonly description: string;
  /** Whether the pool started the workers itself (then a worker refusing the job is an error of the run). */
  readonly local: boolean;
  /** Workers to wait for before the first meta-step (the local pool: all of them; NATS: one). */
  readonly expected: number;
  /**
   * Calls `onJoin` for every worker that is or becomes available (again after {@link forget}, when the
   * transport sees it alive), and `onFatal` when no worker can ever come (e.g. local workers that keep dying).
   */
  start(onJoin: (link: WorkerLink) => void, onFatal: (e: Error) => void): Promise<void>;
  /** The coordinator gave up on this worker (it failed or stalled): a local one is replaced. */
  forget(id: string, why: string): void;
  /** Stops the workers the pool started and closes its connections. */
  close(): Promise<void>;
}
