/**
 * Stage result tables in the results database: their names checked, their declared types resolved to
 * DuckDB's canonical names, a table whose columns changed dropped and recreated empty, their descriptions
 * kept as DuckDB comments, and every declaration merged into `tables.json` for readers that cannot open the
 * database.
 *
 * @example
 * ```ts
 * import { checkTableSpecs } from "./result_tables.ts";
 * checkTableSpecs([{ name: "eval_summary", description: "…", columns: [{ name: "loss", type: "DOUBLE" }] }]);
 * ```
 *
 * @module
 */

import type { DuckDBConnection } from "@duckdb/node-api";
import { join } from "node:path";
import { quoteIdent, sqlString } from "./duck_values.ts";
import { type ColumnInfo, resultTableDdl, tableColumns } from "./row_loader.ts";
import type { TableSpec } from "./stage.ts";

/**
 * File in the results directory holding every stage result table's declaration (JSON array of `TableSpec`,
 * written when the tables are ensured); readers that cannot open the database use it for exact types.
 *
 * @example
 * ```ts
 * const specs = JSON.parse(await Deno.readTextFile(join("results", TABLES_FILE)));
 * ```
 */
export const TABLES_FILE = "tables.json";

/**
 * Tables created by the migrations; stage result tables may not use these names.
 *
 * @example
 * ```ts
 * CORE_TABLES.includes("stage_runs"); // true
 * ```
 */
export const CORE_TABLES: readonly string[] = ["stage_runs", "artifacts", "bench", "schema_migrations"];

/**
 * Description the store gives every stage result table's `run_key` column.
 *
 * @example
 * ```ts
 * console.log(RUN_KEY_DESCRIPTION);
 * ```
 */
export const RUN_KEY_DESCRIPTION = "artifact key of the stage run that wrote the row (stage_runs.key)";

/**
 * What ensuring the result tables did.
 *
 * @example
 * ```ts
 * const r: EnsureTablesResult = { created: ["t"], recreated: [], notices: [] };
 * ```
 */
