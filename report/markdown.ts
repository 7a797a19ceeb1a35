/**
 * Writes `summary.md`: the run summary and the key tables as Markdown, for terminals and pull requests.
 *
 * @module
 */
import type { ReportMeta, Section, TableBlock } from "./types.ts";
import { codeLabel, formatCell, smokeBanner } from "./format.ts";

function mdCell(v: unknown): string {
  const s = formatCell(v).replaceAll("|", "\\|").replace(/\r?\n/g, " ");
  return s.length > 120 ? s.slice(0, 119) + "…" : s;
}

/**
 * A Markdown table of a table block, followed by its SQL.
 *
 * @example
 * ```ts
 * const block: TableBlock = { kind: "table", title: "Runs", sql: null, sourceNote: "manifests",
 *   result: { columns: [{ name: "stage", type: "VARCHAR" }], rows: [["meta-train"]] } };
 * tableMarkdown(block); // "**Runs**\n\n| stage |\n| --- |\n| meta-train |\n\n_Source: manifests_\n"
 * ```
 */
export function tableMarkdown(t: TableBlock): string {
  const { columns, rows } = t.result;
  const lines = [
    `| ${columns.map((c) => mdCell(c.name)).join(" | ")} |`,
    `| ${columns.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(mdCell).join(" | ")} |`),
  ];
  if (rows.length === 0) lines.push(`| (no rows) |${" |".repeat(Math.max(0, columns.length - 1))}`);
  const src = t.sql !== null
    ? `\n<details><summary>SQL</summary>\n\n\`\`\`sql\n${t.sql}\n\`\`\`\n</details>\n`
    : `\n_Source: ${t.sourceNote ?? ""}_\n`;
  return `**${t.title}**\n\n${lines.join("\n")}\n${src}`;
}

/**
 * Renders `summary.md`: per section its status, notes, key tables and figure files.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile(join(outDir, SUMMARY_FILE), reportMarkdown(meta, sections, figureFile));
 * ```
 */
export function reportMarkdown(
  meta: ReportMeta,
  sections: Section[],
  figureFile: (id: string) => string,
): string {
  const out = [
    `# lopt report — profile ${meta.profile}`,
    "",
    `Rendered ${meta.generatedAt} (${codeLabel(meta)}). Full report: \`index.html\` next to this file.`,
    "",
  ];
  const banner = smokeBanner(meta);
  if (banner) out.splice(2, 0, `> **${banner}**`, "");
  for (const s of sections) {
    out.push(`## ${s.title}${s.status === "ok" ? "" : " — not run"}`, "");
    for (const b of s.blocks) {
      if (b.kind === "note") out.push(`${b.tone === "warn" ? "> " : ""}${b.text}`, "");
      else if (b.kind === "table" && b.key) out.push(tableMarkdown(b), "");
      else if (b.kind === "figure") out.push(`- Figure: ${b.title} — \`${figureFile(b.id)}\``, "");
    }
  }
  return out.join("\n").replace(/\n{3,}/g, "\n\n");
}
