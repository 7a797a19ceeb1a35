/**
 * The meta-training worker's core, independent of the transport: it takes a job (checks the lopt version and
 * recomputes the configuration hash with its own code), then answers tasks by running {@link stepSlot} on
 * the slot it is handed, exactly as in-process meta-training does. The built problem of each slot index is
 * kept between tasks (rebuilt when the slot moves to another problem), like the in-process loop keeps it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { LearnedOptimizer } from "../../optimizers/learned.ts";
import { metaTrainConfigHash, resolveMetaTrainConfig } from "../config.ts";
import {
  decodeSlot,
  encodeSlot,
  makeSlotStepper,
  type ProblemSource,
  type SlotStepper,
  stepSlot,
} from "../slot_step.ts";
import type { BatchedProblem } from "../../../tasks/batched.ts";
import { decodeTensorMap, encodeTensorMap } from "../../../lib/state_tree.ts";
import { disposeCarry } from "../estimators.ts";
import { disposeTree } from "../../../lib/state_tree.ts";
import {
  type CoordinatorRequest,
  encodeNumber,
  type MetaJob,
  type TaskRequest,
  type WorkerRecipe,
  type WorkerReply,
  type WorkerSetupModule,
  type WorkerStatus,
} from "./protocol.ts";

/** What a recipe's `workerSetup` returns. */
export interface WorkerSetup {
  /** The learned-optimizer family. */
  learned: LearnedOptimizer;
  /** The problem ensemble. */
  problems: ProblemSource;
}

const RECIPE_PATH = /^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_\-/.]*\.ts$/;

/**
 * Imports a recipe's module from this checkout (a repository-relative path, nothing outside it) and runs its
 * `workerSetup`.
 *
 * @example
 * ```ts
 * const { learned, problems } = await loadRecipe({ module: "stages/meta_train_setup.ts", args });
 * ```
 */
export async function loadRecipe(recipe: WorkerRecipe): Promise<WorkerSetup> {
  if (!RECIPE_PATH.test(recipe.module)) {
    throw new Error(`recipe module ${JSON.stringify(recipe.module)} is not a path inside the lopt checkout`);
  }
  const url = new URL(`../../../${recipe.module}`, import.meta.url);
  const mod = await import(url.href) as Partial<WorkerSetupModule>;
  if (typeof mod.workerSetup !== "function") {
    throw new Error(`recipe module ${recipe.module} does not export workerSetup`);
  }
  return await mod.workerSetup(recipe.args);
}

interface LoadedJob {
  job: MetaJob;
  stepper: SlotStepper;
}

/**
 * A meta-training worker (one job at a time; a new job replaces the old one).
 *
 * @example
 * ```ts
 * const worker = new MetaWorker("box-1", await loptVersion(), (b) => initBackend(b as BackendName));
 * const reply = await worker.handle({ type: "job", job });
 * ```
 */
export class MetaWorker {
  #loaded: LoadedJob | null = null;
  #problems = new Map<number, { problemIndex: number; problem: BatchedProblem }>();
  #params: { version: number; hash: string; tensors: Record<string, tf.Tensor> } | null = null;
  #running: string | null = null;
  #tasksDone = 0;
  #innerSteps = 0;
  #busySeconds = 0;

  /**
   * @param id this worker's id (in the curve and the status listing)
   * @param version this code's `loptVersion()`
   * @param initBackend selects the TensorFlow.js backend a job asks for
   */
  constructor(
    readonly id: string,
    readonly version: string,
    private readonly initBackend: (name: string) => Promise<unknown>,
  ) {}

  /** The status this worker reports. */
  status(): WorkerStatus {
    return {
      type: "hello",
      workerId: this.id,
      loptVersion: this.version,
      host: Deno.hostname(),
      pid: Deno.pid,
      job: this.#loaded?.job.configHash ?? null,
      running: this.#running,
      tasksDone: this.#tasksDone,
      innerStepsPerSecond: this.#busySeconds > 0 ? this.#innerSteps / this.#busySeconds : 0,
      at: Date.now(),
    };
  }

