/**
 * What every step of one pipeline run shares: the options, the notice line writer that clears progress bars
 * first, the one queue for store calls, the running children and the interrupt (SIGINT/SIGTERM) state.
 *
 * @module
 */
import { join } from "node:path";
import type { RunningStage } from "./executor.ts";
import { isPidAlive } from "./pid.ts";
import type { PlannedStage } from "./plan.ts";
import type { ProgressReporter } from "./progress.ts";
import { reconcile } from "./reconcile.ts";
import type { RunOptions } from "./run_types.ts";

/**
 * The state of one run of a plan.
 *
 * @example
 * ```ts
 * const session = new RunSession(options);
 * await prepareResults(session);
 * const stopListening = session.listenForSignals();
 * ```
 */
export class RunSession {
  /** Progress bars on screen (cleared before a notice line). */
  readonly reporters: Set<ProgressReporter> = new Set();
  /** Stage processes running now. */
  readonly children: Set<RunningStage> = new Set();
  /** Set by the first SIGINT/SIGTERM: nothing more starts and nothing partial is published. */
  interrupted = false;
  #storeQueue: Promise<unknown> = Promise.resolve();
  readonly #notice: (line: string) => void;

  constructor(readonly o: RunOptions) {
    this.#notice = o.notice ?? ((l: string) => console.error(l));
  }

  /** Writes a notice line, clearing the progress bars first. */
  readonly say = (line: string): void => {
    for (const r of this.reporters) r.clear();
    this.#notice(line);
  };

  /** Runs a store call after the ones before it: the store holds a single DuckDB connection. */
  readonly serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = this.#storeQueue.then(fn);
    this.#storeQueue = p.catch(() => {});
    return p;
  };

  /** The log file of a stage run: `<resultsDir>/logs/<stage>-<key>.log`. */
  logPathOf(p: PlannedStage): string {
    return join(this.o.resultsDir, "logs", `${p.stage.name}-${p.key}.log`);
  }

  /** Records the stage's artifact as the last one of its profile. */
  writeLast(p: PlannedStage): Promise<void> {
    return this.o.artifacts.writeLast(p.stage.name, this.o.profile, {
      key: p.key,
      version: p.stage.version,
      params: p.params,
      inputs: p.inputs,
      time: new Date().toISOString(),
      code: p.code,
    });
  }

  /** The first signal terminates the children (killed 3 s later); a second one kills them at once. */
  interrupt(sig: Deno.Signal): void {
    if (this.interrupted) {
      for (const c of this.children) tryKill(c, "SIGKILL");
      return;
    }
    this.interrupted = true;
    this.say(
      `received ${sig}: stopping ${this.children.size} running stage(s); nothing partial will be published`,
    );
    for (const c of this.children) tryKill(c, "SIGTERM");
    const t = setTimeout(() => {
      for (const c of this.children) tryKill(c, "SIGKILL");
    }, 3000);
    Deno.unrefTimer(t);
  }

  /** Listens for SIGINT and SIGTERM (where the OS has them); returns the function that stops listening. */
  listenForSignals(): () => void {
    const listeners: [Deno.Signal, () => void][] = [];
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      try {
        const l = () => this.interrupt(sig);
        Deno.addSignalListener(sig, l);
        listeners.push([sig, l]);
      } catch { /* unsupported on this OS */ }
    }
    return () => {
      for (const [sig, l] of listeners) Deno.removeSignalListener(sig, l);
    };
  }
}

/**
 * Brings the results directory in line before stages run: creates the plan's tables, marks runs whose process
 * is gone as interrupted, reconciles the database with the published artifacts and removes the job files of
 * dead processes.
 *
 * @example
 * ```ts
 * await prepareResults(new RunSession(options));
 * ```
 */
export async function prepareResults(s: RunSession): Promise<void> {
  const o = s.o;
  await s.serial(() => o.store.ensureTables(o.plan.flatMap((p) => p.stage.tables)));
  const marked = await s.serial(() => o.store.markInterrupted());
  if (marked.length) {
    s.say(
      `marked ${marked.length} stage run(s) interrupted (their process is gone): ` +
        marked.map((m) => `${m.stage}/${m.key}`).join(", "),
    );
  }
  await reconcile({
    plan: o.plan,
    store: o.store,
    artifacts: o.artifacts,
    resultsDir: o.resultsDir,
    say: s.say,
    serial: s.serial,
  });
  await Deno.mkdir(join(o.resultsDir, "logs"), { recursive: true });
  await Deno.mkdir(join(o.resultsDir, ".tmp"), { recursive: true });
  for await (const e of Deno.readDir(join(o.resultsDir, ".tmp"))) {
    const m = /^job-.*-(\d+)\.json$/.exec(e.name);
    if (m && !isPidAlive(Number(m[1]))) await Deno.remove(join(o.resultsDir, ".tmp", e.name)).catch(() => {});
  }
}

function tryKill(c: RunningStage, sig: "SIGTERM" | "SIGKILL"): void {
  try {
    c.kill(sig);
  } catch { /* already exited */ }
}
