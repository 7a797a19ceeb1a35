/**
 * The claims section: the paper's claims, what this run measured, the verdict and the rows behind each.
 *
 * @module
 */
import type { Block, Section } from "../types.ts";
import { type SectionEnv, tableBlock } from "./env.ts";
import { measureClaims } from "../claims.ts";

/**
 * Builds the section from the reported rows; a missing stage or table gives a `not run` section.
 *
 * @example
 * ```ts
 * const section = await claimsSection(env); // env: a SectionEnv over the report's query
 * ```
 */
export async function claimsSection(env: SectionEnv): Promise<Section> {
  const claims = await measureClaims({ rows: (t) => env.rows(t), keyOf: (t) => env.keyOf(t) });
  const blocks: Block[] = [{
    kind: "table",
    title: "The paper's claims, as measured by this run",
    sql: null,
    sourceNote: "each claim's query is listed below with its rows; the verdict follows the rule shown",
    key: true,
    result: {
      columns: ["#", "claim", "measured here", "verdict", "rule", "evidence"].map((name) => ({
        name,
        type: "VARCHAR",
      })),
      rows: claims.map((c, i) => [i + 1, c.claim, c.measured, c.verdict, c.rule, c.evidence ?? "–"]),
    },
  }];
  const links = claims.map((c, i) => c.evidence ? `[claim ${i + 1}](#${c.evidence})` : null).filter(Boolean);
  if (links.length) blocks.push({ kind: "note", text: `Evidence: ${links.join(" · ")}.` });
  for (const [i, c] of claims.entries()) {
    if (c.sql) blocks.push(await tableBlock(env, `Claim ${i + 1}: the rows behind "${c.claim}"`, c.sql));
  }
  if (claims.every((c) => c.verdict === "not measured")) {
    blocks.unshift({
      kind: "note",
      tone: "warn",
      text: "Not run: no stage of this run measures any of the claims. Run `deno task pipeline` " +
        "(and `deno task pipeline eval-horizon`), then `deno task report`.",
    });
    return { id: "claims", title: "Claims", status: "not run", blocks };
  }
  return { id: "claims", title: "Claims", status: "ok", blocks };
}
