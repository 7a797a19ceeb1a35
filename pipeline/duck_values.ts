/**
 * DuckDB values as plain JS: the one conversion of query results (BIGINT to number when safe, dates to ISO
 * text, blobs to hex) used by the results store, the live snapshot and the report, and the SQL literal
 * helpers that go with it.
 *
 * @example
 * ```ts
 * import { DuckDBInstance } from "@duckdb/node-api";
 * import { runQuery } from "./duck_values.ts";
 * const conn = await (await DuckDBInstance.create(":memory:")).connect();
 * (await runQuery(conn, "SELECT 1::BIGINT AS n")).rows; // [[1]]
 * ```
 *
 * @module
 */

import { type DuckDBConnection, DuckDBTypeId, JSDuckDBValueConverter, StatementType } from "@duckdb/node-api";
import type { DuckDBResultReader, DuckDBValueConverter, JS } from "@duckdb/node-api";

/**
 * A query result converted to plain JS values.
 *
 * @example
 * ```ts
 * const r: QueryResult = { columns: [{ name: "n", type: "BIGINT" }], rows: [[1]] };
 * ```
 */
export interface QueryResult {
  /** Column names and DuckDB type names (`JSON` for JSON columns). */
  columns: { name: string; type: string }[];
  /** Rows as arrays of plain values (numbers, strings, booleans, null, arrays, objects). */
  rows: unknown[][];
}

/**
 * Converts one DuckDB-derived JS value to a plain JSON-like value: a BIGINT to a number when it is safe
 * (else its decimal text), a date to ISO text (a DATE column to `YYYY-MM-DD`), bytes to hex; lists and
 * structs element by element.
 *
 * @example
 * ```ts
 * plainValue(5n); // 5
 * plainValue(new Date(0)); // "1970-01-01T00:00:00.000Z"
 * ```
 */
export function plainValue(v: unknown, typeId?: DuckDBTypeId): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v.toString();
  }
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return null;
    const iso = v.toISOString();
    return typeId === DuckDBTypeId.DATE ? iso.slice(0, 10) : iso;
  }
  if (v instanceof Uint8Array) return Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("");
  if (Array.isArray(v)) return v.map((x) => plainValue(x));
  if (typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = plainValue(x);
    return o;
  }
  return v;
}

/**
 * DuckDB's JS value converter, except that a value it cannot represent (an infinite or out-of-range
 * TIMESTAMP or DATE has no JS Date) becomes DuckDB's text form (`infinity`) instead of failing the result.
 */
const lenientJsConverter: DuckDBValueConverter<JS> = (value, type, converter) => {
  try {
    return JSDuckDBValueConverter(value, type, converter);
  } catch {
    return String(value);
  }
};

/**
 * Converts a read result to a {@link QueryResult} of plain values.
 *
 * @example
 * ```ts
 * const result = queryResultOf(await conn.runAndReadAll("SELECT 1 AS one"));
 * ```
 */
export function queryResultOf(reader: DuckDBResultReader): QueryResult {
  const types = reader.columnTypes();
  const names = reader.columnNames();
  const columns = names.map((name, i) => ({ name, type: types[i].alias ?? types[i].toString() }));
  const ids = types.map((t) => t.typeId);
  const rows = reader.convertRows(lenientJsConverter).map((row) => row.map((v, i) => plainValue(v, ids[i])));
  return { columns, rows };
}

/**
 * Runs SQL on a connection (several statements allowed; DuckDB returns the last one's result) and returns
 * it as a {@link QueryResult}.
 *
 * @example
 * ```ts
 * (await runQuery(conn, "SELECT 'a' AS x")).rows; // [["a"]]
 * ```
 */
export async function runQuery(conn: DuckDBConnection, sql: string): Promise<QueryResult> {
  return queryResultOf(await conn.runAndReadAll(sql));
}

/**
 * Double-quotes an SQL identifier.
 *
 * @example
 * ```ts
 * quoteIdent('a"b'); // "\"a\"\"b\""
 * ```
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Single-quotes an SQL string literal.
 *
 * @example
 * ```ts
 * sqlString("it's"); // "'it''s'"
 * ```
 */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Formats a JS date as a DuckDB TIMESTAMP literal (UTC, no zone suffix).
 *
 * @example
 * ```ts
 * sqlTimestamp(new Date(0)); // "1970-01-01 00:00:00.000"
 * ```
 */
export function sqlTimestamp(d: Date): string {
  return d.toISOString().replace("T", " ").replace("Z", "");
}

/**
 * The DuckDB statement types of the statements in `sql`, in order (`SELECT`, `PRAGMA`, `SET`, ...), found
 * by preparing each without running it; null when DuckDB cannot prepare one. A `PRAGMA` that reads
 * (`PRAGMA table_info`, `PRAGMA version`) is prepared as a `SELECT`; those that change settings
 * (`PRAGMA enable_profiling`) keep the type `PRAGMA`.
 *
 * @example
 * ```ts
 * await statementTypes(conn, "SELECT 1; PRAGMA enable_profiling"); // ["SELECT", "PRAGMA"]
 * ```
 */
export async function statementTypes(conn: DuckDBConnection, sql: string): Promise<string[] | null> {
  try {
    const extracted = await conn.extractStatements(sql);
    const out: string[] = [];
    for (let i = 0; i < extracted.count; i++) {
      out.push(StatementType[(await extracted.prepare(i)).statementType]);
    }
    return out;
  } catch {
    return null;
  }
}
