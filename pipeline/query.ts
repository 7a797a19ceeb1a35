/**
 * `deno task query "SQL"`: runs SQL against the results database, opened read-only, and prints the result
 * as an aligned table, CSV (RFC 4180) or JSON. `--schema` lists tables and columns.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolveResultsDir, ResultsStore } from "./store.ts";
import type { QueryResult } from "./store.ts";

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

Options:
  --format FMT     table (default, aligned columns), csv (RFC 4180) or json (array of objects)
  --schema         list the tables and their columns instead of running SQL
  --results DIR    results directory (default: $LOPT_RESULTS, else ./results)
  -h, --help       show this help

SQL "-" reads the statement from stdin. Examples:
  deno task query "SELECT stage, status, seconds FROM stage_runs ORDER BY started_at"
  deno task query --format csv "SELECT * FROM bench" > bench.csv
  deno task query --schema
`;

const MAX_CELL = 80;

function cellText(v: unknown, forTable: boolean): string {
  if (v === null || v === undefined) return forTable ? "NULL" : "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  if (!forTable) return s;
  const one = s.replace(/\r?\n/g, "\\n").replace(/\t/g, " ");
  return one.length > MAX_CELL ? one.slice(0, MAX_CELL - 1) + "…" : one;
}

/** Formats a result as an aligned text table (numbers right-aligned, NULL shown as `NULL`) with a row count. */
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

/** Formats a result as RFC 4180 CSV: a header row, CRLF line ends, fields quoted when needed; NULL is empty. */
export function formatCsv(result: QueryResult): string {
  const lines = [result.columns.map((c) => csvField(c.name))];
  for (const r of result.rows) lines.push(r.map((v) => csvField(cellText(v, false))));
  return lines.map((l) => l.join(",")).join("\r\n") + "\r\n";
}

/** Formats a result as a JSON array of objects keyed by column name (duplicate names get `_2`, `_3`…). */
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

/** Formats a result in the given format. */
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
 * Runs the query CLI with the given arguments (without the program name) and returns the exit code:
 * 0 success, 1 query or database error, 2 usage error. Never throws for user errors.
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
  if (!values.schema && sql === "") {
    await io.err(
      `error: give a SQL statement, e.g. deno task query "SELECT * FROM stage_runs", or --schema\n`,
    );
    return 2;
  }
  if (values.schema && sql !== "") {
    await io.err("error: --schema takes no SQL\n");
    return 2;
  }
  if (sql === "-") sql = (await readStdin()).trim();

  let store: ResultsStore;
  const resultsDir = resolveResultsDir(values.results);
  try {
    store = await ResultsStore.open(resultsDir, { readOnly: true, log: () => {} });
  } catch (e) {
    if (!/in use by another process/.test((e as Error).message)) {
      await io.err(`error: ${(e as Error).message}\n`);
      return 1;
    }
    try {
      store = await ResultsStore.openArtifactSnapshot(resultsDir);
    } catch (e2) {
      await io.err(
        `error: ${(e as Error).message}\n(no artifact row files to fall back on: ${(e2 as Error).message})\n`,
      );
      return 1;
    }
    await io.err(
      "note: the results database is held by a running pipeline; answering from the stages' row files " +
        "(artifacts/*/*/rows, including stages still running). Only stage result tables are available.\n",
    );
  }
  try {
    if (store.schemaVersion > 0 && store.schemaVersion < store.latestSchemaVersion) {
      await io.err(
        `note: the results database is at schema version ${store.schemaVersion}, this code expects ` +
          `${store.latestSchemaVersion}; run \`deno task pipeline\` to upgrade it\n`,
      );
    }
    let result: QueryResult;
    if (values.schema) {
      const cols = await store.schema();
      result = {
        columns: [{ name: "table", type: "VARCHAR" }, { name: "column", type: "VARCHAR" }, {
          name: "type",
          type: "VARCHAR",
        }],
        rows: cols.map((c) => [c.table, c.column, c.type]),
      };
    } else {
      try {
        result = await store.query(sql);
      } catch (e) {
        const msg = (e as Error).message;
        if (/read-only mode/i.test(msg)) {
          await io.err(
            "error: `deno task query` opens the results database read-only: write statements are not " +
              `allowed (the pipeline owns writes).\nDuckDB: ${msg}\n`,
          );
        } else {
          await io.err(`error: ${msg}\n`);
        }
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
    await store.close();
  }
}

if (import.meta.main) {
  Deno.exit(await runQueryCli(Deno.args));
}
