/**
 * `deno task query "SQL"`: runs SQL against the results database, opened read-only, and prints the result
 * as an aligned table, CSV (RFC 4180) or JSON. `--schema` lists the tables, `--schema TABLE` one table's
 * columns with their descriptions.
 *
 * User SQL runs with DuckDB's external access off and its configuration locked ({@link SANDBOX_SQL}): it
 * can read the results database and nothing else — no file reading or writing (`read_csv`, `COPY ... TO`,
 * `ATTACH`, `PRAGMA profile_output`), no extensions (`INSTALL`, `LOAD`), no `SET` and no `PRAGMA` that
 * changes a setting (`PRAGMA enable_profiling`). While a pipeline holds the database, the query is
 * answered from a live snapshot ({@link openLiveSnapshot}) with the same limits.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LIVE_UNAVAILABLE, openLiveSnapshot } from "./live_snapshot.ts";
import { resolveResultsDir } from "./results_dir.ts";
import { ResultsStore } from "./store.ts";
import type { QueryResult } from "./duck_values.ts";
import type { SchemaColumn } from "./result_tables.ts";

/**
 * The statements run before any user SQL: no access to files, the network or extensions outside the
 * database already open, and no further configuration changes (DuckDB "Securing DuckDB": these two settings
 * cannot be undone once the configuration is locked).
 */
export const SANDBOX_SQL: string = [
  "SET autoinstall_known_extensions = false",
  "SET autoload_known_extensions = false",
  "SET enable_external_access = false",
  "SET lock_configuration = true",
].join("; ");

/** Output formats of the query CLI. */
export type QueryFormat = "table" | "csv" | "json";

/** Where the query CLI writes; tests capture it. */
export interface QueryIo {
  /** Result output. */
  out(text: string): Promise<void> | void;
  /** Diagnostics. */
  err(text: string): Promise<void> | void;
}

const HELP = `Usage: deno task query [options] "SQL"

Runs SQL on the results database (<results>/lopt.duckdb), opened READ-ONLY, and prints the result.
The SQL can read the database only: files, extensions and settings (COPY, read_csv, ATTACH, INSTALL,
SET, ...) are refused. While a pipeline holds the database, the answer comes from the artifacts' row files
and run logs (stages still running included) and a note says so.

Options:
  --format FMT     table (default: aligned columns, non-integer numbers to 6 significant digits),
                   csv (RFC 4180) or json (array of objects); csv and json keep full precision
  --schema [TABLE] list the tables with their descriptions, or TABLE's columns, types and descriptions
  --results DIR    results directory (default: $LOPT_RESULTS, else ./results)
  -h, --help       show this help

SQL "-" reads the statement from stdin. Examples:
  deno task query "SELECT stage, status, seconds FROM stage_runs ORDER BY started_at"
  deno task query --format csv "SELECT * FROM bench" > bench.csv
  deno task query --schema eval_summary
`;

const MAX_CELL = 80;

/** Significant digits of non-integer numbers in the table format. */
export const TABLE_DIGITS = 6;

/**
 * A number as the table format shows it: integers in full, others rounded to {@link TABLE_DIGITS}
 * significant digits (`344.36859300000197` → `344.369`, `1.23456789e-7` → `1.23457e-7`).
 *
 * @example
 * ```ts
 * displayNumber(344.36859300000197); // "344.369"
 * ```
 */
export function displayNumber(v: number): string {
  if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(TABLE_DIGITS)));
}

function cellText(v: unknown, forTable: boolean): string {
  if (v === null || v === undefined) return forTable ? "NULL" : "";
  if (forTable && typeof v === "number") return displayNumber(v);
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  if (!forTable) return s;
  const one = s.replace(/\r?\n/g, "\\n").replace(/\t/g, " ");
  return one.length > MAX_CELL ? one.slice(0, MAX_CELL - 1) + "…" : one;
}

/**
 * Formats a result as an aligned text table (numbers right-aligned and rounded by {@link displayNumber},
 * NULL shown as `NULL`, long cells cut at 80 characters) with a row count.
 *
 * @example
 * ```ts
 * const result: QueryResult = { columns: [{ name: "stage", type: "VARCHAR" }], rows: [["meta-train"]] };
 * console.log(formatTable(result)); // aligned columns, then "(1 row)"
 * ```
 */
