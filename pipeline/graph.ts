/**
 * The stage graph: validation (unique names, known deps, no cycles), topological order, and the upstream and
 * downstream closures used to select what a run covers.
 *
 * @module
 */

import { PipelineError } from "./errors.ts";

/** The part of a stage the graph functions need. */
export interface GraphNode {
  name: string;
  deps: string[];
  /** Stages ordered before this one and passed to it only when a run selects them too. */
  optionalDeps?: string[];
  /** False: a run without stage names leaves this stage out (it runs when named, or as a named stage's dep). */
  defaultTarget?: boolean;
}

/** A stage's deps and optional deps: every stage it may have to run after. */
function orderingDeps(s: GraphNode): string[] {
  return [...s.deps, ...(s.optionalDeps ?? [])];
}

/**
 * Checks that stage names are unique, every dep names a stage, and the graph has no cycle. Throws a
 * {@link PipelineError} naming the duplicate, the unknown dep (with the valid names) or the cycle.
 *
 * @example
 * ```ts
 * validateGraph([{ name: "a", deps: ["b"] }, { name: "b", deps: ["a"] }]); // throws: cycle a -> b -> a
 * ```
 */
export function validateGraph(stages: readonly GraphNode[]): void {
  const names = new Set<string>();
  for (const s of stages) {
    if (names.has(s.name)) throw new PipelineError(`duplicate stage name "${s.name}"`);
    names.add(s.name);
  }
  for (const s of stages) {
    for (const d of orderingDeps(s)) {
      if (!names.has(d)) {
        throw new PipelineError(
          `stage "${s.name}" depends on unknown stage "${d}"; valid stages: ${[...names].join(", ")}`,
        );
      }
    }
  }
  const byName = new Map(stages.map((s) => [s.name, s]));
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (name: string): void => {
    const st = state.get(name);
    if (st === "done") return;
    if (st === "visiting") {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw new PipelineError(`stage graph has a cycle: ${cycle.join(" -> ")}`);
    }
    state.set(name, "visiting");
    path.push(name);
    for (const d of orderingDeps(byName.get(name)!)) visit(d);
    path.pop();
    state.set(name, "done");
  };
  for (const s of stages) visit(s.name);
}

/**
 * Returns the stages in an order where every stage comes after its deps; ties keep declaration order.
 * Assumes {@link validateGraph} passed.
 *
 * @example
 * ```ts
 * const stages = [{ name: "report", deps: ["train"] }, { name: "train", deps: [] }];
 * topoOrder(stages).map((s) => s.name); // ["train", "report"]
 * ```
 */
export function topoOrder<T extends GraphNode>(stages: readonly T[]): T[] {
  const done = new Set<string>();
  const out: T[] = [];
  while (out.length < stages.length) {
    const next = stages.find((s) => !done.has(s.name) && s.deps.every((d) => done.has(d)));
    if (!next) throw new PipelineError("stage graph has a cycle (run validateGraph for details)");
    done.add(next.name);
    out.push(next);
  }
  return out;
}

/**
 * Throws a {@link PipelineError} listing the valid stage names when `name` is not a stage.
 *
 * @example
 * ```ts
 * assertStageName(STAGES, "meta-trian"); // throws: unknown stage "meta-trian"; valid stages: ...
 * ```
 */
export function assertStageName(stages: readonly GraphNode[], name: string): void {
  if (!stages.some((s) => s.name === name)) {
    throw new PipelineError(
      `unknown stage "${name}"; valid stages: ${stages.map((s) => s.name).join(", ")}`,
    );
  }
}

/**
 * The named stages plus everything upstream of them, in topological order. No names selects every stage of
 * the default target (all but those with `defaultTarget: false`) and their upstream. Unknown names throw a
 * {@link PipelineError} listing the valid ones. A selected stage's `optionalDeps` that are selected too
 * become its deps in the returned copy (so they run first and feed it); the others are dropped.
 *
 * @example
 * ```ts
 * selectWithUpstream(stages, ["report"]).map((s) => s.name);
 * ```
 */
export function selectWithUpstream<T extends GraphNode>(stages: readonly T[], names: readonly string[]): T[] {
  if (names.length === 0) {
    const all = topoOrder(stages);
    if (all.every((s) => s.defaultTarget !== false)) return all;
    return selectWithUpstream(stages, all.filter((s) => s.defaultTarget !== false).map((s) => s.name));
  }
  for (const n of names) assertStageName(stages, n);
  const byName = new Map(stages.map((s) => [s.name, s]));
  const keep = new Set<string>();
  const add = (n: string): void => {
    if (keep.has(n)) return;
    keep.add(n);
    for (const d of byName.get(n)!.deps) add(d);
  };
  for (const n of names) add(n);
  const bound = stages.filter((s) => keep.has(s.name)).map((s) => bindOptionalDeps(s, keep));
  return topoOrder(bound);
}

/** `s` with its optional deps that are in `selected` added to its deps (the same object when none is). */
function bindOptionalDeps<T extends GraphNode>(s: T, selected: ReadonlySet<string>): T {
  const extra = (s.optionalDeps ?? []).filter((d) => selected.has(d) && !s.deps.includes(d));
  return extra.length ? { ...s, deps: [...s.deps, ...extra] } : s;
}

/**
 * Names of every stage downstream of any of `names` (transitively), excluding `names` themselves.
 *
 * @example
 * ```ts
 * downstreamOf([{ name: "a", deps: [] }, { name: "b", deps: ["a"] }], ["a"]); // Set { "b" }
 * ```
 */
export function downstreamOf(stages: readonly GraphNode[], names: readonly string[]): Set<string> {
  const out = new Set<string>();
  const start = new Set(names);
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of stages) {
      if (out.has(s.name) || start.has(s.name)) continue;
      if (s.deps.some((d) => start.has(d) || out.has(d))) {
        out.add(s.name);
        grew = true;
      }
    }
  }
  return out;
}
