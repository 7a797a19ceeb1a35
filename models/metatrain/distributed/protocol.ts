/**
 * The coordinator/worker protocol of distributed meta-training, the same over both transports (a local
 * worker's stdin/stdout pipes, or NATS). The coordinator sends requests (`job`, `task`) and each gets exactly
 * one reply; workers announce themselves with `hello` (pipes: the first line; NATS: periodic heartbeats).
 *
 * - `job` describes the run: the recipe the worker builds the learned optimizer and the problems from, the
 *   resolved configuration, and the configuration hash. The worker recomputes the hash with its own code and
 *   refuses the job when it differs, or when the coordinator runs another lopt version.
 * - `task` asks for the next partial unroll of one slot: the meta-parameters of a version and the slot's
 *   state. The reply carries the estimate and the slot's new state, so workers hold nothing the run needs:
 *   a task whose worker died is simply sent again, to any worker.
 *
 * @module
 */
import type { EncodedTensor } from "../../../lib/state_tree.ts";
import type { EncodedSlot } from "../slot_step.ts";
import type { MetaTrainConfig } from "../config.ts";
import { gitCommit, noGitVersion } from "../../../pipeline/git.ts";

/** Version of the messages below; part of {@link loptVersion}. */
export const PROTOCOL_VERSION = 1;

/**
 * Where a worker gets the learned optimizer and the problems from: a module of the lopt checkout (path
 * relative to the repository root) exporting `workerSetup(args)` (see {@link WorkerSetupModule}).
 */
export interface WorkerRecipe {
  /** Repository-relative module path, e.g. `stages/meta_train_setup.ts`. */
  module: string;
  /** JSON arguments of its `workerSetup`. */
  args: unknown;
}

/** A meta-training run as a worker sees it. */
export interface MetaJob {
  /** The run's configuration hash (the worker's own computation must match). */
  configHash: string;
  /** The coordinator's {@link loptVersion}. */
  loptVersion: string;
  /** TensorFlow.js backend the coordinator runs (the worker uses the same). */
  backend: string;
  /** What to build the learned optimizer and the problems from. */
  recipe: WorkerRecipe;
  /** The resolved meta-training configuration. */
  config: MetaTrainConfig;
  /** The run's seed. */
  seed: number;
  /** Slots. */
  metaBatch: number;
  /** Problem instances per slot. */
  instances: number;
  /** Starting meta-parameters (encoded) or null. */
  initialMetaParams: Record<string, EncodedTensor> | null;
  /** Asynchronous staleness bound, or null (synchronous). */
  asyncStaleness: number | null;
}

/** Coordinator → worker: take this job. */
export interface JobRequest {
  type: "job";
  job: MetaJob;
}

/** Coordinator → worker: run the next partial unroll of one slot. */
export interface TaskRequest {
  type: "task";
  /** Unique per attempt. */
  taskId: string;
  /** The job it belongs to. */
  configHash: string;
  /** Meta-parameter version (meta-updates applied before it). */
  version: number;
  /** The meta-parameters of `version`. */
  metaParams: Record<string, EncodedTensor>;
  /** Slot index. */
  slotIndex: number;
  /** The slot's state before the unroll. */
  slot: EncodedSlot;
}

/** A request of the coordinator. */
export type CoordinatorRequest = JobRequest | TaskRequest;

/** Worker → coordinator: the estimate of a task. */
export interface TaskResult {
  type: "result";
  taskId: string;
  workerId: string;
  /** Meta-loss (a string for NaN/Infinity, which JSON cannot hold). */
  loss: number | string;
  /** Cleaned meta-gradient. */
  grads: Record<string, EncodedTensor>;
  innerSteps: number;
  family: string;
  unrollLen: number;
  /** The slot's state after the unroll. */
  slot: EncodedSlot;
  /** Seconds the worker spent on it. */
  seconds: number;
}

/** Worker → coordinator: the job is accepted. */
export interface ReadyReply {
  type: "ready";
  workerId: string;
}

/** Worker → coordinator: the worker will not work for this coordinator (reason given). */
export interface RefusedReply {
  type: "refused";
  workerId: string;
  reason: string;
}

/** Worker → coordinator: the request failed on the worker. */
export interface ErrorReply {
  type: "error";
  workerId: string;
  message: string;
}

/** A reply of a worker. */
export type WorkerReply = TaskResult | ReadyReply | RefusedReply | ErrorReply;

/** What a worker reports about itself (the pipe hello; NATS heartbeats, read by `deno task workers`). */
export interface WorkerStatus {
  type: "hello";
  workerId: string;
  loptVersion: string;
  host: string;
  pid: number;
  /** The job it has loaded (config hash), or null. */
  job: string | null;
  /** What it runs now (`slot 1 of version 7`), or null when idle. */
  running: string | null;
  /** Tasks completed since it started. */
  tasksDone: number;
  /** Inner optimizer steps per second over its busy time. */
  innerStepsPerSecond: number;
  /** Unix time (ms) of this report. */
  at: number;
}

/** A module named by a {@link WorkerRecipe}. */
export interface WorkerSetupModule {
  /** Builds the learned optimizer and the problem source of a run from the recipe's args. */
  workerSetup(args: unknown): Promise<import("./worker.ts").WorkerSetup>;
}

let cachedVersion: Promise<string> | null = null;

/**
 * What names this lopt code for the protocol: the protocol version and the git commit (or `deno.json`'s
 * version for a checkout without git). A worker refuses a coordinator whose version differs.
 *
 * @example
 * ```ts
 * console.log(await loptVersion()); // "lopt-meta/1 3f2c…"
 * ```
 */
export function loptVersion(): Promise<string> {
  cachedVersion ??= (async () => {
    const root = new URL("../../../", import.meta.url);
    const commit = await gitCommit(decodeURIComponent(root.pathname));
    return `lopt-meta/${PROTOCOL_VERSION} ${commit ?? await noGitVersion()}`;
  })();
  return cachedVersion;
}

/**
 * A finite number as is, NaN/±Infinity as a string (JSON has no such numbers).
 *
 * @example
 * ```ts
 * encodeNumber(NaN); // "NaN"
 * ```
 */
export function encodeNumber(x: number): number | string {
  return Number.isFinite(x) ? x : String(x);
}
