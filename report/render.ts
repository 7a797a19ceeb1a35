/**
 * The one rendering function shared by the `report` stage and `deno task report`: runs the sections' SQL
 * through a query callback, renders every figure to SVG and writes `index.html`, `summary.md` and
 * `figures/*.svg` into a directory.
 *
 * @module
 */
import { join } from "node:path";
import { buildSections, type SectionOptions } from "./sections.ts";
import { renderSvg } from "./svg.ts";
import { reportHtml } from "./html.ts";
import { reportMarkdown } from "./markdown.ts";
import type { QueryFn, RenderedFigure, ReportMeta, Section } from "./types.ts";

/** Name of the HTML page inside the report directory. */
export const INDEX_FILE = "index.html";
/** Name of the Markdown summary inside the report directory. */
export const SUMMARY_FILE = "summary.md";
/** Folder of the SVG figures inside the report directory. */
export const FIGURES_DIR = "figures";

/** What {@link renderReport} wrote. */
export interface RenderResult {
  /** Absolute path of `index.html`. */
  index: string;
  /** Absolute path of `summary.md`. */
  summary: string;
  /** Figures written, in page order. */
  figures: RenderedFigure[];
  /** The sections (with their blocks), in page order. */
  sections: Section[];
}

/**
 * Relative path of a figure's SVG.
 *
 * @example
 * ```ts
 * figureFile("meta-train-curve"); // "figures/meta-train-curve.svg"
 * ```
 */
export function figureFile(id: string): string {
  return `${FIGURES_DIR}/${id}.svg`;
}

/**
 * Renders the report into `outDir` (created; stale figures of an earlier render are removed). `query` runs
 * SQL against a database holding the result tables (see {@link QueryFn}).
 *
 * @example
 * ```ts
 * const { index, figures } = await renderReport(db.query, meta, ctx.outDir);
 * ```
 */
export async function renderReport(
  query: QueryFn,
  meta: ReportMeta,
  outDir: string,
  opts: SectionOptions = {},
): Promise<RenderResult> {
  const sections = await buildSections(query, meta, opts);
  const figDir = join(outDir, FIGURES_DIR);
  await Deno.remove(figDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(figDir, { recursive: true });
  const figures: RenderedFigure[] = [];
  for (const s of sections) {
    for (const b of s.blocks) {
      if (b.kind !== "figure") continue;
      const svg = await renderSvg(b.spec);
      const file = figureFile(b.id);
      await Deno.writeTextFile(join(outDir, file), svg);
      figures.push({ id: b.id, title: b.title, file, sql: b.sql });
    }
  }
  const index = join(outDir, INDEX_FILE);
  const summary = join(outDir, SUMMARY_FILE);
  await Deno.writeTextFile(index, reportHtml(meta, sections, figureFile));
  await Deno.writeTextFile(summary, reportMarkdown(meta, sections, figureFile));
  return { index, summary, figures, sections };
}
