/**
 * A small DuckDB query helper for databases the report opens itself (the in-memory one of the stage):
 * runs SQL and converts values to plain JS like `ResultsStore.query` does.
 *
 * @module
 */
import { type DuckDBConnection, DuckDBTypeId } from "@duckdb/node-api";
import type { QueryResult } from "../pipeline/duck_values.ts";

/** Converts a DuckDB JS value to a plain JSON-like value (BIGINT to number when safe, dates to ISO text). */
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
  if (Array.isArray(v)) return v.map((x) => plainValue(x));
  if (v instanceof Uint8Array) return Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("");
  if (typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, plainValue(x)]),
    );
  }
  return v;
}

/** Runs one statement on a connection and returns a {@link QueryResult}. */
export async function runQuery(conn: DuckDBConnection, sql: string): Promise<QueryResult> {
  const reader = await conn.runAndReadAll(sql);
  const types = reader.columnTypes();
  const columns = reader.columnNames().map((name, i) => ({
    name,
    type: types[i].alias ?? types[i].toString(),
  }));
  const rows = reader.getRowsJS().map((row) => row.map((v, i) => plainValue(v, types[i].typeId)));
  return { columns, rows };
}
