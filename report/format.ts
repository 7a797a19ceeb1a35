/**
 * Cell and text formatting shared by the HTML and Markdown writers.
 *
 * @module
 */

/**
 * Formats one table cell: numbers to 4 significant digits (integers as is), NULL as `–`, booleans yes/no.
 *
 * @example
 * ```ts
 * formatCell(3.14159); // "3.142"
 * formatCell(null); // "–"
 * ```
 */
export function formatCell(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/**
 * The code that rendered a report: `git <sha>`, else its no-git version (`archive checkout (no git)`).
 *
 * @example
 * ```ts
 * codeLabel({ gitCommit: null, codeVersion: "version 0.1.0 (no git)" }); // "version 0.1.0 (no git)"
 * ```
 */
export function codeLabel(meta: { gitCommit: string | null; codeVersion?: string }): string {
  return meta.gitCommit ? `git ${meta.gitCommit}` : (meta.codeVersion ?? "archive checkout (no git)");
}

/**
 * Escapes text for HTML.
 *
 * @example
 * ```ts
 * escapeHtml('<a href="x">'); // "&lt;a href=&quot;x&quot;&gt;"
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/**
 * Escaped HTML of a note: `code` spans, **bold** and [links](#anchor) within the page are rendered; everything else is text.
 *
 * @example
 * ```ts
 * inlineHtml("**Table 1** of `eval_summary`"); // "<strong>Table 1</strong> of <code>eval_summary</code>"
 * ```
 */
export function inlineHtml(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    // Links to anchors of the page only ([text](#id)): nothing outside the report is linked.
    .replace(/\[([^\]]+)\]\((#[\w-]+)\)/g, '<a href="$2">$1</a>');
}

/**
 * The shell command that reruns a query against the results database.
 *
 * @example
 * ```ts
 * queryCommand('SELECT "seed" FROM ablation_runs'); // 'deno task query "SELECT \"seed\" FROM ablation_runs"'
 * ```
 */
export function queryCommand(sql: string): string {
  return `deno task query "${sql.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("$", "\\$")}"`;
}

/**
 * The warning a report of a smoke-profile run opens with (null for other profiles): its numbers come from a
 * few meta-steps and tiny budgets and say nothing about the method.
 *
 * @example
 * ```ts
 * smokeBanner({ profile: "smoke", runs: [] }); // "SMOKE PROFILE: ..."
 * ```
 */
export function smokeBanner(meta: { profile: string; runs: { profile: string }[] }): string | null {
  const smoke = meta.profile === "smoke" || meta.runs.some((r) => r.profile === "smoke");
  return smoke
    ? "SMOKE PROFILE: this report was built from the smoke profile (a few meta-steps, tiny problems and " +
      "budgets, meant for tests). Its numbers and verdicts are not meaningful; run `deno task pipeline` " +
      "(profile default) for results."
    : null;
}
