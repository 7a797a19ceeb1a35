/**
 * The coordinator side of distributed meta-training: an {@link EstimateSource} for `metaTrain` that hands
 * the slots' partial unrolls to workers of a {@link WorkerPool} and takes the estimates and the slots' new
 * states back. The meta-training loop itself (meta-parameters, meta-optimizer, schedule, checkpoints, curve)
 * stays in `metaTrain`.
 *
 * - **Synchronous** (default): a meta-step sends every slot's task, waits for all of them and returns the
 *   estimates in slot order, so the sum of gradients is formed in the same order as in-process and the run
 *   equals in-process meta-training bit for bit.
 * - **Asynchronous** (`asyncStaleness`): every slot is always in flight; each estimate that arrives is one
 *   meta-update if it was computed with meta-params at most `asyncStaleness` versions old, and is rejected
 *   otherwise (its slot still moves on, as a worker's trajectory does in learned_optimization's
 *   `AsyncLearner`). Slot states change only when an estimate is consumed, so a checkpoint never holds a slot
 *   ahead of the estimates applied.
 *
 * A worker that fails to answer a task within `taskTimeoutMs`, or whose connection ends, is given up
 * ({@link WorkerPool.forget}) and its task goes to another worker; a reply to a task that was reassigned is
 * ignored, so no estimate is counted twice.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { DistributeInit, EstimateSource } from "../estimate_source.ts";
import type { EncodedSlot, SlotEstimate } from "../slot_step.ts";
import { decodeTensorMap, type EncodedTensor, encodeTensorMap } from "../../../lib/state_tree.ts";
import type { MetaJob, TaskResult, WorkerRecipe } from "./protocol.ts";
import { loptVersion } from "./protocol.ts";
import type { WorkerLink, WorkerPool } from "./pool.ts";

/** Options of {@link distributeTo}. */
export interface CoordinatorOptions {
  /** The workers. */
  pool: WorkerPool;
  /** What workers build the learned optimizer and the problems from. */
  recipe: WorkerRecipe;
  /** The run's seed, slots and instances (as passed to `metaTrain`). */
  seed: number;
  metaBatch: number;
  instances: number;
  /** Starting meta-parameters (encoded), or null. */
  initialMetaParams?: Record<string, EncodedTensor> | null;
  /** Asynchronous mode with this staleness bound; absent: synchronous. */
  asyncStaleness?: number;
  /** A task not answered within this many milliseconds is reassigned. */
  taskTimeoutMs: number;
  /** A slot whose task failed on this many attempts (an error reply, not a lost worker) fails the run. */
  maxTaskErrors?: number;
  /** Counts of consumed estimates, for tests and the log. */
  onStats?: (s: CoordinatorStats) => void;
}

/** What the coordinator did, reported through {@link CoordinatorOptions.onStats} when it closes. */
export interface CoordinatorStats {
  /** Estimates applied. */
  accepted: number;
  /** Estimates rejected as too stale (asynchronous mode). */
  rejected: number;
  /** Tasks sent again after their worker failed or stalled. */
  reassigned: number;
  /** Seconds spent in the coordinator's own work per meta-step (encoding, decoding, bookkeeping), mean. */
  overheadSecondsPerStep: number;
}

interface Arrival {
  slotIndex: number;
  version: number;
  result: TaskResult;
}

/**
 * The `distribute` argument of `metaTrain` that runs the slots on `o.pool`'s workers.
 *
 * @example
 * ```ts
 * const result = await metaTrain({ ...args, distribute: distributeTo({ pool, recipe, seed: 0, metaBatch: 2,
 *   instances: 1, taskTimeoutMs: 600_000 }) });
 * ```
 */
export function distributeTo(o: CoordinatorOptions): (init: DistributeInit) => Promise<EstimateSource> {
  return async (init) => {
    const job: MetaJob = {
      configHash: init.configHash,
      loptVersion: await loptVersion(),
      backend: tf.getBackend(),
      recipe: o.recipe,
      config: init.config,
      seed: o.seed,
      metaBatch: o.metaBatch,
      instances: o.instances,
      initialMetaParams: o.initialMetaParams ?? null,
      asyncStaleness: o.asyncStaleness ?? null,
    };
    const c = new Coordinator(o, job, init.slots, init.log);
    await c.start();
    return c;
  };
}

class Coordinator implements EstimateSource {
  readonly #links = new Map<string, WorkerLink>();
  readonly #refused = new Set<string>();
  #idle: WorkerLink[] = [];
  #queue: number[] = [];
  readonly #inflight = new Map<string, { slotIndex: number; version: number; link: WorkerLink }>();
  #arrivals: Arrival[] = [];
  readonly #inFlightSlots = new Set<number>();
  #version = 0;
  #params: { version: number; enc: Record<string, EncodedTensor> } | null = null;
  #seq = 0;
  #wake: (() => void) | null = null;
  #fatal: Error | null = null;
  #closed = false;
  readonly #errors = new Map<number, number>();
  /** Slot → the worker it was last sent to. */
  readonly #affinity = new Map<number, string>();
  readonly #stats = { accepted: 0, rejected: 0, reassigned: 0, overhead: 0, steps: 0 };

