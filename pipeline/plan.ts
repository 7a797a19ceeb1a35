/**
 * Planning a run: resolve params, compute keys in topological order, and decide per stage whether its
 * artifact is cached or must run, with the reason (`no artifact`, `params changed: a, b`,
 * `upstream changed: X`, `code changed: path, ...`, `forced`, `corrupt artifact: ...`, `version changed`).
 *
 * @module
 */

import type { ArtifactStore, LastRecord, Manifest } from "./artifacts.ts";
import { canonicalJson, computeKey } from "./cache.ts";
import { changedCodeFiles, hashCodeDeps, REPO_ROOT } from "./code_deps.ts";
import { resolveParams, type SetOverride } from "./params.ts";
import type { Params, StageDef } from "./stage.ts";

/** A stage's place in a plan. */
export interface PlannedStage {
  // deno-lint-ignore no-explicit-any
  stage: StageDef<any>;
  params: Params;
  key: string;
  /** Artifact keys of the deps by dep name. */
  inputs: Record<string, string>;
  /** Content hashes of the stage's code dependencies by path (absent when it declares none). */
  code?: Record<string, string>;
  action: "cached" | "run";
  /** Why it runs (empty when cached). */
  reason: string;
  /** Set when the published artifact failed verification. */
  corrupt?: string;
  /** The manifest of the published artifact of `key` when it passed verification (also when forced). */
  manifest?: Manifest;
}

/** What {@link planRun} needs. */
export interface PlanOptions {
  /** Selected stages in topological order, including their upstream closure. */
  // deno-lint-ignore no-explicit-any
  stages: readonly StageDef<any>[];
  profile: string;
  sets: readonly SetOverride[];
  /** Stage names to rerun regardless of cache, or `"all"`. */
  force: ReadonlySet<string> | "all";
  artifacts: ArtifactStore;
  /** Root the stages' `codeDeps` are relative to (default: the repository root). */
  codeRoot?: string;
}

/**
 * Names of params whose values differ (including added and removed ones), sorted.
 *
 * @example
 * ```ts
 * changedParams({ seed: 0, lr: 0.1 }, { seed: 1, lr: 0.1, steps: 5 }); // ["seed", "steps"]
 * ```
 */
export function changedParams(before: Params, after: Params): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => canonicalJson(before[k]) !== canonicalJson(after[k])).sort();
}

/** At most this many changed files are named in a reason (then "and N more"). */
const MAX_LISTED_FILES = 8;

/** `items` joined with ", ", the first `max` of them and a count of the rest. */
function listSome(items: string[], max: number): string {
  if (items.length <= max) return items.join(", ");
  return `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

function explainMissing(
  last: LastRecord | null,
  s: StageDef<Params>,
  params: Params,
  inputs: Record<string, string>,
  code: Record<string, string> | undefined,
) {
  if (!last) return "no artifact";
  if (last.version !== s.version) return "version changed";
  const reasons: string[] = [];
  if (!last.code && code) reasons.push("code dependencies declared (the cached artifact recorded none)");
  else {
    const files = changedCodeFiles(last.code ?? {}, code ?? {});
    if (files.length) reasons.push(`code changed: ${listSome(files, MAX_LISTED_FILES)}`);
  }
  const p = changedParams(keyedParams(s, last.params ?? {}), keyedParams(s, params));
  if (p.length) reasons.push(`params changed: ${p.join(", ")}`);
  const ups = Object.keys(inputs).filter((d) => (last.inputs ?? {})[d] !== inputs[d]);
  if (ups.length) reasons.push(`upstream changed: ${ups.join(", ")}`);
  return reasons.length ? reasons.join("; ") : "no artifact";
}

/**
 * The params that enter a stage's artifact key: all of them except those whose spec says `key: "omit"`, and
 * those with `key: "omit-default"` that have their schema default.
 *
 * @example
 * ```ts
 * const key = computeKey({ stage: s.name, version: s.version, params: keyedParams(s, params), inputs });
 * ```
 */
export function keyedParams(s: StageDef<Params>, params: Params): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(params)) {
    const spec = s.params[k];
    if (spec?.key === "omit") continue;
    if (spec?.key === "omit-default" && canonicalJson(v) === canonicalJson(spec.default)) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Resolves params and keys of every stage and decides what runs. Throws on bad params.
 *
 * @example
 * ```ts
 * const artifacts = new ArtifactStore("results");
 * const plan = await planRun({ stages, profile: "smoke", sets: [], force: new Set(), artifacts });
 * const toRun = plan.filter((p) => p.action === "run").map((p) => `${p.stage.name}: ${p.reason}`);
 * ```
 */
export async function planRun(o: PlanOptions): Promise<PlannedStage[]> {
  const resolved = o.stages.map((s) => ({ s, params: resolveParams(s, o.profile, o.sets) }));
  const keys = new Map<string, string>();
  const fileHashes = new Map<string, string>();
  const out: PlannedStage[] = [];
  for (const { s, params } of resolved) {
    const inputs: Record<string, string> = {};
    for (const d of s.deps) {
      const k = keys.get(d);
      if (k === undefined) throw new Error(`internal: dep "${d}" of "${s.name}" was not planned before it`);
      inputs[d] = k;
    }
    const code = s.codeDeps?.length
      ? await hashCodeDeps(s.codeDeps, o.codeRoot ?? REPO_ROOT, fileHashes)
      : undefined;
    const key = computeKey({
      stage: s.name,
      version: s.version,
      params: keyedParams(s, params),
      inputs,
      code,
    });
    keys.set(s.name, key);
    const p: PlannedStage = { stage: s, params, key, inputs, code, action: "run", reason: "" };
    const v = await o.artifacts.verify(s.name, key);
    if (o.force === "all" || o.force.has(s.name)) p.reason = "forced";
    else if (v.status === "ok") p.action = "cached";
    else if (v.status === "corrupt") {
      p.corrupt = v.problem;
      p.reason = `corrupt artifact: ${v.problem}`;
    } else {p.reason = explainMissing(
        await o.artifacts.readLast(s.name, o.profile),
        s,
        params,
        inputs,
        code,
      );}
    if (v.status === "corrupt") p.corrupt = v.problem;
    if (v.status === "ok") p.manifest = v.manifest;
    out.push(p);
  }
  return out;
}
