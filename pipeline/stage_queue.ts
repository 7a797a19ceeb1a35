/**
 * The JetStream work queue of stage runs, shared by the NATS executor (`nats_executor.ts`, which publishes
 * runs) and the stage workers (`stage_worker.ts`, which take them): names, message shapes and setup.
 *
 * - Stream {@link STAGE_STREAM}: work-queue retention (a run is delivered to one worker and removed when
 *   acknowledged) on subjects `lopt.stage.run.<stage>.<key>`, at most one message per subject, new ones
 *   refused: a key that is queued or running cannot be queued again, so two workers never run one key.
 * - Consumer {@link STAGE_CONSUMER}: one durable pull consumer all stage workers share; a run whose worker
 *   stops acknowledging progress for `ack_wait` is delivered again, to any worker.
 * - Core subjects `lopt.stage.out.<runId>` (worker → pipeline: start, output, heartbeat, exit) and
 *   `lopt.stage.cancel.<runId>` (pipeline → worker).
 *
 * @module
 */
import { AckPolicy, DiscardPolicy, nanos, type NatsConnection, RetentionPolicy, StorageType } from "nats";
import type { ChildJob } from "./child.ts";

/** The stream of stage runs. */
export const STAGE_STREAM = "LOPT_STAGES";
/** The stage workers' durable consumer. */
export const STAGE_CONSUMER = "lopt-stage-workers";

/**
 * Subject of the run of a stage key (stage names and keys are subject-safe: kebab-case and hex).
 *
 * @example
 * ```ts
 * runSubject("meta-train", "0123456789abcdef"); // "lopt.stage.run.meta-train.0123456789abcdef"
 * ```
 */
export function runSubject(stage: string, key: string): string {
  return `lopt.stage.run.${stage}.${key}`;
}

/**
 * Subject of a run's output.
 *
 * @example
 * ```ts
 * nc.subscribe(outSubject(runId));
 * ```
 */
export function outSubject(runId: string): string {
  return `lopt.stage.out.${runId}`;
}

/**
 * Subject that cancels a run.
 *
 * @example
 * ```ts
 * nc.publish(cancelSubject(runId), new TextEncoder().encode("SIGTERM"));
 * ```
 */
export function cancelSubject(runId: string): string {
  return `lopt.stage.cancel.${runId}`;
}

/** A queued stage run. */
export interface QueuedRun {
  /** Unique per run of the pipeline (names the out/cancel subjects). */
  runId: string;
  /** The child job (absolute paths in the shared results directory). */
  job: ChildJob;
  /** Where the job file is (in the shared results directory). */
  jobFile: string;
  /** The pipeline entry module, relative to the repository root. */
  entry: string;
  /** The publisher's lopt code (git commit, or deno.json version); workers refuse other code. */
  code: string;
}

/** What a stage worker reports about a run. */
export type RunEvent =
  | { type: "start"; attempt: number; worker: string }
  | { type: "out" | "err"; attempt: number; text: string }
  | { type: "alive"; attempt: number }
  | { type: "exit"; attempt: number; code: number; signal: string | null }
  | { type: "refused"; attempt: number; worker: string; reason: string };

/**
 * Creates the stream and the workers' consumer when missing (a consumer that exists gets `ackWaitMs`).
 *
 * @example
 * ```ts
 * await ensureStageQueue(nc, 30_000);
 * ```
 */
export async function ensureStageQueue(nc: NatsConnection, ackWaitMs?: number): Promise<void> {
  const jsm = await nc.jetstreamManager();
  try {
    await jsm.streams.info(STAGE_STREAM);
  } catch {
    await jsm.streams.add({
      name: STAGE_STREAM,
      subjects: ["lopt.stage.run.>"],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_msgs_per_subject: 1,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
    });
  }
  if (ackWaitMs === undefined) return;
  try {
    await jsm.consumers.update(STAGE_STREAM, STAGE_CONSUMER, { ack_wait: nanos(ackWaitMs) });
  } catch {
    await jsm.consumers.add(STAGE_STREAM, {
      durable_name: STAGE_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWaitMs),
      max_deliver: -1,
    });
  }
}

/**
 * The lopt code a run was published with: the git commit, else deno.json's version label.
 *
 * @example
 * ```ts
 * const code = await codeVersion(); // a git commit, or "version 1.2 (no git)"
 * ```
 */
export async function codeVersion(): Promise<string> {
  const { gitCommit, noGitVersion } = await import("./git.ts");
  const root = decodeURIComponent(new URL("../", import.meta.url).pathname);
  return (await gitCommit(root)) ?? await noGitVersion();
}
