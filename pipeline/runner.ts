/**
 * Executes a plan: first brings the results database in line with the published artifacts (see
 * `reconcile.ts`), then runs each stage that must run in a child Deno process (see `child.ts`) with its output
 * in `<resultsDir>/logs/<stage>-<key>.log`. The child appends rows to `rows/<table>.ndjson` in its staging
 * dir; on success the parent seals the staging dir with a manifest and, in one database transaction, replaces
 * the key's rows with the new ones, records the run and the artifact, and renames the staging dir into place.
 * Up to `jobs` independent stages run at once; a failure skips its downstream stages and lets the others
 * finish. SIGINT and SIGTERM kill the children and publish nothing.
 *
 * @module
 */

import { localExecutor } from "./executor.ts";
import type { PlannedStage } from "./plan.ts";
import { prepareResults, RunSession } from "./run_session.ts";
import type { RunOptions, RunResult, StageOutcome } from "./run_types.ts";
import { runStage } from "./stage_run.ts";

export type { RunOptions, RunResult, StageOutcome, StoreLike } from "./run_types.ts";

/** What the scheduler does next with a planned stage. */
type Step =
  | { kind: "wait" }
  | { kind: "start" }
  | { kind: "skip"; outcome: StageOutcome; root?: string };

/**
 * Decides a stage not yet started: skip it (an upstream failed or was skipped, or the run was interrupted),
 * start it (every upstream ran or was cached) or wait.
 */
function nextStep(
  p: PlannedStage,
  outcomes: ReadonlyMap<string, StageOutcome>,
  failedRoot: ReadonlyMap<string, string>,
  interrupted: boolean,
): Step {
  const name = p.stage.name;
  const badDep = p.stage.deps.find((d: string) => {
    const s = outcomes.get(d)?.status;
    return s === "failed" || s === "skipped";
  });
  if (badDep) {
    const root = failedRoot.get(badDep) ?? badDep;
    const why = outcomes.get(root)?.detail === "interrupted" ? "interrupted" : `upstream ${root} failed`;
    return {
      kind: "skip",
      root,
      outcome: { stage: name, key: p.key, status: "skipped", seconds: 0, detail: why },
    };
  }
  if (interrupted) {
    return {
      kind: "skip",
      outcome: { stage: name, key: p.key, status: "skipped", seconds: 0, detail: "interrupted" },
    };
  }
  const ready = p.stage.deps.every((d: string) => {
    const s = outcomes.get(d)?.status;
    return s === "ran" || s === "cached";
  });
  return ready ? { kind: "start" } : { kind: "wait" };
}

/** Uses a stage's cached artifact: records it as the profile's last one. */
async function useCached(s: RunSession, p: PlannedStage): Promise<StageOutcome> {
  const t0 = performance.now();
  try {
    await s.writeLast(p);
    return { stage: p.stage.name, key: p.key, status: "cached", seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    s.say(`stage ${p.stage.name}: using its cached artifact failed (${msg})`);
    return { stage: p.stage.name, key: p.key, status: "failed", seconds: 0, detail: msg };
  }
}

/**
 * Runs the plan; never throws for a stage failure (see the outcomes).
 *
 * @example
 * ```ts
 * const { outcomes, interrupted } = await runPlan({ plan, resultsDir, profile: "smoke", jobs: 1, store, artifacts, gitCommit: null });
 * ```
 */
export async function runPlan(o: RunOptions): Promise<RunResult> {
  const s = new RunSession(o);
  await prepareResults(s);
  const executor = o.executor ?? localExecutor(o.childFlags);
  const stopListening = s.listenForSignals();
  const byName = new Map(o.plan.map((p) => [p.stage.name, p]));
  const outcomes = new Map<string, StageOutcome>();
  /** For skipped stages: the failed stage at the root. */
  const failedRoot = new Map<string, string>();
  const running = new Map<string, Promise<void>>();
  try {
    while (true) {
      let progressed = false;
      for (const p of o.plan) {
        const name = p.stage.name;
        if (outcomes.has(name) || running.has(name)) continue;
        const step = nextStep(p, outcomes, failedRoot, s.interrupted);
        if (step.kind === "wait") continue;
        if (step.kind === "skip") {
          if (step.root !== undefined) failedRoot.set(name, step.root);
          outcomes.set(name, step.outcome);
        } else if (p.action === "cached") {
          outcomes.set(name, await useCached(s, p));
        } else if (running.size >= Math.max(1, o.jobs)) {
          continue;
        } else {
          running.set(
            name,
            runStage(s, executor, p, byName).then((r) => {
              outcomes.set(name, r);
              running.delete(name);
            }),
          );
        }
        progressed = true;
      }
      if (progressed) continue;
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
  } finally {
    stopListening();
  }
  return { outcomes: o.plan.map((p) => outcomes.get(p.stage.name)!), interrupted: s.interrupted };
}