  constructor(
    private readonly o: CoordinatorOptions,
    private readonly job: MetaJob,
    private readonly slots: EncodedSlot[],
    private readonly log: (m: string) => void,
  ) {}

  async start(): Promise<void> {
    const mode = this.o.asyncStaleness === undefined
      ? "synchronous"
      : `asynchronous, staleness <= ${this.o.asyncStaleness}`;
    this.log(`meta-training workers: ${this.o.pool.description} (${mode})`);
    await this.o.pool.start((l) => this.#join(l), (e) => {
      this.#fatal = e;
      this.#poke();
    });
    // Wait for the pool's workers (all local ones, at least one remote one) before the first meta-step.
    let since = performance.now();
    while (this.#idle.length < this.o.pool.expected) {
      if (this.#fatal) {
        await this.o.pool.close();
        throw this.#fatal;
      }
      if (!(await this.#sleep(30_000)) && performance.now() - since >= 30_000) {
        since = performance.now();
        this.log(`waiting for meta-training workers (${this.#idle.length} of ${this.o.pool.expected} ready)`);
      }
    }
  }

  encodeSlots(): EncodedSlot[] {
    return this.slots;
  }

  async next(metaParams: Record<string, tf.Tensor>, version: number): Promise<SlotEstimate[]> {
    let t = performance.now();
    this.#version = version;
    this.#params = { version, enc: encodeTensorMap(metaParams) };
    let overhead = performance.now() - t;
    const sync = this.o.asyncStaleness === undefined;
    if (sync) {
      this.#arrivals = [];
      this.#queue = this.slots.map((_, i) => i);
      for (let i = 0; i < this.slots.length; i++) this.#inFlightSlots.add(i);
    } else {
      for (let i = 0; i < this.slots.length; i++) {
        if (!this.#inFlightSlots.has(i)) {
          this.#inFlightSlots.add(i);
          this.#queue.push(i);
        }
      }
    }
    this.#dispatch();
    let waitedSince = performance.now();
    while (true) {
      if (this.#fatal) throw this.#fatal;
      t = performance.now();
      if (sync) {
        if (this.#arrivals.length === this.slots.length) {
          const out = this.#arrivals.sort((a, b) => a.slotIndex - b.slotIndex).map((a) =>
            this.#consume(a, 0)
          );
          this.#arrivals = [];
          this.#account(overhead + performance.now() - t);
          return out;
        }
      } else {
        while (this.#arrivals.length > 0) {
          const a = this.#arrivals.shift() as Arrival;
          const staleness = version - a.version;
          if (staleness > (this.o.asyncStaleness as number)) {
            this.#stats.rejected++;
            this.slots[a.slotIndex] = a.result.slot;
            this.#inFlightSlots.add(a.slotIndex);
            this.#queue.push(a.slotIndex);
            this.#dispatch();
            continue;
          }
          const est = this.#consume(a, staleness);
          this.#inFlightSlots.add(a.slotIndex);
          this.#queue.push(a.slotIndex);
          this.#dispatch();
          this.#account(overhead + performance.now() - t);
          return [est];
        }
      }
      overhead += performance.now() - t;
      const waited = await this.#sleep(30_000);
      if (!waited && performance.now() - waitedSince >= 30_000) {
        waitedSince = performance.now();
        this.log(
          `waiting for meta-training workers: ${this.#links.size} connected, ${this.#queue.length} slot(s) ` +
            `queued, ${this.#inflight.size} running`,
        );
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const s = this.#stats;
    this.o.onStats?.({
      accepted: s.accepted,
      rejected: s.rejected,
      reassigned: s.reassigned,
      overheadSecondsPerStep: s.steps ? s.overhead / 1000 / s.steps : 0,
    });
    if (s.rejected > 0 || s.reassigned > 0) {
      this.log(
        `meta-training workers: ${s.rejected} stale estimate(s) rejected, ${s.reassigned} task(s) reassigned`,
      );
    }
    this.#poke();
    await this.o.pool.close();
  }

  #account(overheadMs: number): void {
    this.#stats.overhead += overheadMs;
    this.#stats.steps++;
  }

  /** The estimate of an arrival (slot state taken over, gradients decoded). */
  #consume(a: Arrival, staleness: number): SlotEstimate {
    this.#stats.accepted++;
    this.slots[a.slotIndex] = a.result.slot;
    this.#inFlightSlots.delete(a.slotIndex);
    const r = a.result;
    return {
      slot: a.slotIndex,
      loss: Number(r.loss),
      grads: decodeTensorMap(r.grads),
      innerSteps: r.innerSteps,
      family: r.family,
      unrollLen: r.unrollLen,
      worker: r.workerId,
      staleness,
    };
  }

