/**
 * What every report section builder shares: the {@link SectionEnv} (query, report meta, the tables present,
 * the reported run key of each table), SQL helpers, table blocks and the `not run` section.
 *
 * @module
 */
import type { QueryFn, QueryResult, ReportMeta, Section, TableBlock } from "../types.ts";
import type { Row } from "../specs/vega.ts";

/**
 * Options of `buildSections`.
 *
 * @example
 * ```ts
 * const opts: SectionOptions = { maxProblems: 6 };
 * ```
 */
export interface SectionOptions {
  /** Held-out problems shown in the loss-curve figure (one per family, at most this many). */
  maxProblems?: number;
}

/**
 * Quotes a string as an SQL literal.
 *
 * @example
 * ```ts
 * sqlString("it's"); // "'it''s'"
 * ```
 */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Converts a query result to objects keyed by column name.
 *
 * @example
 * ```ts
 * rowsOf({ columns: [{ name: "x", type: "INTEGER" }], rows: [[1]] }); // [{ x: 1 }]
 * ```
 */
export function rowsOf(r: QueryResult): Row[] {
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));
}

/**
 * Strips the common indentation of a template-literal SQL statement.
 *
 * @example
 * ```ts
 * sql(`
 *   SELECT 1
 *   FROM t`); // "SELECT 1\nFROM t"
 * ```
 */
export function sql(text: string): string {
  const lines = text.replace(/^\n/, "").replace(/\s+$/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join("\n");
}

/**
 * What every section builder gets: the query, the report meta, the tables present and the options.
 *
 * @example
 * ```ts
 * const env = new SectionEnv(query, meta, await listTables(query), { maxProblems: 6 });
 * const key = await env.keyOf("eval_summary");
 * ```
 */
export class SectionEnv {
  #keys = new Map<string, string | null>();
  constructor(
    readonly query: QueryFn,
    readonly meta: ReportMeta,
    readonly tables: Set<string>,
    readonly opts: Required<SectionOptions>,
  ) {}

  /** Rows of a query as objects. */
  async rows(text: string): Promise<Row[]> {
    return rowsOf(await this.query(text));
  }

  /** The run_key of the reported run present in `table` (null: table missing or no rows of a reported run). */
  async keyOf(table: string): Promise<string | null> {
    if (this.#keys.has(table)) return this.#keys.get(table)!;
    let key: string | null = null;
    if (this.tables.has(table) && this.meta.runs.length > 0) {
      const keys = this.meta.runs.map((r) => sqlString(r.key)).join(", ");
      const r = await this.rows(
        `SELECT run_key, count(*) AS n FROM ${table} WHERE run_key IN (${keys}) GROUP BY run_key ORDER BY n DESC`,
      );
      key = r.length > 0 ? String(r[0].run_key) : null;
    }
    this.#keys.set(table, key);
    return key;
  }

  /** Whether the stage is among the reported runs. */
  ran(stage: string): boolean {
    return this.meta.runs.some((r) => r.stage === stage);
  }
}

/**
 * A `not run` section holding one warning note.
 *
 * @example
 * ```ts
 * warnSection("bench", "Benchmarks", "Not run: the bench table is empty.");
 * ```
 */
export function warnSection(id: string, title: string, text: string): Section {
  return { id, title, status: "not run", blocks: [{ kind: "note", tone: "warn", text }] };
}

/**
 * A `not run` section saying which stage and tables are missing and what to run.
 *
 * @example
 * ```ts
 * notRunSection("horizon", "Long horizons", "eval-horizon", ["horizon_curves"]);
 * ```
 */
export function notRunSection(
  id: string,
  title: string,
  stage: string,
  tables: string[],
  why?: string,
): Section {
  return warnSection(
    id,
    title,
    `Not run: ${why ?? `no rows from stage ${stage}`} (tables ${tables.join(", ")}). ` +
      `Run \`deno task pipeline ${stage}\`, then \`deno task report\`.`,
  );
}

/**
 * A table block from a query.
 *
 * @example
 * ```ts
 * const block = await tableBlock(env, "Runs", "SELECT * FROM cnn_runs", true);
 * ```
 */
export async function tableBlock(
  env: SectionEnv,
  title: string,
  text: string,
  key = false,
): Promise<TableBlock> {
  return { kind: "table", title, sql: text, result: await env.query(text), key };
}

/**
 * Checks that every table has rows of a reported run; returns the keys or the `not run` section.
 *
 * @example
 * ```ts
 * const got = await keysOrNotRun(env, "ablations", "Ablations", "ablations", ["ablation_summary"]);
 * if (got.section) return got.section;
 * ```
 */
export async function keysOrNotRun(
  env: SectionEnv,
  id: string,
  title: string,
  stage: string,
  tables: string[],
): Promise<{ keys: Record<string, string>; section?: undefined } | { section: Section }> {
  const keys: Record<string, string> = {};
  const missing: string[] = [];
  for (const t of tables) {
    const k = await env.keyOf(t);
    if (k === null) missing.push(t);
    else keys[t] = k;
  }
  if (missing.length === 0) return { keys };
  const why = !env.ran(stage)
    ? `stage ${stage} is not part of this run`
    : `stage ${stage} wrote no rows to ${missing.join(", ")}`;
  return { section: notRunSection(id, title, stage, tables, why) };
}

/**
 * Lists the tables of the database's main schema.
 *
 * @example
 * ```ts
 * const tables = await listTables(query); // Set { "eval_summary", ... }
 * ```
 */
export async function listTables(query: QueryFn): Promise<Set<string>> {
  const r = await query(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name",
  );
  return new Set(r.rows.map((row) => String(row[0])));
}