  /** Answers one request of the coordinator (never throws: failures are `error` replies). */
  async handle(req: CoordinatorRequest): Promise<WorkerReply> {
    try {
      if (req.type === "job") return await this.#job(req.job);
      if (req.type === "task") return await this.#task(req);
      return {
        type: "error",
        workerId: this.id,
        message: `unknown request ${(req as { type: string }).type}`,
      };
    } catch (e) {
      return { type: "error", workerId: this.id, message: (e as Error).message };
    }
  }

  async #job(job: MetaJob): Promise<WorkerReply> {
    if (job.loptVersion !== this.version) {
      return {
        type: "refused",
        workerId: this.id,
        reason:
          `the coordinator runs ${job.loptVersion}, this worker ${this.version}; run both from the same ` +
          "lopt commit",
      };
    }
    if (this.#loaded?.job.configHash === job.configHash) return { type: "ready", workerId: this.id };
    this.#drop();
    await this.initBackend(job.backend);
    const setup = await loadRecipe(job.recipe);
    const config = resolveMetaTrainConfig(job.config);
    const hash = await metaTrainConfigHash({
      learned: setup.learned,
      config,
      seed: job.seed,
      metaBatch: job.metaBatch,
      instances: job.instances,
      specs: setup.problems.specs,
      initialMetaParams: job.initialMetaParams,
      asyncStaleness: job.asyncStaleness ?? undefined,
    });
    if (hash !== job.configHash) {
      return {
        type: "refused",
        workerId: this.id,
        reason:
          `this worker's code gives the job configuration hash ${hash.slice(0, 12)}, the coordinator's ` +
          `is ${job.configHash.slice(0, 12)}`,
      };
    }
    const stepper = makeSlotStepper({
      learned: setup.learned,
      problems: setup.problems,
      schedule: config.schedule,
      estimator: config.estimator,
      unroll: config.unroll,
      seed: job.seed,
      instances: job.instances,
    });
    this.#loaded = { job, stepper };
    return { type: "ready", workerId: this.id };
  }

  async #task(t: TaskRequest): Promise<WorkerReply> {
    const loaded = this.#loaded;
    if (!loaded || loaded.job.configHash !== t.configHash) {
      return {
        type: "error",
        workerId: this.id,
        message: "no job loaded for this task (send the job first)",
      };
    }
    const t0 = performance.now();
    this.#running = `slot ${t.slotIndex} of version ${t.version}`;
    if (!this.#params || this.#params.version !== t.version || this.#params.hash !== t.configHash) {
      if (this.#params) tf.dispose(Object.values(this.#params.tensors));
      this.#params = { version: t.version, hash: t.configHash, tensors: decodeTensorMap(t.metaParams) };
    }
    const slot = decodeSlot(t.slot);
    const cached = this.#problems.get(t.slotIndex);
    if (cached) {
      slot.problem = cached.problem;
      slot.problemIndex = cached.problemIndex;
    }
    try {
      const est = await stepSlot(loaded.stepper, slot, this.#params.tensors);
      if (slot.problem) {
        this.#problems.set(t.slotIndex, { problemIndex: slot.problemIndex, problem: slot.problem });
      } else this.#problems.delete(t.slotIndex);
      const grads = encodeTensorMap(est.grads);
      tf.dispose(Object.values(est.grads));
      const seconds = (performance.now() - t0) / 1000;
      this.#tasksDone++;
      this.#innerSteps += est.innerSteps;
      this.#busySeconds += seconds;
      return {
        type: "result",
        taskId: t.taskId,
        workerId: this.id,
        loss: encodeNumber(est.loss),
        grads,
        innerSteps: est.innerSteps,
        family: est.family,
        unrollLen: est.unrollLen,
        slot: encodeSlot(slot),
        seconds,
      };
    } catch (e) {
      // The slot's problem may be half-used; drop it so the retry rebuilds it.
      slot.problem?.dispose();
      this.#problems.delete(t.slotIndex);
      throw e;
    } finally {
      disposeCarry(slot.carry);
      for (const s of slot.saved ?? []) disposeTree(s);
      this.#running = null;
    }
  }

  #drop(): void {
    for (const { problem } of this.#problems.values()) problem.dispose();
    this.#problems.clear();
    if (this.#params) tf.dispose(Object.values(this.#params.tensors));
    this.#params = null;
    this.#loaded = null;
  }

  /** Releases the job's problems and tensors. */
  close(): void {
    this.#drop();
  }
}