  #sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null;
        resolve(false);
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve(true);
      };
    });
  }

  #poke(): void {
    this.#wake?.();
  }

  #join(link: WorkerLink): void {
    if (this.#closed || this.#links.has(link.id) || this.#refused.has(link.id)) return;
    this.#links.set(link.id, link);
    link.call({ type: "job", job: this.job }, this.o.taskTimeoutMs).then((reply) => {
      if (this.#closed || this.#links.get(link.id) !== link) return;
      if (reply.type === "ready") {
        this.#idle.push(link);
        this.#dispatch();
        this.#poke();
      } else if (reply.type === "refused") {
        this.#refused.add(link.id);
        this.#links.delete(link.id);
        this.log(`worker ${link.id} refused this run: ${reply.reason}`);
        this.o.pool.forget(link.id, "refused the job");
        if (this.o.pool.local) {
          this.#fatal = new Error(`local meta-training worker ${link.id} refused the run: ${reply.reason}`);
          this.#poke();
        }
      } else {
        this.#lose(link, reply.type === "error" ? reply.message : `unexpected reply ${reply.type} to a job`);
      }
    }, (e) => {
      if (this.#closed) return;
      if ((e as { fatal?: boolean }).fatal) {
        this.#fatal = e as Error;
        this.#poke();
      } else this.#lose(link, (e as Error).message);
    });
  }

  #lose(link: WorkerLink, why: string): void {
    if (this.#links.get(link.id) !== link) return;
    this.#links.delete(link.id);
    this.#idle = this.#idle.filter((l) => l !== link);
    this.log(`worker ${link.id} given up: ${why}`);
    this.o.pool.forget(link.id, why);
  }

  /**
   * The idle worker for queued slot `s`: the one that ran it last (it has the slot's problem built), else one
   * that no other queued slot ran last, else any.
   */
  #pickWorker(s: number): WorkerLink {
    const last = this.#affinity.get(s);
    let i = this.#idle.findIndex((l) => l.id === last);
    if (i < 0) {
      const claimed = new Set(this.#queue.map((q) => this.#affinity.get(q)));
      i = this.#idle.findIndex((l) => !claimed.has(l.id));
    }
    return this.#idle.splice(Math.max(0, i), 1)[0];
  }

  #dispatch(): void {
    while (!this.#closed && this.#queue.length > 0 && this.#idle.length > 0 && this.#params) {
      const slotIndex = this.#queue.shift() as number;
      const link = this.#pickWorker(slotIndex);
      this.#affinity.set(slotIndex, link.id);
      const version = this.#params.version;
      const taskId = `${version}.${slotIndex}.${++this.#seq}`;
      this.#inflight.set(taskId, { slotIndex, version, link });
      link.call({
        type: "task",
        taskId,
        configHash: this.job.configHash,
        version,
        metaParams: this.#params.enc,
        slotIndex,
        slot: this.slots[slotIndex],
      }, this.o.taskTimeoutMs).then(
        (reply) => {
          const info = this.#inflight.get(taskId);
          if (!info || this.#closed) return; // reassigned meanwhile: ignored, never counted
          this.#inflight.delete(taskId);
          if (this.#links.get(link.id) === link) this.#idle.push(link);
          if (reply.type === "result") {
            this.#arrivals.push({ slotIndex, version, result: reply });
          } else {
            const msg = reply.type === "error" ? reply.message : `unexpected reply ${reply.type}`;
            const n = (this.#errors.get(slotIndex) ?? 0) + 1;
            this.#errors.set(slotIndex, n);
            this.log(`worker ${link.id} failed slot ${slotIndex} of version ${version}: ${msg}`);
            if (n >= (this.o.maxTaskErrors ?? 3)) {
              this.#fatal = new Error(`slot ${slotIndex} failed on ${n} attempts; last: ${msg}`);
            } else this.#queue.unshift(slotIndex);
          }
          this.#dispatch();
          this.#poke();
        },
        (e) => {
          const info = this.#inflight.get(taskId);
          if (!info || this.#closed) return;
          this.#inflight.delete(taskId);
          if ((e as { fatal?: boolean }).fatal) {
            this.#fatal = e as Error;
            this.#poke();
            return;
          }
          this.#stats.reassigned++;
          this.#lose(link, `slot ${slotIndex} of version ${version}: ${(e as Error).message}; reassigned`);
          this.#queue.unshift(slotIndex);
          this.#dispatch();
          this.#poke();
        },
      );
    }
  }
}
