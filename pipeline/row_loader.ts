/**
 * The one way rows reach DuckDB: result rows (JS objects, or the NDJSON row files of stage runs) appended
 * to a table through DuckDB's appender with every value checked against its column's type
 * ({@link columnWriter}), and row files of tables with no declaration loaded with the types DuckDB infers.
 * The results store, the live snapshot and the report's in-memory database all load through it.
 *
 * @example
 * ```ts
 * import { DuckDBInstance } from "@duckdb/node-api";
 * import { appendRows, tableColumns } from "./row_loader.ts";
 * const conn = await (await DuckDBInstance.create(":memory:")).connect();
 * await conn.run("CREATE TABLE t (run_key VARCHAR, x DOUBLE)");
 * await appendRows(conn, "t", (await tableColumns(conn, "t"))!, [{ x: 1.5 }], "abc");
 * ```
 *
 * @module
 */

import type { DuckDBConnection } from "@duckdb/node-api";
import { columnWriter } from "./column_writer.ts";
import { quoteIdent, sqlString } from "./duck_values.ts";
import { ndjsonChunks } from "./ndjson.ts";

/**
 * A column of a table: name and DuckDB type.
 *
 * @example
 * ```ts
 * const c: ColumnInfo = { name: "loss", type: "DOUBLE" };
 * ```
 */
export interface ColumnInfo {
  /** Column name. */
  name: string;
  /** DuckDB type (canonical name when read from the database). */
  type: string;
}

/**
 * Columns of a main-schema table of the connection's database, in order, or null when it does not exist.
 *
 * @example
 * ```ts
 * await tableColumns(conn, "stage_runs"); // [{ name: "stage", type: "VARCHAR" }, ...]
 * ```
 */
export async function tableColumns(conn: DuckDBConnection, table: string): Promise<ColumnInfo[] | null> {
  const r = await conn.runAndReadAll(
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' " +
      "AND table_catalog = current_database() AND table_name = $1 ORDER BY ordinal_position",
    [table],
  );
  const rows = r.getRowsJS();
  return rows.length ? rows.map((row) => ({ name: String(row[0]), type: String(row[1]) })) : null;
}

/**
 * The `CREATE TABLE` statement of a stage result table: `run_key VARCHAR` first, then `columns`.
 *
 * @example
 * ```ts
 * resultTableDdl("t", [{ name: "x", type: "DOUBLE" }]); // 'CREATE TABLE "t" ("run_key" VARCHAR, "x" DOUBLE)'
 * ```
 */
export function resultTableDdl(table: string, columns: readonly ColumnInfo[]): string {
  const cols = [{ name: "run_key", type: "VARCHAR" }, ...columns];
  return `CREATE TABLE ${quoteIdent(table)} (${
    cols.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(", ")
  })`;
}

/**
 * Appends rows to `table` (whose columns are `cols`, as {@link tableColumns} reads them) with DuckDB's
 * appender; with a `key`, the table's first column must be `run_key` and every row gets it. Missing columns
 * become NULL; an unknown column or a value of the wrong type throws with the table, column and row named,
 * before anything is flushed. The caller holds the transaction that makes a failure leave no rows.
 *
 * @example
 * ```ts
 * await appendRows(conn, "bench", cols, [{ name: "x", seconds: 1 }]);
 * ```
 */
export async function appendRows(
  conn: DuckDBConnection,
  table: string,
  cols: readonly ColumnInfo[],
  rows: readonly Record<string, unknown>[],
  key?: string,
): Promise<void> {
  if (rows.length === 0) return;
  const withKey = key !== undefined;
  if (withKey && cols[0]?.name !== "run_key") {
    throw new Error(`appendRows: table ${table} has no run_key column: it is not a stage result table`);
  }
  const index = new Map(cols.map((c, i) => [c.name, i]));
  const writers = cols.map((c) => columnWriter(c.type));
  // Validate column names before touching the appender.
  for (let r = 0; r < rows.length; r++) {
    for (const k of Object.keys(rows[r])) {
      if (!index.has(k)) {
        throw new Error(
          `appendRows: table ${table} has no column "${k}" (row ${r}); its columns are: ` +
            cols.map((c) => c.name).join(", "),
        );
      }
    }
  }
  const appender = await conn.createAppender(table);
  const values: unknown[] = new Array(cols.length);
  try {
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      values.fill(null);
      for (const k in row) values[index.get(k)!] = row[k];
      if (withKey) values[0] = key;
      for (let i = 0; i < cols.length; i++) {
        const v = values[i];
        if (v === null || v === undefined) {
          appender.appendNull();
          continue;
        }
        try {
          writers[i](appender, v);
        } catch (e) {
          throw new Error(
            `appendRows: table ${table}, column ${cols[i].name} (${cols[i].type}), row ${r}: ${
              (e as Error).message
            }`,
          );
        }
      }
      appender.endRow();
    }
    appender.closeSync();
  } catch (e) {
    try {
      appender.clear();
      appender.closeSync();
    } catch { /* the caller's transaction is rolled back anyway */ }
    throw e;
  }
}

/**
 * Appends the rows of an NDJSON row file to `table` with `run_key = key`, in chunks ({@link ndjsonChunks}),
 * by {@link appendRows}. Throws `Deno.errors.NotFound` when the file does not exist.
 *
 * @example
 * ```ts
 * await appendRowFile(conn, "eval_summary", cols, "artifacts/eval/abc/rows/eval_summary.ndjson", "abc");
 * ```
 */
export async function appendRowFile(
  conn: DuckDBConnection,
  table: string,
  cols: readonly ColumnInfo[],
  file: string,
  key: string,
): Promise<void> {
  for await (const rows of ndjsonChunks(file)) await appendRows(conn, table, cols, rows, key);
}

/**
 * Creates (or replaces) `table` from NDJSON row files of a table that has no declaration, with the column
 * types DuckDB infers over all of them (`read_json_auto`, `union_by_name`); `run_key` first, taken from
 * each file's key. Empty files are skipped; nothing is created when all are empty.
 *
 * @example
 * ```ts
 * await loadInferredRowFiles(conn, "extra", [{ path: "a/rows/extra.ndjson", key: "abc" }]);
 * ```
 */
export async function loadInferredRowFiles(
  conn: DuckDBConnection,
  table: string,
  files: readonly { path: string; key: string }[],
): Promise<void> {
  const nonEmpty: { path: string; key: string }[] = [];
  for (const f of files) if ((await Deno.stat(f.path)).size > 0) nonEmpty.push(f);
  if (nonEmpty.length === 0) return;
  const list = nonEmpty.map((f) => sqlString(f.path)).join(", ");
  const keyOf = `CASE filename ${
    nonEmpty.map((f) => `WHEN ${sqlString(f.path)} THEN ${sqlString(f.key)}`).join(" ")
  } END`;
  await conn.run(
    `CREATE OR REPLACE TABLE ${quoteIdent(table)} AS SELECT ${keyOf} AS run_key, * EXCLUDE (filename) ` +
      `FROM read_json_auto([${list}], format = 'newline_delimited', union_by_name = true, filename = true)`,
  );
}
