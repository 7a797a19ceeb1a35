/**
 * Writes the report as one self-contained HTML page: inline CSS, no scripts, figures referenced as relative
 * `figures/<id>.svg` files, the SQL of every figure and table shown under it.
 *
 * @module
 */
import type { Block, ReportMeta, Section, TableBlock } from "./types.ts";
import { codeLabel, escapeHtml, formatCell, inlineHtml, queryCommand, smokeBanner } from "./format.ts";

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:16px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#cfd8dc;font-size:14px}
nav{padding:8px 32px;background:#eceff1;font-size:14px} nav a{margin-right:16px;color:#1565c0}
main{padding:8px 32px 48px;max-width:1200px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px 20px 16px;margin:16px 0}
h2{font-size:19px} h3{font-size:15px;margin:18px 0 6px}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;margin-left:8px;vertical-align:middle}
.badge.ok{background:#e8f5e9;color:#2e7d32} .badge.notrun{background:#fff3e0;color:#e65100}
.banner{background:#b71c1c;color:#fff;font-weight:bold;padding:10px 14px;border-radius:4px}
.banner code{color:#fff}
.note{font-size:14px;line-height:1.5} .note.warn{background:#fff8e1;border-left:4px solid #ffa000;padding:6px 10px}
figure{margin:12px 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:13px;color:#555;margin-top:4px}
details{margin:4px 0 10px;font-size:13px} summary{cursor:pointer;color:#1565c0}
pre{background:#f5f5f5;border:1px solid #e0e0e0;padding:8px;overflow-x:auto;font-size:12px;white-space:pre}
.src{font-size:12px;color:#555;margin:2px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:4px 0;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #e0e0e0;padding:3px 8px;text-align:left}
th,td.num{white-space:nowrap} td{max-width:36em;overflow-wrap:anywhere;vertical-align:top}
th:first-child,td:first-child{position:sticky;left:0;z-index:1;background:#fff}
th{background:#f5f5f5} th:first-child{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f5f5f5;padding:0 3px;border-radius:3px}
`;

function sqlBlock(sql: string, open: boolean): string {
  return `<details${
    open ? " open" : ""
  }><summary>Data source (SQL; rerun with <code>deno task query</code>)</summary>` +
    `<pre>${escapeHtml(queryCommand(sql))}</pre></details>`;
}

/**
 * HTML of a table block (rows, then its SQL or source note).
 *
 * @example
 * ```ts
 * const block: TableBlock = { kind: "table", title: "Runs", sql: "SELECT stage FROM stage_runs",
 *   result: { columns: [{ name: "stage", type: "VARCHAR" }], rows: [["meta-train"]] } };
 * tableHtml(block); // "<h3>Runs</h3>\n<table>..."
 * ```
 */
export function tableHtml(t: TableBlock): string {
  const { columns, rows } = t.result;
  const head = columns.map((c) => `<th>${escapeHtml(c.name)}</th>`).join("");
  const body = rows.length === 0
    ? `<tr><td colspan="${Math.max(1, columns.length)}">(no rows)</td></tr>`
    : rows.map((r) =>
      "<tr>" +
      r.map((v) => `<td${typeof v === "number" ? ' class="num"' : ""}>${escapeHtml(formatCell(v))}</td>`)
        .join("") +
      "</tr>"
    ).join("\n");
  const src = t.sql !== null
    ? sqlBlock(t.sql, false)
    : `<p class="src">Source: ${escapeHtml(t.sourceNote ?? "")}</p>`;
  return `<h3>${
    escapeHtml(t.title)
  }</h3>\n<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>\n${src}`;
}

function blockHtml(b: Block, figureFile: (id: string) => string): string {
  switch (b.kind) {
    case "note":
      return `<p class="note${b.tone === "warn" ? " warn" : ""}">${inlineHtml(b.text)}</p>`;
    case "table":
      return tableHtml(b);
    case "figure":
      return `<figure id="fig-${escapeHtml(b.id)}"><img src="${escapeHtml(figureFile(b.id))}" alt="${
        escapeHtml(b.title)
      }">\n<figcaption><strong>${escapeHtml(b.title)}.</strong> ${escapeHtml(b.caption)}</figcaption>\n${
        sqlBlock(b.sql, true)
      }</figure>`;
  }
}

/**
 * Renders the whole page. `figureFile` maps a figure id to its relative path.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile(join(outDir, INDEX_FILE), reportHtml(meta, sections, figureFile));
 * ```
 */
export function reportHtml(
  meta: ReportMeta,
  sections: Section[],
  figureFile: (id: string) => string,
): string {
  const nav = sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join("");
  const banner = smokeBanner(meta);
  const body = sections.map((s) =>
    `<section id="${s.id}"><h2>${escapeHtml(s.title)}<span class="badge ${
      s.status === "ok" ? "ok" : "notrun"
    }">${s.status}</span></h2>\n${s.blocks.map((b) => blockHtml(b, figureFile)).join("\n")}</section>`
  ).join("\n");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lopt report (${escapeHtml(meta.profile)})</title>
<style>${CSS}</style></head>
<body><header><h1>lopt — Learned Optimizers that Scale and Generalize, reproduced</h1>
<p>profile ${escapeHtml(meta.profile)} · ${escapeHtml(meta.generatedAt)} · ${
    escapeHtml(codeLabel(meta))
  }</p>${banner ? `\n<p class="banner" role="alert">${inlineHtml(banner)}</p>` : ""}</header>
<nav>${nav}</nav>
<main>
${body}
</main></body></html>
`;
}
