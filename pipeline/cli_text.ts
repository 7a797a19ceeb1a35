/**
 * The texts of the pipeline CLI: `--help`, the params listing of `--params`, and the run summary.
 *
 * @example
 * ```ts
 * import { helpText } from "./cli_text.ts";
 * console.log(helpText("deno task pipeline", stages));
 * ```
 *
 * @module
 */

import { DEFAULT_PROFILE, describeSpec, knownProfiles, resolveParams, type SetOverride } from "./params.ts";
import type { RunResult } from "./runner.ts";
import type { Params, StageDef } from "./stage.ts";

/**
 * The `--help` text of the pipeline CLI: usage, options, and the stages with their descriptions.
 *
 * @example
 * ```ts
 * console.log(helpText("deno task pipeline", STAGES));
 * ```
 */
// deno-lint-ignore no-explicit-any
export function helpText(program: string, stages: StageDef<any>[]): string {
  const w = Math.max(8, ...stages.map((s) => s.name.length));
  const lines = [
    `Usage: ${program} [options] [STAGE...]`,
    "",
    "Runs the named stages and whatever upstream stages are stale (no names: the whole DAG but the stages",
    "marked [named only], which run when named). A stage is",
    "cached when an artifact with the same key (stage, version, resolved params, input keys) is published",
    "under <results>/artifacts/<stage>/<key>/ and its files match their manifest hashes.",
    "",
    "Options:",
    `  --profile NAME        param profile (default "${DEFAULT_PROFILE}"); profiles: ${
      knownProfiles(stages).join(", ")
    }`,
    "  --set STAGE.KEY=VAL   override one param (repeatable); arrays as JSON or comma lists",
    "  --force STAGE         rerun STAGE even if cached (repeatable; 'all' forces every selected stage);",
    "                        downstream stages stay cached unless their keys change",
    "  --dry-run             print what would run and why, with a time estimate, run nothing",
    "  --json                with --dry-run: print a JSON array of {stage, action, key, reason,",
    "                        estimate_seconds}",
    "  --jobs N              run up to N independent stages at once (default: CPU cores, at most 4)",
    "  --results DIR         results directory (default: $LOPT_RESULTS, else ./results)",
    "  --nats URL            NATS server for meta-training workers and --executor nats (default:",
    "                        $LOPT_NATS_URL); see deno task worker --help; credentials are never printed",
    "  --executor local|nats where stages run: local child processes (default), or stage workers",
    "                        (deno task worker --stages) taking them from a JetStream work queue",
    "  --list                list stages with their deps and descriptions",
    "  --params STAGE        print STAGE's resolved params with their schema",
    "  -q, --quiet           no progress output",
    "  -v, --verbose         echo stage logs to the terminal",
    "  -h, --help            this help",
    "",
    "Exit codes: 0 success, 1 a stage failed, 2 usage error, 130 interrupted.",
    "Logs of stage runs: <results>/logs/<stage>-<key>.log. The results dir is locked while a run uses it.",
    "",
    "Stages:",
    ...stages.map((s) =>
      `  ${s.name.padEnd(w)}  ${s.defaultTarget === false ? "[named only] " : ""}${s.description}${
        s.deps.length ? ` (after ${s.deps.join(", ")})` : ""
      }${s.optionalDeps?.length ? ` (and after ${s.optionalDeps.join(", ")} when they run too)` : ""}`
    ),
  ];
  return lines.join("\n");
}

function fmtValue(v: unknown): string {
  return JSON.stringify(v);
}

/**
 * `--params STAGE`: every param with its value resolved for `profile` (and where it comes from), its accepted
 * range, the value each profile resolves to, and its description.
 *
 * @example
 * ```ts
 * console.log(paramsText(stage, "smoke", [], ["smoke", "default", "paper"]));
 * ```
 */
export function paramsText(
  // deno-lint-ignore no-explicit-any
  s: StageDef<any>,
  profile: string,
  sets: SetOverride[],
  profiles: string[],
): string {
  const resolved = resolveParams(s, profile, sets);
  const prof = (s.profiles[profile] ?? {}) as Params;
  const rank = (n: string) => {
    const i = ["smoke", DEFAULT_PROFILE, "paper"].indexOf(n);
    return i < 0 ? 3 : i;
  };
  const ordered = [...profiles].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const lines = [
    `${s.name} (version ${s.version}): ${s.description}`,
    `values resolved for profile "${profile}"; "profiles:" shows what each profile resolves to`,
  ];
  for (const [k, spec] of Object.entries(s.params)) {
    const fromSet = sets.some((x) => x.stage === s.name && x.key === k);
    const source = fromSet ? "--set" : k in prof ? `profile ${profile}` : "schema default";
    const perProfile = ordered.map((name) => {
      const o = (s.profiles[name] ?? {}) as Params;
      return `${name} ${fmtValue(k in o ? o[k] : spec.default)}`;
    });
    lines.push(
      `  ${k} = ${fmtValue(resolved[k])}  (from ${source})`,
      `      accepts:  ${describeSpec(spec)}`,
      `      profiles: ${perProfile.join(" | ")}`,
      `      ${spec.description}`,
    );
  }
  if (Object.keys(s.params).length === 0) lines.push("  (no params)");
  return lines.join("\n");
}

/**
 * The end-of-run summary: one line per stage (ran, cached, failed, skipped, with key and seconds) and the
 * totals.
 *
 * @example
 * ```ts
 * console.error(summaryText(await runPlan(options)));
 * ```
 */
export function summaryText(r: RunResult): string {
  const w = Math.max(5, ...r.outcomes.map((o) => o.stage.length));
  const lines = ["summary:"];
  for (const o of r.outcomes) {
    const secs = o.status === "ran" || o.status === "failed" ? `${o.seconds.toFixed(1)}s` : "";
    const detail = o.detail ? `  (${o.detail})` : "";
    lines.push(`  ${o.status.padEnd(7)}  ${o.stage.padEnd(w)}  ${o.key}  ${secs}${detail}`.trimEnd());
  }
  const count = (s: string) => r.outcomes.filter((o) => o.status === s).length;
  lines.push(
    `${count("ran")} ran, ${count("cached")} cached, ${count("failed")} failed, ${count("skipped")} skipped`,
  );
  return lines.join("\n");
}
