/**
 * Column writers: how one JS value of a row is appended to a DuckDB column of a given type, with a clear
 * error for a value of the wrong kind. JSON columns take any value (stored as `JSON.stringify(value)`);
 * timestamp columns take a Date, an ISO string or epoch milliseconds.
 *
 * @example
 * ```ts
 * import { columnWriter } from "./column_writer.ts";
 * const write = columnWriter("DOUBLE");
 * // write(appender, 1.5) appends 1.5; write(appender, "x") throws "expected a number, got "x" (string)"
 * ```
 *
 * @module
 */

import type { DuckDBAppender } from "@duckdb/node-api";

/**
 * Appends one JS value (not null) to the appender's current column.
 *
 * @example
 * ```ts
 * const w: ColumnWriter = (a, v) => a.appendVarchar(String(v));
 * ```
 */
export type ColumnWriter = (a: DuckDBAppender, v: unknown) => void;

function describeValue(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return `${s.length > 40 ? s.slice(0, 40) + "…" : s} (${typeof v})`;
}

function asTimestampText(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "number") return new Date(v).toISOString();
  if (typeof v === "string") return v;
  throw new Error(`expected a Date, ISO string or epoch ms, got ${describeValue(v)}`);
}

function asNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw new Error(`expected a number, got ${describeValue(v)}`);
}

function asInteger(v: unknown): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  if (typeof v === "boolean") return v ? 1n : 0n;
  throw new Error(`expected an integer, got ${describeValue(v)}`);
}

/**
 * The writer for a column of DuckDB type `type` (canonical name, e.g. `DOUBLE`, `VARCHAR`, `JSON`); types
 * without a writer of their own are appended as text for DuckDB to cast.
 *
 * @example
 * ```ts
 * columnWriter("INTEGER")(appender, 3);
 * ```
 */
export function columnWriter(type: string): ColumnWriter {
  switch (type.toUpperCase()) {
    case "DOUBLE":
      return (a, v) => a.appendDouble(asNumber(v));
    case "FLOAT":
      return (a, v) => a.appendFloat(asNumber(v));
    case "BIGINT":
      return (a, v) => a.appendBigInt(asInteger(v));
    case "INTEGER":
      return (a, v) => {
        const n = asInteger(v);
        if (n < -2147483648n || n > 2147483647n) throw new Error(`${n} does not fit an INTEGER`);
        a.appendInteger(Number(n));
      };
    case "BOOLEAN":
      return (a, v) => {
        if (typeof v !== "boolean") throw new Error(`expected a boolean, got ${describeValue(v)}`);
        a.appendBoolean(v);
      };
    case "VARCHAR":
      return (a, v) => {
        if (typeof v === "object") throw new Error(`expected a string, got ${describeValue(v)}`);
        a.appendVarchar(String(v));
      };
    case "JSON":
      return (a, v) => a.appendVarchar(JSON.stringify(v));
    case "TIMESTAMP":
    case "TIMESTAMP WITH TIME ZONE":
    case "DATE":
      return (a, v) => a.appendVarchar(asTimestampText(v));
    default:
      // Any other type: let DuckDB cast the text form.
      return (a, v) => a.appendVarchar(typeof v === "object" ? JSON.stringify(v) : String(v));
  }
}
