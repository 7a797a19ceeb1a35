/**
 * Time estimates for `--dry-run`: each stage that will run is expected to take as long as its last
 * successful run with the same profile (from `stage_runs`, or the run logs while a pipeline holds the
 * database); a stage that never ran with that profile is "unknown".
 *
 * ```ts
 * const past = await pastStageSeconds("results", "default");
 * for (const line of estimateLines(["meta-train", "report"], past, "default")) console.log(line);
 * ```
 *
 * @module
 */

import { readRunLogs } from "./live_snapshot.ts";
import { formatDuration } from "./progress.ts";

/**
 * Seconds of the last successful run of each stage with `profile`: from the results database opened
 * read-only, else (no database, or a running pipeline holds it) from the run logs. Empty when neither has
 * one.
 *
 * @example
 * ```ts
 * const past = await pastStageSeconds("results", "smoke"); // e.g. Map { "meta-train" => 412.5 }
 * ```
 */
export async function pastStageSeconds(resultsDir: string, profile: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const { ResultsStore } = await import("./store.ts");
    const store = await ResultsStore.open(resultsDir, { readOnly: true, log: () => {} });
    try {
      const r = await store.query(
        `SELECT stage, seconds FROM stage_runs WHERE status = 'success' AND seconds IS NOT NULL ` +
          `AND profile = '${profile.replaceAll("'", "''")}' ` +
          `QUALIFY row_number() OVER (PARTITION BY stage ORDER BY ended_at DESC) = 1`,
      );
      for (const [stage, seconds] of r.rows) out.set(String(stage), Number(seconds));
      return out;
    } finally {
      await store.close();
    }
  } catch { /* no database, or held by a running pipeline: use the logs */ }
  const runs = (await readRunLogs(resultsDir).catch(() => []))
    .filter((r) => r.status === "success" && r.profile === profile && r.seconds !== null);
  for (const r of runs) out.set(r.stage, r.seconds!); // oldest first: the last one wins
  return out;
}

/**
 * Estimate lines for the stages that will run (in plan order), ending with the total.
 *
 * @example
 * ```ts
 * const lines = estimateLines(["meta-train"], new Map([["meta-train", 125]]), "smoke");
 * lines[1]; // "  meta-train  2m05s"
 * ```
 */
export function estimateLines(stages: string[], past: Map<string, number>, profile: string): string[] {
  if (stages.length === 0) return ["time estimate: nothing to run"];
  const w = Math.max(...stages.map((s) => s.length), "total".length);
  const lines = [`time estimate (last successful run of each stage with profile ${profile}):`];
  let total = 0;
  let unknown = 0;
  for (const s of stages) {
    const sec = past.get(s);
    if (sec === undefined) unknown++;
    else total += sec;
    lines.push(`  ${s.padEnd(w)}  ${sec === undefined ? "unknown" : formatDuration(sec)}`);
  }
  const sum = unknown === stages.length
    ? "unknown"
    : unknown > 0
    ? `at least ${formatDuration(total)} (${unknown} stage${unknown > 1 ? "s" : ""} unknown)`
    : formatDuration(total);
  lines.push(
    `  ${"total".padEnd(w)}  ${sum}, one stage after another (--jobs N overlaps independent stages)`,
  );
  return lines;
}
