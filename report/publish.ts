/**
 * Copies a rendered report (index.html, summary.md, figures/) to `<results>/report/`, where users look.
 *
 * @module
 */
import { join } from "node:path";
import { FIGURES_DIR, INDEX_FILE, SUMMARY_FILE } from "./render.ts";

/** Folder of the user-facing report inside the results directory. */
export const REPORT_DIR = "report";

/**
 * Replaces `<resultsDir>/report/` with the report rendered in `fromDir`; returns the destination.
 *
 * @example
 * ```ts
 * const dest = await publishReport(ctx.outDir, ctx.resultsDir); // "<results>/report"
 * ```
 */
export async function publishReport(fromDir: string, resultsDir: string): Promise<string> {
  const dest = join(resultsDir, REPORT_DIR);
  await Deno.mkdir(dest, { recursive: true });
  await Deno.remove(join(dest, FIGURES_DIR), { recursive: true }).catch(() => {});
  await Deno.mkdir(join(dest, FIGURES_DIR), { recursive: true });
  for (const f of [INDEX_FILE, SUMMARY_FILE]) await Deno.copyFile(join(fromDir, f), join(dest, f));
  for await (const e of Deno.readDir(join(fromDir, FIGURES_DIR))) {
    if (e.isFile) await Deno.copyFile(join(fromDir, FIGURES_DIR, e.name), join(dest, FIGURES_DIR, e.name));
  }
  return dest;
}
