/**
 * Headless Vega-Lite rendering: compile the Vega-Lite spec to Vega, run a Vega `View` with the `none`
 * renderer and serialize the scenegraph to SVG. No DOM, canvas or network is needed.
 *
 * @module
 */
import { compile, type TopLevelSpec } from "vega-lite";
import { parse, View } from "vega";

/**
 * Renders a Vega-Lite spec to an SVG document string. Throws with the spec's title when Vega fails.
 *
 * @example
 * ```ts
 * const svg = await renderSvg({ data: { values: [{ x: 1, y: 2 }] }, mark: "point",
 *   encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } } });
 * ```
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vgSpec = compile(spec).spec;
  const view = new View(parse(vgSpec), { renderer: "none", logLevel: 0 });
  try {
    const svg = await view.toSVG();
    return svg.startsWith("<?xml") ? svg : `<?xml version="1.0" encoding="UTF-8"?>\n${svg}`;
  } catch (e) {
    const title = typeof spec.title === "string" ? spec.title : JSON.stringify(spec.title ?? "");
    throw new Error(`rendering figure ${title}: ${(e as Error).message}`);
  } finally {
    view.finalize();
  }
}
