/**
 * Which stage runs a report covers: from artifact manifests (inside the pipeline) or, for
 * `deno task report`, the latest successful run of each stage of one profile in the results database.
 *
 * @module
 */
import { join } from "node:path";
import { MANIFEST, type Manifest } from "../pipeline/artifacts.ts";
import { rowsOf, sqlString } from "./sections/env.ts";
import type { QueryFn, ReportedStage, StageRunInfo } from "./types.ts";

/**
 * Reads an artifact's `manifest.json` into a {@link StageRunInfo} (git commit and seconds unknown).
 *
 * @example
 * ```ts
 * const info = await readRunInfo("results/artifacts/meta-train/0123456789abcdef"); // info.params, ...
 * ```
 */
export async function readRunInfo(dir: string): Promise<StageRunInfo> {
  let m: Manifest;
  try {
    m = JSON.parse(await Deno.readTextFile(join(dir, MANIFEST)));
  } catch (e) {
    throw new Error(`report: cannot read ${join(dir, MANIFEST)}: ${(e as Error).message}`);
  }
  return {
    stage: m.stage,
    key: m.key,
    version: m.version ?? null,
    profile: m.profile,
    params: m.params ?? {},
    inputs: m.inputs ?? {},
    created: m.created ?? null,
    gitCommit: null,
    seconds: null,
  };
}

/**
 * Sorts runs in the order of `stages` (the stage registry's DAG order); unknown stages last, by name.
 *
 * @example
 * ```ts
 * sortRuns(runs, [{ name: "generate-tasks", description: "", tables: ["tasks"] }]);
 * ```
 */
export function sortRuns(runs: StageRunInfo[], stages: readonly ReportedStage[]): StageRunInfo[] {
  const order = new Map(stages.map((s, i) => [s.name, i]));
  const rank = (s: string) => order.get(s) ?? stages.length;
  return [...runs].sort((a, b) => rank(a.stage) - rank(b.stage) || a.stage.localeCompare(b.stage));
}

/** The runs picked by {@link selectRuns}. */
export interface SelectedRuns {
  profile: string;
  runs: StageRunInfo[];
}

/**
 * Picks, from `stage_runs` and `artifacts`, the latest successful run of every stage (except `report`) with
 * the given profile (default: the profile of the latest successful run). Details come from the artifact's
 * manifest when it is still on disk; the runs come in the order of `stages`. Throws when the database holds no
 * successful run.
 *
 * @example
 * ```ts
 * const { profile, runs } = await selectRuns(query, "smoke", stages);
 * ```
 */
export async function selectRuns(
  query: QueryFn,
  profile: string | undefined,
  stages: readonly ReportedStage[],
): Promise<SelectedRuns> {
  let chosen = profile;
  if (!chosen) {
    const r = rowsOf(
      await query(
        "SELECT profile FROM stage_runs WHERE status = 'success' AND stage <> 'report' ORDER BY ended_at DESC LIMIT 1",
      ),
    );
    if (r.length === 0) {
      throw new Error("no successful stage run in the results database: run `deno task pipeline` first");
    }
    chosen = String(r[0].profile);
  }
  const rows = rowsOf(
    await query(`
      SELECT r.stage, r.key, r.profile, r.params, r.git_commit, r.seconds, a.path, a.created_at
      FROM stage_runs r JOIN artifacts a ON a.stage = r.stage AND a.key = r.key
      WHERE r.status = 'success' AND r.stage <> 'report' AND r.profile = ${sqlString(chosen)}
      QUALIFY row_number() OVER (PARTITION BY r.stage ORDER BY r.ended_at DESC) = 1`),
  );
  if (rows.length === 0) {
    throw new Error(
      `no successful stage run with profile ${chosen}: run \`deno task pipeline --profile ${chosen}\``,
    );
  }
  const runs: StageRunInfo[] = [];
  for (const r of rows) {
    let info: StageRunInfo;
    try {
      info = await readRunInfo(String(r.path));
    } catch {
      const params = typeof r.params === "string" ? JSON.parse(r.params) : (r.params ?? {});
      info = {
        stage: String(r.stage),
        key: String(r.key),
        version: null,
        profile: String(r.profile),
        params: params as Record<string, unknown>,
        inputs: {},
        created: r.created_at === null ? null : String(r.created_at),
        gitCommit: null,
        seconds: null,
      };
    }
    info.gitCommit = r.git_commit === null ? null : String(r.git_commit);
    info.seconds = typeof r.seconds === "number" ? r.seconds : null;
    runs.push(info);
  }
  return { profile: chosen, runs: sortRuns(runs, stages) };
}