export function formatTable(result: QueryResult): string {
  const { columns, rows } = result;
  if (columns.length === 0) return "(no result)\n";
  const header = columns.map((c) => c.name);
  const cells = rows.map((r) => r.map((v) => cellText(v, true)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const right = columns.map((_, i) =>
    rows.length > 0 && rows.every((r) => r[i] === null || typeof r[i] === "number")
  );
  const line = (vals: string[]) =>
    vals.map((v, i) => (right[i] ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join("  ").trimEnd();
  const out = [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)];
  out.push(`(${rows.length} row${rows.length === 1 ? "" : "s"})`);
  return out.join("\n") + "\n";
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Formats a result as RFC 4180 CSV: a header row, CRLF line ends, fields quoted when needed; NULL is empty.
 *
 * @example
 * ```ts
 * formatCsv({ columns: [{ name: "n", type: "BIGINT" }], rows: [[1]] }); // "n\r\n1\r\n"
 * ```
 */
export function formatCsv(result: QueryResult): string {
  const lines = [result.columns.map((c) => csvField(c.name))];
  for (const r of result.rows) lines.push(r.map((v) => csvField(cellText(v, false))));
  return lines.map((l) => l.join(",")).join("\r\n") + "\r\n";
}

/**
 * Formats a result as a JSON array of objects keyed by column name (duplicate names get `_2`, `_3`…).
 *
 * @example
 * ```ts
 * formatJson({ columns: [{ name: "n", type: "BIGINT" }], rows: [[1]] }); // the array [{ "n": 1 }], indented
 * ```
 */
export function formatJson(result: QueryResult): string {
  const seen = new Map<string, number>();
  const keys = result.columns.map((c) => {
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    return n === 1 ? c.name : `${c.name}_${n}`;
  });
  const objs = result.rows.map((r) => Object.fromEntries(keys.map((k, i) => [k, r[i] ?? null])));
  return JSON.stringify(objs, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v), 2) +
    "\n";
}

/**
 * Formats a result in the given format.
 *
 * @example
 * ```ts
 * const text = formatResult(await store.query("SELECT * FROM stage_runs"), "csv");
 * ```
 */
export function formatResult(result: QueryResult, format: QueryFormat): string {
  return format === "csv" ? formatCsv(result) : format === "json" ? formatJson(result) : formatTable(result);
}

const encoder = new TextEncoder();

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, text: string): Promise<void> {
  let buf = encoder.encode(text);
  while (buf.length > 0) buf = buf.subarray(await w.write(buf));
}

const stdio: QueryIo = {
  out: (t) => writeAll(Deno.stdout, t),
  err: (t) => writeAll(Deno.stderr, t),
};

async function readStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

/**
 * True when the text holds no statement (only whitespace, semicolons and comments).
 *
 * @example
 * ```ts
 * isEmptySql("-- nothing here\n;"); // true
 * ```
 */
export function isEmptySql(sql: string): boolean {
  return sql.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, "").replace(/[\s;]+/g, "") === "";
}

/** A DuckDB error message on one line (without the `LINE n:` excerpt and its caret). */
function oneLine(msg: string): string {
  const lines = msg.split("\n").map((l) => l.trim());
  const cut = lines.findIndex((l) => /^LINE \d+:/.test(l));
  return (cut < 0 ? lines : lines.slice(0, cut)).filter((l) => l !== "").join(" ");
}

/** The start of the error for SQL that reaches beyond the database. */
const REFUSED = "error: `deno task query` can read only the results database: files, extensions and " +
  "settings (COPY, read_csv, ATTACH, INSTALL/LOAD, SET, PRAGMA ...) are refused";

/** The one-line error for a failed user query. */
function queryError(msg: string, live: { tables: string[] } | null): string {
  const line = oneLine(msg);
  if (/read-only mode/i.test(msg)) {
    return "error: `deno task query` opens the results database read-only: write statements are not " +
      `allowed (the pipeline owns writes). DuckDB: ${line}`;
  }
  if (/disabled (by|through) configuration|configuration has been locked|external access/i.test(msg)) {
    return `${REFUSED}. DuckDB: ${line}`;
  }
  const missing = /Table with name (\S+) does not exist/.exec(msg);
  if (live && missing) {
    const why = LIVE_UNAVAILABLE.includes(missing[1])
      ? `${missing[1]} cannot be rebuilt from files`
      : `no artifact has written ${missing[1]} yet`;
    return `error: table ${missing[1]} is not available while a pipeline holds the database (${why}); ` +
      `available now: ${live.tables.join(", ")}`;
  }
  return `error: ${line}`;
}

function schemaResult(cols: SchemaColumn[], table: string | undefined): QueryResult | string {
  const text = (name: string) => ({ name, type: "VARCHAR" });
  if (table === undefined) {
    const tables = new Map<string, { n: number; description: string | null }>();
    for (const c of cols) {
      const t = tables.get(c.table) ?? { n: 0, description: c.tableDescription };
      t.n++;
      tables.set(c.table, t);
    }
    return {
      columns: [text("table"), { name: "columns", type: "INTEGER" }, text("description")],
      rows: [...tables].map(([name, t]) => [name, t.n, t.description]),
    };
  }
  const mine = cols.filter((c) => c.table === table);
  if (mine.length === 0) {
    const names = [...new Set(cols.map((c) => c.table))];
    return `error: no table ${table}; tables: ${names.join(", ")}`;
  }
  return {
    columns: [text("column"), text("type"), text("description")],
    rows: mine.map((c) => [c.column, c.type, c.description]),
  };
}

/**
 * Runs the query CLI with the given arguments (without the program name) and returns the exit code:
 * 0 success, 1 query or database error, 2 usage error. Never throws for user errors.
 *
 * @example
 * ```ts
 * const code = await runQueryCli(["--format", "csv", "SELECT stage, status FROM stage_runs"]);
 * ```
 */
export async function runQueryCli(argv: string[], io: QueryIo = stdio): Promise<number> {
  let values: { format?: string; schema?: boolean; results?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        format: { type: "string" },
        schema: { type: "boolean" },
        results: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    await io.err(`error: ${(e as Error).message}\nRun with --help for usage.\n`);
    return 2;
  }
  if (values.help) {
    await io.out(HELP);
    return 0;
  }
  const format = (values.format ?? "table") as QueryFormat;
  if (!["table", "csv", "json"].includes(format)) {
    await io.err(`error: --format must be table, csv or json (got "${values.format}")\n`);
    return 2;
  }
  let sql = positionals.join(" ").trim();
  let schemaTable: string | undefined;
  if (values.schema) {
    if (positionals.length > 1) {
      await io.err("error: --schema takes at most one table name, e.g. --schema eval_summary\n");
      return 2;
    }
    schemaTable = positionals[0];
  } else {
    if (sql === "") {
      await io.err(
        `error: give a SQL statement, e.g. deno task query "SELECT * FROM stage_runs", or --schema\n`,
      );
      return 2;
    }
    if (sql === "-") sql = (await readStdin()).trim();
    if (isEmptySql(sql)) {
      await io.err(
        `error: the SQL statement is empty${positionals[0] === "-" ? " (nothing on stdin)" : ""}; ` +
          `give one, e.g. deno task query "SELECT * FROM stage_runs"\n`,
      );
      return 2;
    }
  }

  let store: ResultsStore;
  let live: { tables: string[]; close(): Promise<void> } | null = null;
  const resultsDir = resolveResultsDir(values.results);
  try {
    store = await ResultsStore.open(resultsDir, { readOnly: true, log: () => {} });
  } catch (e) {
    if (!/in use by another process/.test((e as Error).message)) {
      await io.err(`error: ${oneLine((e as Error).message)}\n`);
      return 1;
    }
    try {
      const snap = await openLiveSnapshot(resultsDir);
      store = snap.store;
      live = snap;
    } catch (e2) {
      await io.err(
        `error: ${oneLine((e as Error).message)} (and no artifact files to answer from: ` +
          `${oneLine((e2 as Error).message)})\n`,
      );
      return 1;
    }
    await io.err(
      "note: the results database is held by a running pipeline; answering from the artifacts' row files and " +
        "run logs (stages still running included; stage_runs.git_commit unknown; " +
        `${LIVE_UNAVAILABLE.join(", ")} not available).\n`,
    );
  }
  try {
    if (store.schemaVersion > 0 && store.schemaVersion < store.latestSchemaVersion) {
      await io.err(
        `note: the results database is at schema version ${store.schemaVersion}, this code expects ` +
          `${store.latestSchemaVersion}; run \`deno task pipeline\` to upgrade it\n`,
      );
    }
    await store.query(SANDBOX_SQL);
    let result: QueryResult;
    if (values.schema) {
      const r = schemaResult(await store.schema(), schemaTable);
      if (typeof r === "string") {
        await io.err(r + "\n");
        return 1;
      }
      result = r;
    } else {
      try {
        // A PRAGMA that only reads (table_info, version, ...) prepares as a SELECT; one that stays a
        // PRAGMA changes a setting, and DuckDB's configuration lock lets some through (enable_profiling).
        if ((await store.statementTypes(sql))?.includes("PRAGMA")) {
          await io.err(`${REFUSED}: a PRAGMA that changes a setting\n`);
          return 1;
        }
        result = await store.query(sql);
      } catch (e) {
        await io.err(queryError((e as Error).message, live) + "\n");
        return 1;
      }
    }
    try {
      await io.out(formatResult(result, format));
    } catch (e) {
      if (e instanceof Deno.errors.BrokenPipe) return 0;
      throw e;
    }
    return 0;
  } finally {
    if (live) await live.close();
    else await store.close();
  }
}

if (import.meta.main) {
  Deno.exit(await runQueryCli(Deno.args));
}