export interface EnsureTablesResult {
  /** Tables that did not exist and were created. */
  created: string[];
  /** Tables whose columns differed: dropped and recreated empty (their rows must be re-ingested). */
  recreated: string[];
  /** Human-readable lines describing the changes (also sent to the store's log). */
  notices: string[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks table declarations: plain identifiers, no reserved table name, no table or column declared twice,
 * no `run_key` column (the store adds it). Throws on the first problem.
 *
 * @example
 * ```ts
 * checkTableSpecs([{ name: "stage_runs", description: "", columns: [] }]); // throws: reserved
 * ```
 */
export function checkTableSpecs(tables: readonly TableSpec[]): void {
  const seen = new Set<string>();
  for (const t of tables) {
    if (!IDENT.test(t.name)) {
      throw new Error(`result table name "${t.name}" is not a plain identifier (letters, digits, _)`);
    }
    if (CORE_TABLES.includes(t.name)) {
      throw new Error(`result table name "${t.name}" is reserved for the store's own tables: rename it`);
    }
    if (seen.has(t.name)) throw new Error(`result table "${t.name}" is declared twice`);
    seen.add(t.name);
    const cols = new Set<string>();
    for (const c of t.columns) {
      if (!IDENT.test(c.name)) {
        throw new Error(`table ${t.name}: column name "${c.name}" is not a plain identifier`);
      }
      if (c.name === "run_key") {
        throw new Error(`table ${t.name}: column run_key is added by the store; remove it`);
      }
      if (cols.has(c.name)) throw new Error(`table ${t.name}: column ${c.name} is declared twice`);
      cols.add(c.name);
    }
  }
}

/** Resolves a spec's declared types to DuckDB's canonical names (and validates them) via a temp table. */
async function canonicalColumns(conn: DuckDBConnection, t: TableSpec): Promise<ColumnInfo[]> {
  const probe = "__lopt_probe";
  try {
    await conn.run(resultTableDdl(probe, t.columns).replace("CREATE TABLE", "CREATE OR REPLACE TEMP TABLE"));
  } catch (e) {
    throw new Error(`table ${t.name}: invalid column declaration: ${(e as Error).message}`);
  }
  try {
    const r = await conn.runAndReadAll(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = 'temp' " +
        `AND table_name = '${probe}' ORDER BY ordinal_position`,
    );
    return r.getRowsJS().map((row) => ({ name: String(row[0]), type: String(row[1]) }));
  } finally {
    await conn.run(`DROP TABLE IF EXISTS temp.${probe}`);
  }
}

/** Sets the tables' and columns' DuckDB comments to their declared descriptions (only those that differ). */
async function describeTables(conn: DuckDBConnection, tables: readonly TableSpec[]): Promise<void> {
  const r = await conn.runAndReadAll(
    "SELECT table_name, NULL AS column_name, comment FROM duckdb_tables() WHERE schema_name = 'main' " +
      "AND database_name = current_database() UNION ALL SELECT table_name, column_name, comment " +
      "FROM duckdb_columns() WHERE schema_name = 'main' AND database_name = current_database()",
  );
  const have = new Map(r.getRowsJS().map((row) => [`${row[0]}\u0000${row[1] ?? ""}`, row[2] ?? null]));
  for (const t of tables) {
    const wanted: [string, string, string][] = [
      ["", `TABLE ${quoteIdent(t.name)}`, t.description],
      ["run_key", `COLUMN ${quoteIdent(t.name)}.run_key`, RUN_KEY_DESCRIPTION],
      ...t.columns.filter((c) => c.description).map((c): [string, string, string] => [
        c.name,
        `COLUMN ${quoteIdent(t.name)}.${quoteIdent(c.name)}`,
        c.description!,
      ]),
    ];
    for (const [col, target, text] of wanted) {
      if ((have.get(`${t.name}\u0000${col}`) ?? null) === text) continue;
      await conn.run(`COMMENT ON ${target} IS ${sqlString(text)}`);
    }
  }
}

/**
 * Creates the declared tables that are missing, drops and recreates empty those whose columns or types
 * differ, and sets their descriptions; the caller holds the transaction. Call {@link checkTableSpecs} first.
 *
 * @example
 * ```ts
 * const { created, recreated } = await syncResultTables(conn, specs);
 * ```
 */
export async function syncResultTables(
  conn: DuckDBConnection,
  tables: readonly TableSpec[],
): Promise<EnsureTablesResult> {
  const result: EnsureTablesResult = { created: [], recreated: [], notices: [] };
  for (const t of tables) {
    const wanted = await canonicalColumns(conn, t);
    const existing = await tableColumns(conn, t.name);
    const same = existing !== null && existing.length === wanted.length &&
      existing.every((c, i) => c.name === wanted[i].name && c.type === wanted[i].type);
    if (same) continue;
    const ddl = resultTableDdl(t.name, wanted.slice(1));
    if (existing) {
      await conn.run(`DROP TABLE ${quoteIdent(t.name)}`);
      await conn.run(ddl);
      result.recreated.push(t.name);
      const fmt = (cs: ColumnInfo[]) => cs.map((c) => `${c.name} ${c.type}`).join(", ");
      result.notices.push(
        `results db: table ${t.name} changed columns (was: ${fmt(existing)}; now: ${fmt(wanted)}): ` +
          `dropped and recreated empty; its rows will be re-ingested from the artifacts`,
      );
    } else {
      await conn.run(ddl);
      result.created.push(t.name);
    }
  }
  await describeTables(conn, tables);
  return result;
}

/**
 * Merges the declarations into `<resultsDir>/`{@link TABLES_FILE} (write then rename; tables declared
 * earlier by other stages are kept). Failing to write it only costs readers exact types, so it is reported
 * through `log`, not thrown.
 *
 * @example
 * ```ts
 * await mergeTablesFile("results", specs, console.error);
 * ```
 */
export async function mergeTablesFile(
  resultsDir: string,
  tables: readonly TableSpec[],
  log: (message: string) => void,
): Promise<void> {
  const path = join(resultsDir, TABLES_FILE);
  let old = "";
  let merged: TableSpec[] = [];
  try {
    old = await Deno.readTextFile(path);
    const parsed = JSON.parse(old);
    if (Array.isArray(parsed)) merged = parsed as TableSpec[];
  } catch { /* absent or unreadable: rewrite */ }
  const names = new Set(tables.map((t) => t.name));
  merged = [...merged.filter((t) => !names.has(t.name)), ...tables].sort((x, y) =>
    x.name.localeCompare(y.name)
  );
  const text = JSON.stringify(merged, null, 1) + "\n";
  if (text === old) return;
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    log(
      `results db: could not write ${path} (${
        (e as Error).message
      }); readers during a run infer column types`,
    );
  }
}

/**
 * The declared stage result tables from a results directory's {@link TABLES_FILE} (none when absent or
 * unreadable).
 *
 * @example
 * ```ts
 * const declared = await readTablesFile("results");
 * ```
 */
export async function readTablesFile(resultsDir: string): Promise<TableSpec[]> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(join(resultsDir, TABLES_FILE)));
    return Array.isArray(parsed) ? parsed as TableSpec[] : [];
  } catch {
    return [];
  }
}

/**
 * A column of a user table as listed by {@link listSchema}.
 *
 * @example
 * ```ts
 * const c: SchemaColumn = { table: "t", column: "x", type: "DOUBLE", description: null, tableDescription: null };
 * ```
 */
export interface SchemaColumn {
  table: string;
  column: string;
  type: string;
  /** The column's comment (`COMMENT ON COLUMN`), or null. */
  description: string | null;
  /** The table's comment (`COMMENT ON TABLE`), or null. */
  tableDescription: string | null;
}

/**
 * Lists the columns of the database's tables (main schema; no system or temp tables), in order, with
 * their comments.
 *
 * @example
 * ```ts
 * (await listSchema(conn)).filter((c) => c.table === "stage_runs");
 * ```
 */
export async function listSchema(conn: DuckDBConnection): Promise<SchemaColumn[]> {
  const r = await conn.runAndReadAll(
    "SELECT c.table_name, c.column_name, c.data_type, c.comment, t.comment FROM duckdb_columns() c " +
      "JOIN duckdb_tables() t ON t.database_name = c.database_name AND t.schema_name = c.schema_name " +
      "AND t.table_name = c.table_name WHERE c.schema_name = 'main' " +
      "AND c.database_name = current_database() ORDER BY c.table_name, c.column_index",
  );
  const text = (v: unknown) => (v === null || v === undefined || v === "" ? null : String(v));
  return r.getRowsJS().map((row) => ({
    table: String(row[0]),
    column: String(row[1]),
    type: String(row[2]),
    description: text(row[3]),
    tableDescription: text(row[4]),
  }));
}
